/**
 * What the shard server needs from the state machine: the parts of shard-core's
 * MetadataStateMachine (api.ts) used on the request path and in replay, generic over the entry
 * type so tests can drive the server with a small fake.
 */
import type { Command, Ctx, Result } from "@antler/ops";

export interface ShardStateMachine<E> {
  execute(cmd: Command, ctx: Ctx, nowMs: number): { readonly result: Result; readonly entry: E | null };
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
