export { decodeShardMap, encodeShardMap, initialShardMap, shardForSlot, shardIdsOf, ShardMapError, type ShardMap } from "./shard-map.ts";
export { parseSlotHeader, type SlotTarget } from "./slot-header.ts";
export { mergeFanOut } from "./fan-out.ts";
export { LeaderLiveness, type LeaderLivenessOptions } from "./leader-liveness.ts";
export { Coordinator, type CoordinatorOptions } from "./txn/coordinator.ts";
export { ShardUnavailableError, type CoordinatorEvent, type CoordinatorPorts, type MoveLockRecord } from "./txn/ports.ts";
export { decodeMoveLock, encodeMoveLock, moveLockKey, MoveLockRecordError } from "./txn/move-lock.ts";
export { decodeDecision, DecisionRecordError, encodeDecision } from "./txn/decision-codec.ts";
