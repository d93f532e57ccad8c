/**
 * @antler/shard-core: the pure metadata state machine of one shard (ARCHITECTURE §4). It answers
 * every Command of @antler/ops as mfsmaster 3.0.117 would, turns each change into a versioned log
 * entry (applied by the same code live and on replay), and exports/imports whole snapshots.
 */
export type {
  ChunkCommand,
  ChunkCommandOutcome,
  ChunkWork,
  ChunkserverView,
  Execution,
  LogEntry,
  MetadataStateMachine,
  PreparedTransaction,
  RemoteAttrs,
} from "./api.ts";
export { createStateMachine, type StateMachineOptions } from "./machine.ts";
export { LogDecodeError, ReplayMismatchError } from "./errors.ts";
export { Election, type ElectionAction, type ElectionOptions, type ElectionRole } from "./lease/election.ts";
export { isEarlierIncarnation, leaseHolderId, leaseHolderReplica, leaseReplicaName } from "./lease/holder.ts";
export { snapshotFormatVersion } from "./snapshot.ts";
export type { Stamp } from "./hlc.ts";
export type { Caller, Disposal, LogEntryV1, Op, OpKind } from "./log-entry.ts";
