/**
 * UNLINK and RMDIR (fs_univ_unlink). Checks in mfsmaster's order: read-only session, parent
 * exists, is a directory, is neither immutable nor append-only, caller may write and search it,
 * the name is valid and exists, the sticky-directory rule, the node is not undeletable /
 * immutable / append-only; then UNLINK of a directory is EPERM, RMDIR of a non-directory
 * ENOTDIR and of a non-empty directory ENOTEMPTY. An entry naming a node of another shard is
 * forwarded to the coordinator once the parent's checks passed and the name exists.
 */
import { AccessMask, SessionFlag, Status, type CommandOf, type Name, type Result } from "@antler/ops";
import { eattrNoRemove, Eattr } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { RemoveOp } from "../log-entry.ts";
import { canAccess, stickyAllows } from "../permissions.ts";
import type { Node } from "../state.ts";
import { fail, forwardToCoordinator, isForward, type Applying, type Forward, type Planned, type Planning } from "./context.ts";
import { disposalOf, unlinkEntry } from "./links.ts";
import { findNode, isValidName, localChild, requireNode } from "./nodes.ts";

/**
 * The entry `parent/name` if the caller may remove it from `parent`, else the failure; Forward
 * when the entry names a node of another shard (the sticky rule and everything after it need
 * the node: the coordinator checks them, txn.ts entry-remove).
 */
export function removableEntry(
  p: Planning,
  parentInode: number,
  name: Name,
  extraParentEattr: number,
): { parent: Node; child: Node } | Result | Forward {
  const parent = findNode(p.st, p.ctx.rootInode, parentInode, false);
  if (parent === null) return fail(Status.ENOENT);
  if (parent.dir === null) return fail(Status.ENOTDIR);
  if ((parent.eattr & (Eattr.IMMUTABLE | extraParentEattr)) !== 0) return fail(Status.EPERM);
  if (!canAccess(parent, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  if (!isValidName(name)) return fail(Status.EINVAL);
  const entry = parent.dir.entries.get(name);
  if (entry === undefined) return fail(Status.ENOENT);
  const child = localChild(p.st, entry);
  if (child === null) return forwardToCoordinator;
  if (!stickyAllows(parent, child, p.ctx.uid)) return fail(Status.EPERM);
  return { parent, child };
}

function planRemove(p: Planning, kind: RemoveOp["kind"], parentInode: number, name: Name): Planned | Forward {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const found = removableEntry(p, parentInode, name, Eattr.APPENDONLY);
  if ("status" in found || isForward(found)) return found;
  const { parent, child } = found;
  if ((child.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  if (kind === "unlink" && child.dir !== null) return fail(Status.EPERM);
  if (kind === "rmdir" && child.dir === null) return fail(Status.ENOTDIR);
  // Remote entries count: a directory holding names of other shards' nodes is not empty.
  if (kind === "rmdir" && child.dir!.entries.size > 0) return fail(Status.ENOTEMPTY);
  return { kind, parent: parent.inode, name, inode: child.inode, disposal: disposalOf(p.st, child) };
}

export function planUnlink(p: Planning, cmd: CommandOf<"unlink">): Planned | Forward {
  return planRemove(p, "unlink", cmd.parent, cmd.name);
}

export function planRmdir(p: Planning, cmd: CommandOf<"rmdir">): Planned | Forward {
  return planRemove(p, "rmdir", cmd.parent, cmd.name);
}

export function applyRemove(a: Applying, op: RemoveOp): Result {
  const parent = requireNode(a.st, op.parent);
  const child = requireNode(a.st, op.inode);
  if (op.kind === "rmdir") mismatch(child.dir !== null && child.dir.entries.size === 0, `rmdir of non-empty ${op.inode}`);
  else mismatch(child.dir === null, `unlink of directory ${op.inode}`);
  unlinkEntry(a.st, parent, child, op.name, op.disposal, a.ts, a.stamp);
  return { status: Status.OK, inode: op.inode };
}
