/**
 * TRUNCATE to a length inside an existing chunk (fs_try_setlength + chunk_multi_truncate): the
 * chunk the new end falls in must be cut (or, when it grew, cleared past the old end) by the
 * chunkservers before the length changes. Owned by this file alone, the chunk moves to version+1
 * with MATOCS_TRUNCATE; shared with a snapshot, a new chunk is made with MATOCS_DUPTRUNC. Like
 * mfsmaster this happens whenever the length changes to a point that is not a chunk boundary and
 * a chunk is there - growing too, since the chunk may hold stale bytes past the old end.
 * Chunks wholly past the new end are only released (housekeeping deletes their copies later).
 */
import { limits } from "@antler/base";
import { Status, TruncateFlag, slotOfInode, type CommandOf, type Result } from "@antler/ops";
import type { ChunkCommand } from "../api.ts";
import type { ChunkTruncateOp, TruncateOp } from "../log-entry.ts";
import { requireNode } from "../namespace/nodes.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "../namespace/context.ts";
import type { Node } from "../state.ts";
import { chunkAt, isLocked, lockChunk, nextChunkId, requireChunk } from "./table.ts";
import { liveValidCopies, switchChunk } from "./write.ts";
import type { WorkPlan } from "./work.ts";

/** Turns a planned length change into chunk work when the new end falls inside a chunk. */
export function planChunkTruncate(p: Planning, cmd: CommandOf<"truncate">, planned: TruncateOp): Planned | WorkPlan {
  const offset = planned.length % limits.chunkBytes;
  if (planned.length === planned.prevLength || offset === 0) return planned;
  const node = requireNode(p.st, planned.inode);
  const index = Math.floor(planned.length / limits.chunkBytes);
  const prevChunkId = chunkAt(node, index);
  if (prevChunkId === 0n) return planned;
  const chunk = requireChunk(p.st, prevChunkId);
  if (p.work.isBusy(prevChunkId, p.nowMs)) return fail(Status.EAGAIN);
  if (isLocked(chunk, p.nowMs)) return fail(Status.LOCKED);
  const live = liveValidCopies(p, chunk);
  if (live.length === 0) return fail(Status.CHUNKLOST);
  const v = chunk.version;
  const base = { kind: "chunktruncate" as const, inode: node.inode, index, prevChunkId, goal: node.goal, lockedUntilMs: p.nowMs + limits.chunkWriteLockMs };
  const operation = { ctx: p.ctx, cmd, inode: node.inode, index, prevChunkId, oldVersion: v };
  if (chunk.refcount > 1) {
    const chunkId = nextChunkId(p.st, slotOfInode(node.inode));
    const commands = live.map((csid): ChunkCommand => ({
      csid, command: { op: "duptrunc", chunkId, version: 1, oldChunkId: prevChunkId, oldVersion: v, length: offset },
    }));
    const op: ChunkTruncateOp = { ...base, chunkId, version: 1 };
    return { op, commands, work: { kind: "truncate", ...operation, chunkId, version: 1 } };
  }
  const commands = live.map((csid): ChunkCommand => ({
    csid, command: { op: "truncate", chunkId: prevChunkId, length: offset, version: v + 1, oldVersion: v },
  }));
  const op: ChunkTruncateOp = { ...base, chunkId: prevChunkId, version: v + 1 };
  return { op, commands, work: { kind: "truncate", ...operation, chunkId: prevChunkId, version: v + 1 } };
}

export function applyChunkTruncate(a: Applying, op: ChunkTruncateOp): Result {
  const node = requireNode(a.st, op.inode);
  const chunk = switchChunk(a, node, op);
  lockChunk(chunk, op.lockedUntilMs, a.caller.sessionId);
  return ok;
}

/** The length change a finished chunk truncate makes, judged against the file as it is now. */
export function truncateEffect(node: Node, cmd: CommandOf<"truncate">): { length: number; prevLength: number; touch: boolean } {
  const length = (cmd.flags & TruncateFlag.UPDATE) !== 0 ? Math.max(cmd.length, node.length) : cmd.length;
  const touch = !(length === node.length && (cmd.flags & TruncateFlag.TIMEFIX) !== 0) && (cmd.flags & TruncateFlag.UPDATE) === 0;
  return { length, prevLength: node.length, touch };
}
