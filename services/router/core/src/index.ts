export { decodeShardMap, encodeShardMap, initialShardMap, shardForSlot, shardIdsOf, ShardMapError, type ShardMap } from "./shard-map.ts";
export { parseSlotHeader, type SlotTarget } from "./slot-header.ts";
export { mergeFanOut } from "./fan-out.ts";
export { LeaderLiveness, type LeaderLivenessOptions } from "./leader-liveness.ts";
