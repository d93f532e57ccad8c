/**
 * Inode allocation (ARCHITECTURE §3): preferred slot first, then the next owned slot with room;
 * never inode 0 or mfsmount's reserved range; counters only grow.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { limits } from "@antler/base";
import { makeInode } from "@antler/slots";
import { chooseInode, takeInode } from "./alloc.ts";
import { ReplayMismatchError } from "./errors.ts";
import { newState } from "./state.ts";

function state(slots: number[]) {
  return newState({ shardId: 1, metaId: 1n, origin: 0, slots, defaultGoal: 1, defaultTrashtime: 86400 }, 0);
}

test("the first inodes: slot 0 starts after the root, other slots at local 0", () => {
  const st = state([0, 5]);
  assert.equal(chooseInode(st, 0), 2);
  assert.equal(chooseInode(st, 5), makeInode(5, 0));
});

test("a full slot spills into the next owned slot, wrapping around", () => {
  const st = state([0, 5, 9]);
  st.nextLocal.set(9, limits.inodesPerSlot);
  assert.equal(chooseInode(st, 9), 2, "wraps to slot 0");
  st.nextLocal.set(0, limits.inodesPerSlot);
  assert.equal(chooseInode(st, 9), makeInode(5, 0));
  st.nextLocal.set(5, limits.inodesPerSlot);
  assert.equal(chooseInode(st, 9), null);
});

test("the last slot stops below mfsmount's reserved inodes", () => {
  const st = state([2047]);
  const lastLocal = limits.inodeReservedMin - 2047 * limits.inodesPerSlot;
  st.nextLocal.set(2047, lastLocal - 1);
  assert.equal(chooseInode(st, 2047), limits.inodeReservedMin - 1);
  st.nextLocal.set(2047, lastLocal);
  assert.equal(chooseInode(st, 2047), null);
});

test("takeInode refuses reuse, foreign slots and reserved numbers", () => {
  const st = state([0, 1]);
  takeInode(st, makeInode(1, 10));
  assert.throws(() => takeInode(st, makeInode(1, 3)), ReplayMismatchError);
  assert.throws(() => takeInode(st, makeInode(2, 0)), ReplayMismatchError);
  assert.throws(() => takeInode(st, 0), ReplayMismatchError);
  assert.equal(chooseInode(st, 1), makeInode(1, 11));
});
