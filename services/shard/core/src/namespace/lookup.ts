/**
 * The read-only namespace requests: STATFS, ACCESS, LOOKUP, GETATTR, READLINK, READDIR
 * (fs_statfs, fs_access, fs_lookup, fs_getattr, fs_readlink, fs_readdir_*). Inode numbers are
 * real: the session root is returned as itself and the gateway shows it to the client as 1.
 *
 * mfsmaster also moves the atime of symlinks and directories on READLINK / READDIR (relatime);
 * those requests are reads here, so that does not happen (the times of files are kept by the
 * mount's AMTIME_INODES).
 *
 * Sharded namespace: an entry may name a node of another shard, and a directory's parent may be
 * on another shard. LOOKUP of such a name (or of ".."), and READDIR with attributes listing such
 * names, answer a RemoteRead: the shell fetches the attributes from the nodes' shards.
 */
import { limits } from "@antler/base";
import { AccessMask, AttrFlag, NodeType, SessionFlag, Status, type Attr, type CommandOf, type DirEntry, type Name, type Result } from "@antler/ops";
import { ownsAllSlots } from "../alloc.ts";
import { fillAttr } from "../attr.ts";
import { Eattr, LookupFlag } from "../eattr.ts";
import { accessMode, accessModeOfAttr, canAccess } from "../permissions.ts";
import type { Dirent, Node } from "../state.ts";
import { statsOf } from "../stats.ts";
import { fail, type Planning, type RemoteRead } from "./context.ts";
import { findNode, isRemoteEntry, isValidName, viewerOf } from "./nodes.ts";

function detachedLength(p: Planning, kind: "trash" | "sustained"): number {
  let total = 0;
  for (const inode of kind === "trash" ? p.st.trash : p.st.sustained) total += p.st.nodes.get(inode)?.length ?? 0;
  return total;
}

/**
 * This shard's share of the whole namespace's inode count as mfsmaster counts it (the root's
 * recursive stats: once per directory entry, plus the root itself): the entries of this shard's
 * directories, remote ones included (each link is counted by its parent's shard). O(nodes): the
 * recursive stats of one shard stop at its borders, so the root's own stats cannot say it.
 */
function linksHere(p: Planning): number {
  let links = p.st.nodes.has(limits.rootInode) ? 1 : 0;
  for (const node of p.st.nodes.values()) if (node.dir !== null) links += node.dir.entries.size;
  return links;
}

/**
 * STATFS goes to every shard and the router adds the answers up. A whole-namespace session in a
 * sharded cluster gets each shard's entries (linksHere); a session rooted in a subfolder gets the
 * part of its subtree on the root's shard only (subtrees below directories of other shards are
 * not counted: no shard knows which of its nodes lie below another shard's directory).
 */
export function readStatfs(p: Planning): Result {
  const whole = p.ctx.rootInode === limits.rootInode;
  const root = p.st.nodes.get(p.ctx.rootInode);
  const inodes = whole && !ownsAllSlots(p.st) ? linksHere(p) : root?.dir ? statsOf(root).inodes : 0;
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

/**
 * mfsmount caches lflags to answer access() and open() without asking the master, and does not
 * cache them when they are 0xFFFF (what it assumes when a master sends none).
 */
const lookupFlagsUnknown = 0xffff;

/**
 * lookupFlags of a node of another shard, from its attributes. When they cannot tell (a possible
 * ACL, or the UNDELETABLE attribute flag, which stands for immutable and append-only alike) the
 * answer is "unknown": the client then asks for every access instead of caching a guess.
 */
function lookupFlagsOfAttr(p: Planning, attr: Attr): number {
  if ((attr.flags & AttrFlag.UNDELETABLE) !== 0) return lookupFlagsUnknown;
  const access = accessModeOfAttr(attr, p.ctx);
  if (access === null) return lookupFlagsUnknown;
  let flags = access;
  if ((attr.flags & AttrFlag.DIRECTMODE) !== 0) flags |= LookupFlag.DIRECTMODE;
  flags &= LookupFlag.ACCESS_BITS;
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) flags |= LookupFlag.RO_FILESYSTEM;
  return flags;
}

/** ".." of `dir`: the local node, or the inode of a parent on another shard. */
function parentOf(p: Planning, dir: Node): Node | number {
  if (dir.inode === p.ctx.rootInode) return dir;
  const up = dir.parents[0];
  if (up === undefined) return p.st.nodes.get(p.ctx.rootInode) ?? dir;
  return p.st.nodes.get(up.parent) ?? up.parent;
}

/**
 * Attributes of a node of another shard as seen in `dir` (fillAttr with `dir` as the parent:
 * the node's shard computed them without one).
 */
