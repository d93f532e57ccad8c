/**
 * OPEN (fs_opencheck + of_openfile), SUSTAINED_INODES (of_sync) and CLOSESESSION
 * (of_session_removed). OPEN checks read/write permission unless the client already checked it
 * from LOOKUP's lflags (AFTER_CREATE), truncates with TRUNCATE, and registers the inode as open
 * by the session so that unlinking it keeps it alive ("sustained") until the session lets go.
 */
import { AccessMask, NodeType, OpenFlag, SessionFlag, Status, type CommandOf, type Result } from "@antler/ops";
import { fillAttr } from "../attr.ts";
import { Eattr } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { CloseSessionOp, OpenOp, SustainedOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { touch, type Node } from "../state.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { openFlagsOf } from "./create.ts";
import { findNode, requireNode, viewerOf } from "./nodes.ts";
import {
  currentOpenSet,
  dropSessionLocks,
  isOpenBy,
  normalizedOpenSet,
  registerOpen,
  replaceOpenSet,
  wouldFree,
} from "./open-files.ts";
import { setLength } from "./truncate.ts";

function checkOpen(p: Planning, node: Node, flags: number): Result | null {
  if (node.type !== NodeType.FILE) return fail(Status.EPERM);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0 && (flags & (OpenFlag.WRITE | OpenFlag.TRUNCATE)) !== 0) return fail(Status.EPERM);
  if ((node.eattr & Eattr.APPENDONLY) !== 0 && (flags & OpenFlag.TRUNCATE) !== 0) return fail(Status.EPERM);
  if ((flags & OpenFlag.AFTER_CREATE) !== 0) return null;
  const mask = ((flags & OpenFlag.READ) !== 0 ? AccessMask.R : 0) | ((flags & OpenFlag.WRITE) !== 0 ? AccessMask.W : 0);
  if (!canAccess(node, p.ctx, mask)) return fail(Status.EACCES);
  if ((flags & OpenFlag.TRUNCATE) !== 0 && !canAccess(node, p.ctx, AccessMask.W)) return fail(Status.EACCES);
  return null;
}

function openResult(node: Node, viewer: { uid: number; sesflags: number }): Result {
  return { status: Status.OK, oflags: openFlagsOf(node), attr: fillAttr(node, null, viewer) };
}

export function planOpen(p: Planning, cmd: CommandOf<"open">): Planned {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0 && (cmd.flags & OpenFlag.WRITE) !== 0) return fail(Status.EROFS);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (node === null) return fail(Status.ENOENT);
  const refused = checkOpen(p, node, cmd.flags);
  if (refused !== null) return refused;
  const truncate = (cmd.flags & (OpenFlag.TRUNCATE | OpenFlag.AFTER_CREATE)) === OpenFlag.TRUNCATE;
  const registered = p.ctx.sessionId === 0 || isOpenBy(p.st, p.ctx.sessionId, node.inode);
  if (!truncate && registered) return openResult(node, viewerOf(p.ctx));
  return { kind: "open", inode: node.inode, truncate };
}

export function applyOpen(a: Applying, op: OpenOp): Result {
  const node = requireNode(a.st, op.inode);
  mismatch(node.type === NodeType.FILE, `open of non-file ${op.inode}`);
  if (op.truncate) {
    setLength(a.st, node, 0);
    node.reservedLength = 0;
    node.mtime = node.ctime = a.ts;
    touch(node, a.stamp, "length", "eattr", "mtime", "ctime");
  }
  registerOpen(a.st, a.caller.sessionId, node.inode);
  return openResult(node, viewerOf(a.caller));
}

export function planSustained(p: Planning, cmd: CommandOf<"sustained">): Planned {
  const inodes = normalizedOpenSet(p.st, cmd.inodes);
  const current = currentOpenSet(p.st, p.ctx.sessionId);
  if (p.ctx.sessionId === 0 || sameSet(inodes, current)) return ok;
  const kept = new Set(inodes);
  const freed = wouldFree(p.st, p.ctx.sessionId, current.filter((i) => !kept.has(i)));
  return { kind: "sustained", inodes, freed };
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function applySustained(a: Applying, op: SustainedOp): Result {
  const freed = replaceOpenSet(a.st, a.caller.sessionId, op.inodes);
  mismatch(sameSet(freed, op.freed), "sustained: freed inodes differ");
  return ok;
}

export function planCloseSession(p: Planning): Planned {
  const current = currentOpenSet(p.st, p.ctx.sessionId);
  const holdsLocks = [...p.st.flocks.values(), ...p.st.posixLocks.values()]
    .some((locks) => locks.some((l) => l.sessionId === p.ctx.sessionId));
  if (current.length === 0 && !holdsLocks) return ok;
  return { kind: "closesession", freed: wouldFree(p.st, p.ctx.sessionId, current) };
}

export function applyCloseSession(a: Applying, op: CloseSessionOp): Result {
  const freed = replaceOpenSet(a.st, a.caller.sessionId, []);
  dropSessionLocks(a.st, a.caller.sessionId);
  mismatch(sameSet(freed, op.freed), "closesession: freed inodes differ");
  return ok;
}
