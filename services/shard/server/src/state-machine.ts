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
