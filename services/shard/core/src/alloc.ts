/**
 * Inode allocation (ARCHITECTURE §3): an inode is `slot:11 | local:20`. A directory goes to the
 * slot its name hashes to (the caller's `slotOfNewDirectory`), anything else to its parent's
 * slot, and when that slot is full or not ours, to the next owned slot with room. Each slot hands
 * out local numbers from a counter that only grows, so a freed inode is never reused while a
 * client might still cache it (mfsmaster delays reuse by INODE_REUSE_DELAY for the same reason).
 */
import { limits } from "@antler/base";
import { isAllocatableInode, localOfInode, makeInode, slotOfInode } from "@antler/slots";
import { mismatch } from "./errors.ts";
import type { State } from "./state.ts";

function firstLocal(slot: number): number {
  // Slot 0 local 0 would be inode 0, which does not exist; local 1 there is the root.
  return slot === 0 ? limits.rootInode + 1 : 0;
}

function nextInodeOfSlot(st: State, slot: number): number | null {
  const local = st.nextLocal.get(slot) ?? firstLocal(slot);
  if (local >= limits.inodesPerSlot) return null;
  const inode = makeInodeUnchecked(slot, local);
  return isAllocatableInode(inode) ? inode : null;
}

function makeInodeUnchecked(slot: number, local: number): number {
  return slot * limits.inodesPerSlot + local;
}

/** Whether the shard owns `slot` (binary search: st.slots is ascending). */
export function owns(st: State, slot: number): boolean {
  let low = 0;
  let high = st.slots.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const value = st.slots[mid]!;
    if (value === slot) return true;
    if (value < slot) low = mid + 1;
    else high = mid - 1;
  }
  return false;
}

/**
 * Whether this shard owns every slot (an unsharded cluster): then nothing is ever forwarded and
 * a full shard is NOSPACE, as in mfsmaster.
 */
export function ownsAllSlots(st: State): boolean {
  return st.slots.length >= limits.slotCount;
}

/**
 * The inode a new node gets: in `preferredSlot` when it is owned and has room, else in the first
 * owned slot after it (in ascending order, wrapping) that has room; null when every owned slot
 * is full.
 */
export function chooseInode(st: State, preferredSlot: number): number | null {
  if (owns(st, preferredSlot)) {
    const inode = nextInodeOfSlot(st, preferredSlot);
    if (inode !== null) return inode;
  }
  const start = st.slots.findIndex((s) => s > preferredSlot);
  for (let i = 0; i < st.slots.length; i++) {
    const slot = st.slots[(Math.max(start, 0) + i) % st.slots.length]!;
    const inode = nextInodeOfSlot(st, slot);
    if (inode !== null) return inode;
  }
  return null;
}

/** Marks `inode` as handed out; replay checks it is the counter's next value or beyond it. */
export function takeInode(st: State, inode: number): void {
  mismatch(isAllocatableInode(inode), `inode ${inode} cannot be allocated`);
  const slot = slotOfInode(inode);
  const local = localOfInode(inode);
  mismatch(owns(st, slot), `inode ${inode} is in slot ${slot}, not owned by this shard`);
  mismatch(!st.nodes.has(inode), `inode ${inode} is already in use`);
  const next = st.nextLocal.get(slot) ?? firstLocal(slot);
  mismatch(local >= next, `inode ${inode} was handed out before`);
  st.nextLocal.set(slot, local + 1);
  // makeInode asserts the layout; a failure here is a programmer error, not a log problem.
  makeInode(slot, local);
}
