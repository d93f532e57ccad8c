/**
 * TRUNCATE (fs_try_setlength + fs_do_setlength): the file length, its effect on the parents'
 * recursive sizes, times, append-mode reservations, and releasing chunks beyond the new end.
 * Cutting the chunk the new end falls in needs chunkservers: chunks/truncate.ts turns such a
 * plan into chunk work first.
 *
 * Flags: OPENED skips the write-permission check and reaches unlinked open files; UPDATE only
 * raises the length (a close/fsync of buffered data) and leaves times alone; TIMEFIX keeps the
 * times when the length does not change; RESERVE reserves `length` more bytes after the current
 * end (or the last reservation) and answers where the caller may write.
 */
import { AccessMask, NodeType, SessionFlag, Status, TruncateFlag, type CommandOf, type Result } from "@antler/ops";
import { fillAttr } from "../attr.ts";
import { Eattr } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { ReserveOp, TruncateOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { touch, type Node, type State } from "../state.ts";
import { restat, statsOf } from "../stats.ts";
import { releaseChunksBeyond } from "../chunks/table.ts";
import { fail, type Applying, type Planned, type Planning } from "./context.ts";
import { findNode, requireNode, viewerOf } from "./nodes.ts";

/** Files longer than this have a chunk index beyond MAX_INDEX (and beyond exact JS numbers). */
const lengthMax = Number.MAX_SAFE_INTEGER;

/** fsnodes_setlength: the new length, and chunks wholly beyond it are released. */
export function setLength(st: State, node: Node, length: number): void {
  const before = statsOf(node);
  node.length = length;
  releaseChunksBeyond(st, node, length);
  node.eattr &= ~Eattr.SNAPSHOT;
  restat(st, node, before);
}

/** A write beyond EOF: only the length grows (the chunk being written is past the old end). */
export function growLength(st: State, node: Node, length: number): void {
  if (length <= node.length) return;
  const before = statsOf(node);
  node.length = length;
  restat(st, node, before);
}

function checkTruncate(p: Planning, cmd: CommandOf<"truncate">): Node | Result {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const opened = (cmd.flags & TruncateFlag.OPENED) !== 0;
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, opened);
  if (node === null) return fail(Status.ENOENT);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  const growOnly = TruncateFlag.RESERVE | TruncateFlag.UPDATE;
  if ((node.eattr & Eattr.APPENDONLY) !== 0 && (cmd.flags & growOnly) === 0) return fail(Status.EPERM);
  if (!opened && !canAccess(node, p.ctx, AccessMask.W)) return fail(Status.EACCES);
  if (node.type !== NodeType.FILE) return fail(Status.EPERM);
  return node;
}

export function planTruncate(p: Planning, cmd: CommandOf<"truncate">): Planned {
  const node = checkTruncate(p, cmd);
  if ("status" in node) return node;
  const prevLength = node.length;
  if ((cmd.flags & TruncateFlag.RESERVE) !== 0) {
    const base = Math.max(node.reservedLength, node.length);
    const reservedLength = base + cmd.length;
    if (reservedLength > lengthMax) return fail(Status.INDEXTOOBIG);
    return { kind: "reserve", inode: node.inode, reservedLength, prevLength: base };
  }
  if (cmd.length > lengthMax) return fail(Status.INDEXTOOBIG);
  if ((cmd.flags & TruncateFlag.UPDATE) !== 0) {
    const length = Math.max(cmd.length, node.length);
    if (length === node.length && node.reservedLength === 0) {
      return { status: Status.OK, prevLength, attr: fillAttr(node, null, viewerOf(p.ctx)) };
    }
    return { kind: "truncate", inode: node.inode, length, prevLength, touch: false };
  }
  const touch = !(cmd.length === node.length && (cmd.flags & TruncateFlag.TIMEFIX) !== 0);
  return { kind: "truncate", inode: node.inode, length: cmd.length, prevLength, touch };
}

export function applyTruncate(a: Applying, op: TruncateOp): Result {
  const node = requireNode(a.st, op.inode);
  mismatch(node.type === NodeType.FILE && node.length === op.prevLength, `truncate of ${op.inode}: length differs`);
  setLength(a.st, node, op.length);
  node.reservedLength = 0;
  if (op.touch) node.mtime = node.ctime = a.ts;
  if (op.touch) touch(node, a.stamp, "length", "eattr", "mtime", "ctime");
  else touch(node, a.stamp, "length", "eattr");
  return { status: Status.OK, prevLength: op.prevLength, attr: fillAttr(node, null, viewerOf(a.caller)) };
}

export function applyReserve(a: Applying, op: ReserveOp): Result {
  const node = requireNode(a.st, op.inode);
  mismatch(node.type === NodeType.FILE, `reserve on non-file ${op.inode}`);
  mismatch(Math.max(node.reservedLength, node.length) === op.prevLength, `reserve on ${op.inode}: base differs`);
  node.reservedLength = op.reservedLength;
  touch(node, a.stamp);
  return { status: Status.OK, prevLength: op.prevLength, attr: fillAttr(node, null, viewerOf(a.caller)) };
}
