/**
 * LINK (fs_univ_link). Checks in mfsmaster's order: read-only session; node and target directory
 * exist; the node is not immutable; a detached (trash/sustained) node is ENOENT and a directory
 * EPERM; too many links is NOSPACE; the target is a directory, not immutable, writable and
 * searchable; the name is valid and free. A node or target directory of another shard: forwarded
 * to the coordinator (txn.ts) once what is here exists.
 */
import { limits } from "@antler/base";
import { AccessMask, SessionFlag, Status, type CommandOf, type Result } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { owns } from "../alloc.ts";
import { fillAttr } from "../attr.ts";
import { Eattr } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { LinkOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { fail, forwardToCoordinator, type Applying, type Forward, type Planned, type Planning } from "./context.ts";
import { addEntry } from "./links.ts";
import { findNode, isValidName, requireNode, viewerOf } from "./nodes.ts";

export function planLink(p: Planning, cmd: CommandOf<"link">): Planned | Forward {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const nodeHere = owns(p.st, slotOfInode(cmd.inode));
  const targetHere = owns(p.st, slotOfInode(cmd.parentDst));
  const node = nodeHere ? findNode(p.st, p.ctx.rootInode, cmd.inode, false) : null;
  const target = targetHere ? findNode(p.st, p.ctx.rootInode, cmd.parentDst, false) : null;
  if (!nodeHere || !targetHere) {
    // Every later check needs the node first (mfsmaster's order), so only existence is checked here.
    const missing = (nodeHere && node === null) || (targetHere && target === null);
    return missing ? fail(Status.ENOENT) : forwardToCoordinator;
  }
  if (node === null || target === null) return fail(Status.ENOENT);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (node.detached !== null) return fail(Status.ENOENT);
  if (node.dir !== null) return fail(Status.EPERM);
  if (node.parents.length >= limits.hardLinksMax) return fail(Status.NOSPACE);
  if (target.dir === null) return fail(Status.ENOTDIR);
  if ((target.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!canAccess(target, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  if (!isValidName(cmd.nameDst)) return fail(Status.EINVAL);
  if (target.dir.entries.has(cmd.nameDst)) return fail(Status.EEXIST);
  return { kind: "link", inode: node.inode, parent: target.inode, name: cmd.nameDst };
}

export function applyLink(a: Applying, op: LinkOp): Result {
  const node = requireNode(a.st, op.inode);
  const target = requireNode(a.st, op.parent);
  mismatch(node.dir === null && node.detached === null, `inode ${op.inode} cannot get another link`);
  addEntry(a.st, target, node, op.name, a.ts, a.stamp);
  return { status: Status.OK, inode: node.inode, attr: fillAttr(node, target, viewerOf(a.caller)) };
}
