/**
 * Where things are, seen from one shard: whether an inode belongs to this shard's slots, and the
 * sticky-directory rule for a node that lives on another shard.
 */
import { slotOfInode } from "@antler/slots";
import { owns } from "../alloc.ts";
import { Eattr } from "../eattr.ts";
import type { Node, State } from "../state.ts";

/** Whether `inode` lives (or would live) on this shard. */
export function isLocalInode(st: State, inode: number): boolean {
  return owns(st, slotOfInode(inode));
}

/**
 * The sticky-directory rule (permissions.ts stickyAllows) for a node of another shard, known by
 * its owner only.
 */
export function stickyAllowsOwner(parent: Node, nodeUid: number, uid: number): boolean {
  if (uid === 0 || (parent.mode & 0o1000) === 0) return true;
  if (uid === parent.uid || (parent.eattr & Eattr.NOOWNER) !== 0) return true;
  return uid === nodeUid;
}
