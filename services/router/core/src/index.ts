export { decodeShardMap, encodeShardMap, initialShardMap, shardForSlot, shardIdsOf, ShardMapError, type ShardMap } from "./shard-map.ts";
export { parseSlotHeader, type SlotTarget } from "./slot-header.ts";
export { mergeFanOut } from "./fan-out.ts";
export { LeaderLiveness, type LeaderLivenessOptions } from "./leader-liveness.ts";
export { Coordinator, type CoordinatorOptions } from "./txn/coordinator.ts";
export { ShardUnavailableError, type CoordinatorEvent, type CoordinatorPorts } from "./txn/ports.ts";
export { decodeDecision, DecisionRecordError, encodeDecision } from "./txn/decision-codec.ts";
