/**
 * What the shard server needs from the state machine: the parts of shard-core's
 * MetadataStateMachine (api.ts) used on the request path and in replay, generic over the entry
 * type so tests can drive the server with a small fake.
 */
import type { Command, Ctx, Result } from "@antler/ops";
import type { ChunkCommandOutcome, ChunkserverView, ChunkWork, RemoteAttrs } from "@antler/shard-core";

/** One execution's outcome (shard-core's Execution, over any entry type). */
export interface ShardExecution<E> {
  readonly result: Result;
  readonly entry: E | null;
  /** Chunkserver commands to carry out once `entry` is durable (see shard-core api.ts). */
  readonly chunkWork?: ChunkWork;
  /** The request spans shards: pass it, unchanged, to the coordinator (shard-core api.ts). */
  readonly forward?: "coordinator";
  /** The answer needs attributes of other shards' nodes (shard-core api.ts). */
  readonly remote?: RemoteAttrs;
}

export interface ShardStateMachine<E> {
  execute(cmd: Command, ctx: Ctx, nowMs: number): ShardExecution<E>;
  apply(entry: E): void;
  maintain(nowMs: number): E | null;
  encodeEntry(entry: E): Uint8Array;
  decodeEntry(bytes: Uint8Array): E;
  /** Counts for `antler status` (shard stats); absent: reported as zeros. */
  stats?(): { readonly inodes: number; readonly dirs: number; readonly files: number };
}

/** A state machine whose whole state can be exported and imported (snapshots, ADR 0006). */
export interface SnapshottableStateMachine<E> extends ShardStateMachine<E> {
  exportState(): Uint8Array;
  /** Replaces the whole state; throws for bytes that are not a snapshot it understands. */
  importState(bytes: Uint8Array): void;
}

export function isSnapshottable<E>(sm: ShardStateMachine<E>): sm is SnapshottableStateMachine<E> {
  const candidate = sm as Partial<SnapshottableStateMachine<E>>;
  return typeof candidate.exportState === "function" && typeof candidate.importState === "function";
}

/**
 * A state machine that manages chunk copies on chunkservers (the file-data path): the leader
 * carries out its ChunkWork and reports the outcomes, and runs its housekeeping.
 */
export interface ChunkStateMachine<E> extends ShardStateMachine<E> {
  finishChunkWork(workId: number, outcomes: readonly ChunkCommandOutcome[], nowMs: number): ShardExecution<E>;
  housekeepChunks(nowMs: number): ShardExecution<E>;
  observeChunkservers(servers: readonly ChunkserverView[]): void;
}

export function managesChunks<E>(sm: ShardStateMachine<E>): sm is ChunkStateMachine<E> {
  const candidate = sm as Partial<ChunkStateMachine<E>>;
  return typeof candidate.finishChunkWork === "function" && typeof candidate.housekeepChunks === "function" && typeof candidate.observeChunkservers === "function";
}

/** A cross-shard transaction this shard prepared and has not committed or aborted yet. */
export interface PreparedTransaction {
  readonly txid: string;
  /** When it was prepared (the nowMs of its txprepare; wall clock, as every nowMs). */
  readonly preparedAtMs: number;
  /** The client request it belongs to (a retry of it is forwarded to the coordinator). */
  readonly clientRequestId: string;
}

/**
 * A state machine taking part in cross-shard transactions (@antler/ops txn.ts): the leader
 * resolves prepared transactions left without a decision (tx-resolver.ts) by executing txcommit
 * or txabort as the system.
 */
export interface TransactionalStateMachine<E> extends ShardStateMachine<E> {
  /** Every transaction prepared here and still undecided, oldest first or in any order. */
  preparedTransactions(): readonly PreparedTransaction[];
}

export function takesPartInTransactions<E>(sm: ShardStateMachine<E>): sm is TransactionalStateMachine<E> {
  return typeof (sm as Partial<TransactionalStateMachine<E>>).preparedTransactions === "function";
}
