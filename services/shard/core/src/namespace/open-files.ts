/**
 * Which sessions hold which inodes open (mfsmaster's openfiles.c). OPEN and CREATE add an inode
 * to the caller's set; SUSTAINED_INODES replaces the set; CLOSESESSION empties it. When a session
 * lets go of an inode its locks on it go too (flock_file_closed, posix_lock_file_closed), and a
 * "sustained" node (unlinked while open, no trash time) that nobody holds any more is freed.
 */
import { deleteNode, isOpen, type State } from "../state.ts";

/** System requests (session 0) never hold files open. */
const systemSession = 0;

export function isOpenBy(st: State, sessionId: number, inode: number): boolean {
  return st.openFiles.get(sessionId)?.has(inode) ?? false;
}

export function registerOpen(st: State, sessionId: number, inode: number): void {
  if (sessionId === systemSession || isOpenBy(st, sessionId, inode)) return;
  let set = st.openFiles.get(sessionId);
  if (set === undefined) {
    set = new Set();
    st.openFiles.set(sessionId, set);
  }
  set.add(inode);
  st.openCount.set(inode, (st.openCount.get(inode) ?? 0) + 1);
}

function dropLocksOf(st: State, sessionId: number, inode: number): void {
  const flocks = st.flocks.get(inode)?.filter((l) => l.sessionId !== sessionId);
  if (flocks !== undefined) {
    if (flocks.length > 0) st.flocks.set(inode, flocks);
    else st.flocks.delete(inode);
  }
  const posix = st.posixLocks.get(inode)?.filter((l) => l.sessionId !== sessionId);
  if (posix !== undefined) {
    if (posix.length > 0) st.posixLocks.set(inode, posix);
    else st.posixLocks.delete(inode);
  }
}

function releaseOpen(st: State, sessionId: number, inode: number): void {
  const set = st.openFiles.get(sessionId);
  if (set === undefined || !set.delete(inode)) return;
  if (set.size === 0) st.openFiles.delete(sessionId);
  const count = (st.openCount.get(inode) ?? 1) - 1;
  if (count > 0) st.openCount.set(inode, count);
  else st.openCount.delete(inode);
  dropLocksOf(st, sessionId, inode);
}

/** The session's open set after a SUSTAINED_INODES list: inodes of this shard, ascending. */
export function normalizedOpenSet(st: State, inodes: readonly number[]): number[] {
  return [...new Set(inodes)].filter((i) => st.nodes.has(i)).sort((a, b) => a - b);
}

export function currentOpenSet(st: State, sessionId: number): number[] {
  return [...(st.openFiles.get(sessionId) ?? [])].sort((a, b) => a - b);
}

/** Sustained nodes that releasing `released` by `sessionId` would free (ascending). */
export function wouldFree(st: State, sessionId: number, released: readonly number[]): number[] {
  return released
    .filter((inode) => st.nodes.get(inode)?.detached?.kind === "sustained")
    .filter((inode) => isOpenBy(st, sessionId, inode) && st.openCount.get(inode) === 1)
    .sort((a, b) => a - b);
}

/** Makes `inodes` the session's open set; returns the sustained nodes freed by it. */
export function replaceOpenSet(st: State, sessionId: number, inodes: readonly number[]): number[] {
  const next = new Set(inodes);
  const released = currentOpenSet(st, sessionId).filter((i) => !next.has(i));
  for (const inode of released) releaseOpen(st, sessionId, inode);
  for (const inode of inodes) if (st.nodes.has(inode)) registerOpen(st, sessionId, inode);
  const freed: number[] = [];
  for (const inode of released) {
    const node = st.nodes.get(inode);
    if (node?.detached?.kind === "sustained" && !isOpen(st, inode)) {
      deleteNode(st, node);
      freed.push(inode);
    }
  }
  return freed.sort((a, b) => a - b);
}

/** Drops every lock a session holds, wherever (CLOSESESSION). */
export function dropSessionLocks(st: State, sessionId: number): void {
  for (const inode of [...st.flocks.keys()]) dropLocksOf(st, sessionId, inode);
  for (const inode of [...st.posixLocks.keys()]) dropLocksOf(st, sessionId, inode);
}
