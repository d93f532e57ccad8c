/**
 * The read-only namespace requests: STATFS, ACCESS, LOOKUP, GETATTR, READLINK, READDIR
 * (fs_statfs, fs_access, fs_lookup, fs_getattr, fs_readlink, fs_readdir_*). Inode numbers are
 * real: the session root is returned as itself and the gateway shows it to the client as 1.
 *
 * mfsmaster also moves the atime of symlinks and directories on READLINK / READDIR (relatime);
 * those requests are reads here, so that does not happen (the times of files are kept by the
 * mount's AMTIME_INODES).
 */
import { limits } from "@antler/base";
import { AccessMask, NodeType, SessionFlag, Status, type CommandOf, type DirEntry, type Result } from "@antler/ops";
import { fillAttr } from "../attr.ts";
import { Eattr, LookupFlag } from "../eattr.ts";
import { accessMode, canAccess } from "../permissions.ts";
import type { Node } from "../state.ts";
import { statsOf } from "../stats.ts";
import { fail, type Planning } from "./context.ts";
import { findNode, isValidName, viewerOf } from "./nodes.ts";

function detachedLength(p: Planning, kind: "trash" | "sustained"): number {
  let total = 0;
  for (const inode of kind === "trash" ? p.st.trash : p.st.sustained) total += p.st.nodes.get(inode)?.length ?? 0;
  return total;
}

export function readStatfs(p: Planning): Result {
  const whole = p.ctx.rootInode === limits.rootInode;
  const root = p.st.nodes.get(p.ctx.rootInode);
  const inodes = root?.dir ? statsOf(root).inodes : 0;
  return {
    status: Status.OK,
    totalSpace: 0,
    availSpace: 0,
    freeSpace: 0,
    trashSpace: whole ? detachedLength(p, "trash") : 0,
    sustainedSpace: whole ? detachedLength(p, "sustained") : 0,
    inodes,
  };
}

export function readAccess(p: Planning, cmd: CommandOf<"access">): Result {
  const writes = (cmd.modemask & AccessMask.W) !== 0;
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0 && writes) return fail(Status.EROFS);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, true);
  if (node === null) return fail(Status.ENOENT);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0 && writes) return fail(Status.EPERM);
  return canAccess(node, p.ctx, cmd.modemask) ? { status: Status.OK } : fail(Status.EACCES);
}

function lookupFlags(p: Planning, node: Node): number {
  let flags = accessMode(node, p.ctx);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) flags = (flags & LookupFlag.ACCESS_MODES_RO) | LookupFlag.IMMUTABLE;
  if ((node.eattr & Eattr.APPENDONLY) !== 0) flags |= LookupFlag.APPENDONLY;
  if ((node.eattr & Eattr.NODATACACHE) !== 0) flags |= LookupFlag.DIRECTMODE;
  flags &= LookupFlag.ACCESS_BITS;
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) flags |= LookupFlag.RO_FILESYSTEM;
  return flags;
}

/** "." and ".." as LOOKUP resolves them; null for other names. */
function dotEntry(p: Planning, dir: Node, name: string): Node | null {
  if (name === ".") return dir;
  if (name !== "..") return null;
  if (dir.inode === p.ctx.rootInode) return dir;
  const up = dir.parents[0];
  return (up === undefined ? undefined : p.st.nodes.get(up.parent)) ?? p.st.nodes.get(p.ctx.rootInode) ?? dir;
}

export function readLookup(p: Planning, cmd: CommandOf<"lookup">): Result {
  const dir = findNode(p.st, p.ctx.rootInode, cmd.parent, false);
  if (dir === null) return fail(Status.ENOENT_NOCACHE);
  if (dir.dir === null) return fail(Status.ENOTDIR);
  if (!canAccess(dir, p.ctx, AccessMask.X)) return fail(Status.EACCES);
  let node = dotEntry(p, dir, cmd.name);
  if (node === null) {
    if (!isValidName(cmd.name)) return fail(Status.EINVAL);
    const entry = dir.dir.entries.get(cmd.name);
    if (entry === undefined) return fail((dir.eattr & Eattr.NOECACHE) !== 0 ? Status.ENOENT_NOCACHE : Status.ENOENT);
    node = p.st.nodes.get(entry.inode)!;
  }
  return { status: Status.OK, inode: node.inode, attr: fillAttr(node, dir, viewerOf(p.ctx)), lflags: lookupFlags(p, node) };
}

export function readGetattr(p: Planning, cmd: CommandOf<"getattr">): Result {
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, cmd.opened);
  if (node === null) return fail(Status.ENOENT);
  return { status: Status.OK, attr: fillAttr(node, null, viewerOf(p.ctx)) };
}

export function readReadlink(p: Planning, cmd: CommandOf<"readlink">): Result {
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (node === null) return fail(Status.ENOENT);
  if (node.type !== NodeType.SYMLINK) return fail(Status.EINVAL);
  return { status: Status.OK, target: node.target };
}

function dirEntry(p: Planning, name: string, node: Node, parent: Node, withAttr: boolean): DirEntry {
  const entry = { name, inode: node.inode, type: node.type };
  return withAttr ? { ...entry, attr: fillAttr(node, parent, viewerOf(p.ctx)) } : entry;
}

export function readReaddir(p: Planning, cmd: CommandOf<"readdir">): Result {
  const dir = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (dir === null) return fail(Status.ENOENT);
  if (dir.dir === null) return fail(Status.ENOTDIR);
  const mask = cmd.withAttr ? AccessMask.R | AccessMask.X : AccessMask.R;
  if (!canAccess(dir, p.ctx, mask)) return fail(Status.EACCES);
  const entries: DirEntry[] = [dirEntry(p, ".", dir, dir, cmd.withAttr)];
  entries.push(dirEntry(p, "..", dotEntry(p, dir, "..")!, dir, cmd.withAttr));
  // Newest first, as mfsmaster lists its (prepended) children.
  const names = [...dir.dir.entries].reverse();
  for (const [name, entry] of names) {
    if (entries.length >= cmd.maxEntries) break;
    entries.push(dirEntry(p, name, p.st.nodes.get(entry.inode)!, dir, cmd.withAttr));
  }
  return { status: Status.OK, entries: entries.slice(0, Math.max(cmd.maxEntries, 0)) };
}
