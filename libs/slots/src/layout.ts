/**
 * The inode and chunk-id layouts (ARCHITECTURE §3). An inode is `slot:11 | local:20` inside the
 * 31 bits MooseFS clients leave us; a chunk id is `slot:11 | counter:53`. Both name the slot that
 * owns them, so finding the shard of an inode or a chunk needs no lookup.
 */
import { assert, limits } from "@antler/base";

const chunkCounterBits = 53n;

export function slotOfInode(inode: number): number {
  return inode >>> limits.localBits;
}

export function localOfInode(inode: number): number {
  return inode & (limits.inodesPerSlot - 1);
}

export function makeInode(slot: number, local: number): number {
  assert(Number.isInteger(slot) && slot >= 0 && slot < limits.slotCount, "slot out of range");
  assert(Number.isInteger(local) && local >= 0 && local < limits.inodesPerSlot, "local inode out of range");
  const inode = slot * limits.inodesPerSlot + local;
  assert(inode < limits.inodeReservedMin, "inode in the range mfsmount reserves");
  return inode;
}

/** Whether an inode number can be allocated at all (0 and mfsmount's reserved range cannot). */
export function isAllocatableInode(inode: number): boolean {
  return Number.isInteger(inode) && inode > 0 && inode < limits.inodeReservedMin;
}

export function makeChunkId(slot: number, counter: bigint): bigint {
  assert(Number.isInteger(slot) && slot >= 0 && slot < limits.slotCount, "slot out of range");
  assert(counter > 0n && counter < 1n << chunkCounterBits, "chunk counter out of range");
  return (BigInt(slot) << chunkCounterBits) | counter;
}

export function slotOfChunkId(chunkId: bigint): number {
  return Number(chunkId >> chunkCounterBits);
}
