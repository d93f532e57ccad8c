/**
 * GETXATTR / SETXATTR (fs_getxattr, fs_listxattr_*, fs_setxattr, xattr_setattr). Names are byte
 * strings of 1..255 bytes without NUL; "trusted.*" is root's, "security.*" only root may set,
 * "system.*" only the owner. Reading needs R and writing W permission unless the caller has the
 * file open. Lists are the names, newest first, each followed by a NUL (as mfsmaster builds them).
 */
import { limits } from "@antler/base";
import { AccessMask, SessionFlag, Status, XattrMode, type CommandOf, type Name, type Result } from "@antler/ops";
import { Eattr } from "../eattr.ts";
import type { SetxattrOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { touch, type Node } from "../state.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { findNode, requireNode } from "./nodes.ts";

const GetMode = { DATA: 0, LENGTH: 1 } as const;

function isValidXattrName(name: Name): boolean {
  return name.length > 0 && name.length <= limits.xattrNameBytesMax && !name.includes("\0");
}

function listBytes(node: Node): number {
  let total = 0;
  for (const name of node.xattrs?.keys() ?? []) total += name.length + 1;
  return total;
}

function listValue(node: Node): Uint8Array {
  const names = [...(node.xattrs?.keys() ?? [])].reverse();
  const out = new Uint8Array(listBytes(node));
  let at = 0;
  for (const name of names) {
    for (let i = 0; i < name.length; i++) out[at++] = name.charCodeAt(i);
    out[at++] = 0;
  }
  return out;
}

function valueResult(value: Uint8Array, mode: number): Result {
  return mode === GetMode.DATA ? { status: Status.OK, length: value.length, value } : { status: Status.OK, length: value.length };
}

export function readGetxattr(p: Planning, cmd: CommandOf<"getxattr">): Result {
  if (cmd.mode !== GetMode.DATA && cmd.mode !== GetMode.LENGTH) return fail(Status.EINVAL);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, cmd.opened);
  if (node === null) return fail(Status.ENOENT);
  if (cmd.name.length === 0) {
    if (!cmd.opened && !canAccess(node, p.ctx, AccessMask.R)) return fail(Status.EACCES);
    if (listBytes(node) > limits.xattrListBytesMax) return fail(Status.ERANGE);
    return valueResult(listValue(node), cmd.mode);
  }
  if (p.ctx.uid !== 0 && cmd.name.startsWith("trusted.")) return fail(Status.EPERM);
  if (!cmd.opened && !canAccess(node, p.ctx, AccessMask.R)) return fail(Status.EACCES);
  if (!isValidXattrName(cmd.name)) return fail(Status.EINVAL);
  const value = node.xattrs?.get(cmd.name);
  return value === undefined ? fail(Status.ENOATTR) : valueResult(value, cmd.mode);
}

function checkSetPermission(p: Planning, node: Node, cmd: CommandOf<"setxattr">): Result | null {
  const uid = p.ctx.uid;
  if (uid !== 0 && (cmd.name.startsWith("trusted.") || cmd.name.startsWith("security."))) return fail(Status.EPERM);
  const owner = uid === 0 || uid === node.uid || (node.eattr & Eattr.NOOWNER) !== 0;
  if (!owner && cmd.name.startsWith("system.")) return fail(Status.EPERM);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!cmd.opened && !canAccess(node, p.ctx, AccessMask.W)) return fail(Status.EACCES);
  return null;
}

function checkSetValue(node: Node, cmd: CommandOf<"setxattr">): Result | null {
  if (!isValidXattrName(cmd.name) || cmd.mode > XattrMode.REMOVE || cmd.mode < 0) return fail(Status.EINVAL);
  const exists = node.xattrs?.has(cmd.name) ?? false;
  if ((cmd.mode === XattrMode.REPLACE_ONLY || cmd.mode === XattrMode.REMOVE) && !exists) return fail(Status.ENOATTR);
  if (cmd.mode === XattrMode.CREATE_ONLY && exists) return fail(Status.EEXIST);
  if (cmd.mode === XattrMode.REMOVE) return null;
  if (cmd.value.length > limits.xattrValueBytesMax) return fail(Status.ERANGE);
  if (!exists && listBytes(node) + cmd.name.length + 1 > limits.xattrListBytesMax) return fail(Status.ERANGE);
  return null;
}

export function planSetxattr(p: Planning, cmd: CommandOf<"setxattr">): Planned {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, cmd.opened);
  if (node === null) return fail(Status.ENOENT);
  const refused = checkSetPermission(p, node, cmd) ?? checkSetValue(node, cmd);
  if (refused !== null) return refused;
  const value = cmd.mode === XattrMode.REMOVE ? null : cmd.value.slice();
  return { kind: "setxattr", inode: node.inode, name: cmd.name, value };
}

export function applySetxattr(a: Applying, op: SetxattrOp): Result {
  const node = requireNode(a.st, op.inode);
  if (op.value === null) {
    node.xattrs?.delete(op.name);
    if (node.xattrs?.size === 0) node.xattrs = null;
  } else {
    node.xattrs ??= new Map();
    node.xattrs.set(op.name, op.value);
  }
  node.ctime = a.ts;
  touch(node, a.stamp, `xattr:${op.name}`, "ctime");
  return ok;
}
