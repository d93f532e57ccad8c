/**
 * The shard map: which shard owns each slot. Explicit and versioned (ARCHITECTURE §3): the initial
 * assignment is the rendezvous winner per slot, later moves override single slots and bump the
 * version. Stored as JSON in the cluster bucket under `shardMapKey`.
 */
import { assert, limits } from "@antler/base";
import type { Placement } from "@antler/slots";

export interface ShardMap {
  /** Increases with every change; requests carry the version they were routed with. */
  readonly version: number;
  /** Number of shards; shard ids are 0..shardCount-1. */
  readonly shardCount: number;
  /** slots[slot] = the owning shard id; exactly limits.slotCount entries. */
  readonly slots: readonly number[];
}

export class ShardMapError extends Error {
  override name = "ShardMapError";
}

/** Version 1 of the map for `shardCount` shards: each slot goes to its rendezvous winner. */
export function initialShardMap(placement: Pick<Placement, "rendezvousShard">, shardCount: number): ShardMap {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > limits.shardCountMax) {
    throw new ShardMapError(`shard count must be 1..${limits.shardCountMax}, got ${shardCount}`);
  }
  const shardIds = Array.from({ length: shardCount }, (_, i) => i);
  const slots = Array.from({ length: limits.slotCount }, (_, slot) => placement.rendezvousShard(slot, shardIds));
  return { version: 1, shardCount, slots };
}

export function shardForSlot(map: ShardMap, slot: number): number {
  assert(Number.isInteger(slot) && slot >= 0 && slot < limits.slotCount, `slot ${slot} out of range`);
  return map.slots[slot]!;
}

/** Every shard id of the map, ascending. */
export function shardIdsOf(map: ShardMap): number[] {
  return Array.from({ length: map.shardCount }, (_, i) => i);
}

export function encodeShardMap(map: ShardMap): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ version: map.version, shardCount: map.shardCount, slots: map.slots }));
}

/** Parses and validates a stored map; anything malformed is a ShardMapError. */
export function decodeShardMap(bytes: Uint8Array): ShardMap {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ShardMapError("shard map is not JSON", { cause: err });
  }
  if (value === null || typeof value !== "object") throw new ShardMapError("shard map is not an object");
  const { version, shardCount, slots } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(version) || (version as number) < 1) throw new ShardMapError("invalid shard map version");
  if (!Number.isInteger(shardCount) || (shardCount as number) < 1 || (shardCount as number) > limits.shardCountMax) {
    throw new ShardMapError("invalid shard count");
  }
  if (!Array.isArray(slots) || slots.length !== limits.slotCount) throw new ShardMapError(`shard map must have ${limits.slotCount} slots`);
  for (const shard of slots) {
    if (!Number.isInteger(shard) || shard < 0 || shard >= (shardCount as number)) throw new ShardMapError(`slot owner ${String(shard)} out of range`);
  }
  return { version: version as number, shardCount: shardCount as number, slots: slots as number[] };
}
