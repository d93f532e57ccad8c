/**
 * Time-driven maintenance: trash expiry (fs_univ_emptytrash) and dropping old directory-entry
 * tombstones. A trashed file expires when its atime, mtime and ctime are all more than its
 * trashtime in the past; it is then freed, or moved to "sustained" while a session holds it open.
 * Each maintenance entry does a bounded amount of work; the shell calls maintain() again.
 */
import { limits } from "@antler/base";
import { ok, type Applying } from "./context.ts";
import type { MaintainOp } from "../log-entry.ts";
import { mismatch } from "../errors.ts";
import type { Node, State } from "../state.ts";
import { purgeDetached } from "./links.ts";
import { requireNode } from "./nodes.ts";
import type { Result } from "@antler/ops";

function isExpired(node: Node, ts: number): boolean {
  const limit = ts - node.trashtime;
  return node.atime < limit && node.mtime < limit && node.ctime < limit;
}

export function expiredTrash(st: State, ts: number): number[] {
  const expired: number[] = [];
  for (const inode of st.trash) {
    if (expired.length >= limits.trashPurgeBatchMax) break;
    if (isExpired(st.nodes.get(inode)!, ts)) expired.push(inode);
  }
  return expired;
}

function hasOldTombstones(st: State, beforeMs: number): boolean {
  const oldest = st.tombstones.values().next();
  return oldest.done !== true && oldest.value.wallMs < beforeMs;
}

/** The maintenance due at `ts` (seconds) / `nowMs`, or null when there is nothing to do. */
export function planMaintain(st: State, ts: number, nowMs: number): MaintainOp | null {
  const expired = expiredTrash(st, ts);
  const tombstonesBeforeMs = nowMs - limits.direntTombstoneRetentionMs;
  if (expired.length === 0 && !hasOldTombstones(st, tombstonesBeforeMs)) return null;
  return { kind: "maintain", expired, tombstonesBeforeMs };
}

function dropTombstones(st: State, beforeMs: number): void {
  let dropped = 0;
  // Oldest first: stop at the first young one or when the batch is full.
  for (const [key, stamp] of st.tombstones) {
    if (stamp.wallMs >= beforeMs || dropped >= limits.tombstonePurgeBatchMax) return;
    st.tombstones.delete(key);
    dropped++;
  }
}

export function applyMaintain(a: Applying, op: MaintainOp): Result {
  for (const inode of op.expired) {
    const node = requireNode(a.st, inode);
    mismatch(node.detached?.kind === "trash" && isExpired(node, a.ts), `inode ${inode} is not expired trash`);
    purgeDetached(a.st, node, a.stamp);
  }
  dropTombstones(a.st, op.tombstonesBeforeMs);
  return ok;
}
