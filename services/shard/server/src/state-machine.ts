/**
 * What the shard server needs from the state machine: the parts of shard-core's
 * MetadataStateMachine (api.ts) used on the request path and in replay, generic over the entry
 * type so tests can drive the server with a small fake.
 */
import type { Command, Ctx, Result } from "@antler/ops";
import type { ChunkCommandOutcome, ChunkserverView, ChunkWork } from "@antler/shard-core";

/** One execution's outcome (shard-core's Execution, over any entry type). */
export interface ShardExecution<E> {
  readonly result: Result;
  readonly entry: E | null;
  /** Chunkserver commands to carry out once `entry` is durable (see shard-core api.ts). */
  readonly chunkWork?: ChunkWork;
}

export interface ShardStateMachine<E> {
  execute(cmd: Command, ctx: Ctx, nowMs: number): ShardExecution<E>;
  apply(entry: E): void;
  maintain(nowMs: number): E | null;
  encodeEntry(entry: E): Uint8Array;
  decodeEntry(bytes: Uint8Array): E;
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
