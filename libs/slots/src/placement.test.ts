/**
 * Placement: BLAKE3 checked against the official test vectors (so slot choices are the real
 * BLAKE3, stable across versions of the package), and the spread properties the design relies on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { limits } from "@antler/base";
import { createPlacement, initialAssignment } from "./placement.ts";
import { makeChunkId, makeInode, slotOfChunkId, slotOfInode, localOfInode } from "./layout.ts";

const vectors = JSON.parse(readFileSync(new URL("../test/fixtures/blake3-vectors.json", import.meta.url), "utf8")) as {
  cases: { input_len: number; hash: string }[];
};
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

test("BLAKE3 matches every official test vector", async () => {
  const p = await createPlacement();
  assert.ok(vectors.cases.length >= 30);
  for (const c of vectors.cases) {
    const input = Uint8Array.from({ length: c.input_len }, (_, i) => i % 251);
    assert.equal(hex(p.hash(input)), c.hash, `input_len ${c.input_len}`);
  }
});

test("directory slots are deterministic, in range and spread over all slots", async () => {
  const p = await createPlacement();
  assert.equal(p.directorySlot(1, "a"), p.directorySlot(1, "a"));
  assert.notEqual(p.directorySlot(1, "a"), p.directorySlot(2, "a"));
  const counts = new Array<number>(limits.slotCount).fill(0);
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const slot = p.directorySlot(1 + (i % 97), `dir-${i}`);
    assert.ok(slot >= 0 && slot < limits.slotCount);
    counts[slot]!++;
  }
  const mean = n / limits.slotCount;
  // ~98 per slot; a uniform hash keeps every slot within a generous band around the mean.
  assert.ok(Math.min(...counts) > mean * 0.5, `min ${Math.min(...counts)}`);
  assert.ok(Math.max(...counts) < mean * 1.6, `max ${Math.max(...counts)}`);
});

test("rendezvous assignment is balanced and moves ~1/N of the slots when a shard is added", async () => {
  const p = await createPlacement();
  const four = initialAssignment(p, 4);
  const five = initialAssignment(p, 5);
  const perShard = [0, 0, 0, 0];
  for (const s of four) perShard[s]!++;
  for (const c of perShard) assert.ok(c > 400 && c < 630, `shard share ${c}`);
  let moved = 0;
  for (let slot = 0; slot < limits.slotCount; slot++) {
    if (four[slot] !== five[slot]) {
      moved++;
      assert.equal(five[slot], 4, "a slot only ever moves to the new shard");
    }
  }
  assert.ok(moved > limits.slotCount * 0.12 && moved < limits.slotCount * 0.28, `moved ${moved}`);
  assert.deepEqual(initialAssignment(p, 1), new Array(limits.slotCount).fill(0));
});

test("inode and chunk-id layouts round-trip and the root is in slot 0", () => {
  assert.equal(slotOfInode(limits.rootInode), 0);
  const inode = makeInode(2047, 12345);
  assert.equal(slotOfInode(inode), 2047);
  assert.equal(localOfInode(inode), 12345);
  assert.ok(inode < limits.inodeReservedMin);
  assert.throws(() => makeInode(2047, limits.inodesPerSlot - 1), /reserve/);
  assert.throws(() => makeInode(2048, 0));
  const chunk = makeChunkId(2047, 7n);
  assert.equal(slotOfChunkId(chunk), 2047);
  assert.equal(chunk & ((1n << 53n) - 1n), 7n);
});
