/**
 * RENAME (fs_univ_move). Checks in mfsmaster's order: read-only session; both parents exist; the
 * source parent is a directory, neither immutable nor append-only, writable and searchable; the
 * source name is valid and exists; the sticky rule on the source; the target parent is a
 * directory, not immutable, writable and searchable; the node is not immutable; a directory may
 * not move into itself or its subtree (EINVAL) and needs write permission on itself when it
 * changes parent ("..")); the target name is valid. An existing target is replaced when it is not
 * a non-empty directory (ENOTEMPTY), the sticky rule allows it and it is removable. Like
 * mfsmaster (and unlike the kernel's own checks) the types of source and target are not compared.
 * Renaming a name onto another link of the same node changes nothing (POSIX).
 *
 * Sharded namespace: forwarded to the coordinator (txn.ts), after the checks that come first and
 * can be made here, when the target parent is on another shard, the moved node or the replaced
 * target is a node of another shard, or a directory changes parent while this shard does not own
 * every slot.
 */
import { AccessMask, SessionFlag, Status, type CommandOf, type Result } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { owns, ownsAllSlots } from "../alloc.ts";
import { fillAttr } from "../attr.ts";
import { Eattr, eattrNoRemove } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { RenameOp } from "../log-entry.ts";
import { canAccess, stickyAllows } from "../permissions.ts";
import type { Node } from "../state.ts";
import { fail, forwardToCoordinator, isForward, type Applying, type Forward, type Planned, type Planning } from "./context.ts";
import { addEntry, disposalOf, removeEntry, unlinkEntry } from "./links.ts";
import { findNode, isAncestor, isRemoteEntry, isValidName, requireNode, viewerOf } from "./nodes.ts";
import { removableEntry } from "./remove.ts";

function checkTargetDir(p: Planning, target: Node | null): Result | null {
  if (target === null) return fail(Status.ENOENT);
  if (target.dir === null) return fail(Status.ENOTDIR);
  if ((target.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!canAccess(target, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  return null;
}

function checkMovedNode(p: Planning, cmd: CommandOf<"rename">, node: Node, target: Node): Result | Forward | null {
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (node.dir === null) return null;
  if (node === target || isAncestor(p.st, node, target)) return fail(Status.EINVAL);
  // The ancestry of the target may pass through other shards: only the coordinator, which moves
  // directories one at a time, can rule out a cycle (and the checks after it come after it).
  if (cmd.parentSrc !== cmd.parentDst && !ownsAllSlots(p.st)) return forwardToCoordinator;
  // The directory's ".." changes, which needs write permission on the directory itself.
  if (cmd.parentSrc !== cmd.parentDst && !canAccess(node, p.ctx, AccessMask.W)) return fail(Status.EACCES);
  return null;
}

function checkReplaced(p: Planning, target: Node, replaced: Node): Result | null {
  if (replaced.dir !== null && replaced.dir.entries.size > 0) return fail(Status.ENOTEMPTY);
  if (!stickyAllows(target, replaced, p.ctx.uid)) return fail(Status.EPERM);
  if ((replaced.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  return null;
}

export function planRename(p: Planning, cmd: CommandOf<"rename">): Planned | Forward {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  if (!owns(p.st, slotOfInode(cmd.parentDst))) {
    // Only the source parent can be checked here, and mfsmaster checks both parents' existence first.
    return findNode(p.st, p.ctx.rootInode, cmd.parentSrc, false) === null ? fail(Status.ENOENT) : forwardToCoordinator;
  }
  const target = findNode(p.st, p.ctx.rootInode, cmd.parentDst, false);
  if (findNode(p.st, p.ctx.rootInode, cmd.parentSrc, false) === null || target === null) return fail(Status.ENOENT);
  const source = removableEntry(p, cmd.parentSrc, cmd.nameSrc, Eattr.APPENDONLY);
  if ("status" in source || isForward(source)) return source;
  const node = source.child;
  const failure = checkTargetDir(p, target) ?? checkMovedNode(p, cmd, node, target);
  if (failure !== null) return failure;
  if (!isValidName(cmd.nameDst)) return fail(Status.EINVAL);
  const existing = target.dir!.entries.get(cmd.nameDst);
  if (existing !== undefined && existing.inode !== node.inode && isRemoteEntry(existing)) return forwardToCoordinator;
  const replaced = existing === undefined ? null : p.st.nodes.get(existing.inode)!;
  if (replaced === node) return { status: Status.OK, inode: node.inode, attr: fillAttr(node, target, viewerOf(p.ctx)) };
  if (replaced !== null) {
    const refused = checkReplaced(p, target, replaced);
    if (refused !== null) return refused;
  }
  return {
    kind: "rename",
    parentSrc: cmd.parentSrc,
    nameSrc: cmd.nameSrc,
    parentDst: cmd.parentDst,
    nameDst: cmd.nameDst,
    inode: node.inode,
    replaced: replaced === null ? null : { inode: replaced.inode, disposal: disposalOf(p.st, replaced) },
  };
}

export function applyRename(a: Applying, op: RenameOp): Result {
  const source = requireNode(a.st, op.parentSrc);
  const target = requireNode(a.st, op.parentDst);
  const node = requireNode(a.st, op.inode);
  if (node.dir !== null) mismatch(node !== target && !isAncestor(a.st, node, target), "rename would make a cycle");
  if (op.replaced !== null) {
    const replaced = requireNode(a.st, op.replaced.inode);
    mismatch(replaced !== node, "rename onto the node itself");
    if (replaced.dir !== null) mismatch(replaced.dir.entries.size === 0, "rename onto a non-empty directory");
    unlinkEntry(a.st, target, replaced, op.nameDst, op.replaced.disposal, a.ts, a.stamp);
  }
  removeEntry(a.st, source, node, op.nameSrc, a.ts, a.stamp);
  addEntry(a.st, target, node, op.nameDst, a.ts, a.stamp);
  return { status: Status.OK, inode: node.inode, attr: fillAttr(node, target, viewerOf(a.caller)) };
}
