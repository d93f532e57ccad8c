/**
 * GETFACL / SETFACL (fs_getfacl_size, fs_setfacl, posix_acl_set). Only the owner (or root, or
 * anyone on a NOOWNER node) sets ACLs. Setting an access ACL also sets the mode's user, group
 * and other bits; an access ACL that says no more than the mode (no named entries, no mask) is
 * not stored. All four perms 0xFFFF without entries (or a null ACL) removes the ACL, leaving the
 * mode alone. Unset user/group/other perms (0xFFFF) take the mode's bits.
 */
import { limits } from "@antler/base";
import { AclType, SessionFlag, Status, type Acl, type CommandOf, type Result } from "@antler/ops";
import { Eattr } from "../eattr.ts";
import type { SetfaclOp } from "../log-entry.ts";
import { touch, type AclRecord, type Node } from "../state.ts";
import { copyAcl, isSimpleAcl } from "./acl-inherit.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { findNode, requireNode } from "./nodes.ts";

const unset = 0xffff;

function toAcl(record: AclRecord): Acl {
  return copyAcl(record);
}

export function readGetfacl(p: Planning, cmd: CommandOf<"getfacl">): Result {
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (node === null) return fail(Status.ENOENT);
  const acl = cmd.acltype === AclType.ACCESS ? node.aclAccess : cmd.acltype === AclType.DEFAULT ? node.aclDefault : null;
  return acl === null ? fail(Status.ENOATTR) : { status: Status.OK, acl: toAcl(acl) };
}

function isRemoval(acl: Acl | null): boolean {
  if (acl === null) return true;
  const all = acl.userPerm & acl.groupPerm & acl.otherPerm & acl.mask;
  return all === unset && acl.users.length === 0 && acl.groups.length === 0;
}

function withModeDefaults(acl: Acl, mode: number): AclRecord {
  return {
    userPerm: acl.userPerm === unset ? (mode >> 6) & 7 : acl.userPerm,
    groupPerm: acl.groupPerm === unset ? (mode >> 3) & 7 : acl.groupPerm,
    otherPerm: acl.otherPerm === unset ? mode & 7 : acl.otherPerm,
    mask: acl.mask,
    users: acl.users.map((e) => ({ id: e.id, perm: e.perm })),
    groups: acl.groups.map((e) => ({ id: e.id, perm: e.perm })),
  };
}

function checkSetfacl(p: Planning, node: Node, cmd: CommandOf<"setfacl">): Result | null {
  const uid = p.ctx.uid;
  if ((node.eattr & Eattr.NOOWNER) === 0 && uid !== 0 && uid !== node.uid) return fail(Status.EPERM);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (cmd.acltype !== AclType.ACCESS && cmd.acltype !== AclType.DEFAULT) return fail(Status.EINVAL);
  const acl = cmd.acl;
  if (acl !== null && (acl.users.length > limits.aclEntriesMax || acl.groups.length > limits.aclEntriesMax)) {
    return fail(Status.EINVAL);
  }
  return null;
}

export function planSetfacl(p: Planning, cmd: CommandOf<"setfacl">): Planned {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (node === null) return fail(Status.ENOENT);
  const refused = checkSetfacl(p, node, cmd);
  if (refused !== null) return refused;
  const base = { kind: "setfacl", inode: node.inode, acltype: cmd.acltype } as const;
  if (isRemoval(cmd.acl)) return { ...base, acl: null, mode: node.mode, touch: false };
  const record = withModeDefaults(cmd.acl!, node.mode);
  let mode = node.mode;
  if (cmd.acltype === AclType.ACCESS) {
    mode = (node.mode & 0o7000) | ((record.userPerm & 7) << 6) | ((record.groupPerm & 7) << 3) | (record.otherPerm & 7);
  }
  const stored = cmd.acltype === AclType.ACCESS && isSimpleAcl(record) ? null : record;
  return { ...base, acl: stored, mode, touch: mode !== node.mode };
}

export function applySetfacl(a: Applying, op: SetfaclOp): Result {
  const node = requireNode(a.st, op.inode);
  if (op.acltype === AclType.ACCESS) node.aclAccess = op.acl;
  else node.aclDefault = op.acl;
  node.mode = op.mode;
  if (op.touch) node.ctime = a.ts;
  touch(node, a.stamp, op.acltype === AclType.ACCESS ? "aclAccess" : "aclDefault", "mode");
  if (op.touch) touch(node, a.stamp, "ctime");
  return ok;
}
