/**
 * The initial shard map (rendezvous hashing with the real BLAKE3 placement, and with a fake hash
 * to pin the argmax rule), lookups, and strict decoding of stored maps.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { createPlacement } from "@antler/slots";
import { decodeShardMap, encodeShardMap, initialShardMap, shardForSlot, shardIdsOf, ShardMapError } from "./shard-map.ts";

test("the initial map gives every slot to a shard, spread roughly evenly", async () => {
  const placement = await createPlacement();
  const map = initialShardMap(placement, 4);
  assert.equal(map.version, 1);
  assert.equal(map.slots.length, limits.slotCount);
  const counts = [0, 0, 0, 0];
  for (let slot = 0; slot < limits.slotCount; slot++) counts[shardForSlot(map, slot)]!++;
  for (const count of counts) assert.ok(count > 400 && count < 640, `uneven spread: ${counts.join(",")}`);
  // Deterministic: the same inputs give the same map.
  assert.deepEqual(initialShardMap(placement, 4), map);
  assert.deepEqual(shardIdsOf(map), [0, 1, 2, 3]);
});

test("adding a shard moves only slots to the new shard (rendezvous property)", async () => {
  const placement = await createPlacement();
  const before = initialShardMap(placement, 3);
  const after = initialShardMap(placement, 4);
  let moved = 0;
  for (let slot = 0; slot < limits.slotCount; slot++) {
    if (before.slots[slot] !== after.slots[slot]) {
      assert.equal(after.slots[slot], 3, `slot ${slot} moved between old shards`);
      moved++;
    }
  }
  assert.ok(moved > limits.slotCount * 0.15 && moved < limits.slotCount * 0.35, `moved ${moved}`);
});

test("the owner is the argmax of the hash the placement computes", () => {
  // A fake placement: shard (slot % 3) wins; checks the map uses exactly its decision.
  const fake = { rendezvousShard: (slot: number, shards: readonly number[]) => shards[slot % shards.length]! };
  const map = initialShardMap(fake, 3);
  assert.equal(shardForSlot(map, 0), 0);
  assert.equal(shardForSlot(map, 4), 1);
  assert.equal(shardForSlot(map, 2047), 2047 % 3);
  assert.throws(() => shardForSlot(map, limits.slotCount));
  assert.throws(() => initialShardMap(fake, 0), ShardMapError);
  assert.throws(() => initialShardMap(fake, 1.5), ShardMapError);
});

test("maps round-trip through their encoding; malformed ones are refused", () => {
  const fake = { rendezvousShard: (slot: number, shards: readonly number[]) => shards[slot % shards.length]! };
  const map = initialShardMap(fake, 2);
  assert.deepEqual(decodeShardMap(encodeShardMap(map)), map);
  const bad = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const cases: Uint8Array[] = [
    new Uint8Array([0xff]),
    bad(null),
    bad({ ...map, version: 0 }),
    bad({ ...map, shardCount: 0 }),
    bad({ ...map, slots: map.slots.slice(1) }),
    bad({ ...map, slots: map.slots.map((s, i) => (i === 5 ? 2 : s)) }),
    bad({ ...map, slots: map.slots.map((s, i) => (i === 5 ? "1" : s)) }),
  ];
  for (const bytes of cases) assert.throws(() => decodeShardMap(bytes), ShardMapError);
});