function seenIn(attr: Attr, dir: Node): Attr {
  return (dir.eattr & Eattr.NOECACHE) !== 0 ? { ...attr, flags: attr.flags | AttrFlag.NOECACHE } : attr;
}

/** LOOKUP of a node of another shard: its shard gives the attributes; a vanished node is ENOENT. */
function remoteLookup(p: Planning, dir: Node, inode: number): RemoteRead {
  return {
    remote: {
      inodes: [inode],
      complete: (attrs) => {
        const attr = attrs.get(inode) ?? null;
        if (attr === null) return fail(Status.ENOENT);
        return { status: Status.OK, inode, attr: seenIn(attr, dir), lflags: lookupFlagsOfAttr(p, attr) };
      },
    },
  };
}

export function readLookup(p: Planning, cmd: CommandOf<"lookup">): Result | RemoteRead {
  const dir = findNode(p.st, p.ctx.rootInode, cmd.parent, false);
  if (dir === null) return fail(Status.ENOENT_NOCACHE);
  if (dir.dir === null) return fail(Status.ENOTDIR);
  if (!canAccess(dir, p.ctx, AccessMask.X)) return fail(Status.EACCES);
  let node: Node;
  if (cmd.name === ".") {
    node = dir;
  } else if (cmd.name === "..") {
    const up = parentOf(p, dir);
    if (typeof up === "number") return remoteLookup(p, dir, up);
    node = up;
  } else {
    if (!isValidName(cmd.name)) return fail(Status.EINVAL);
    const entry = dir.dir.entries.get(cmd.name);
    if (entry === undefined) return fail((dir.eattr & Eattr.NOECACHE) !== 0 ? Status.ENOENT_NOCACHE : Status.ENOENT);
    if (isRemoteEntry(entry)) return remoteLookup(p, dir, entry.inode);
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

/** One listed name: a local node, or a node of another shard known here by inode and type. */
type Listed = { readonly name: Name; readonly node: Node } | { readonly name: Name; readonly inode: number; readonly type: number };

function listedOf(p: Planning, name: Name, entry: Dirent): Listed {
  if (isRemoteEntry(entry)) return { name, inode: entry.inode, type: entry.remoteType! };
  return { name, node: p.st.nodes.get(entry.inode)! };
}

/**
 * READDIR. Entries naming nodes of other shards are listed with the type their entry keeps; with
 * attributes the answer waits for those nodes' shards (a node that vanished meanwhile is left out).
 */
export function readReaddir(p: Planning, cmd: CommandOf<"readdir">): Result | RemoteRead {
  const dir = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (dir === null) return fail(Status.ENOENT);
  if (dir.dir === null) return fail(Status.ENOTDIR);
  const mask = cmd.withAttr ? AccessMask.R | AccessMask.X : AccessMask.R;
  if (!canAccess(dir, p.ctx, mask)) return fail(Status.EACCES);
  const up = parentOf(p, dir);
  const listed: Listed[] = [
    { name: ".", node: dir },
    typeof up === "number" ? { name: "..", inode: up, type: NodeType.DIRECTORY } : { name: "..", node: up },
  ];
  // Newest first, as mfsmaster lists its (prepended) children.
  const names = [...dir.dir.entries].reverse();
  for (const [name, entry] of names) {
    if (listed.length >= cmd.maxEntries) break;
    listed.push(listedOf(p, name, entry));
  }
  const page = listed.slice(0, Math.max(cmd.maxEntries, 0));
  const viewer = viewerOf(p.ctx);
  // Local entries are answered as they are now; remote ones get their attributes later.
  const entries: (DirEntry | { readonly name: Name; readonly inode: number; readonly remote: true })[] = page.map((l) => {
    if (!("node" in l)) return cmd.withAttr ? { name: l.name, inode: l.inode, remote: true } : { name: l.name, inode: l.inode, type: l.type };
    const entry = { name: l.name, inode: l.node.inode, type: l.node.type };
    return cmd.withAttr ? { ...entry, attr: fillAttr(l.node, dir, viewer) } : entry;
  });
  const remote = entries.filter((e) => "remote" in e).map((e) => e.inode);
  if (remote.length === 0) return { status: Status.OK, entries: entries as DirEntry[] };
  return {
    remote: {
      inodes: [...new Set(remote)],
      complete: (attrs) => {
        const done: DirEntry[] = [];
        for (const e of entries) {
          if (!("remote" in e)) {
            done.push(e);
            continue;
          }
          const attr = attrs.get(e.inode) ?? null;
          if (attr !== null) done.push({ name: e.name, inode: e.inode, type: attr.type, attr: seenIn(attr, dir) });
        }
        return { status: Status.OK, entries: done };
      },
    },
  };
}
