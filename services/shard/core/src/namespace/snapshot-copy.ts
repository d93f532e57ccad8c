/**
 * SNAPSHOT (mfsmakesnapshot; fs_snapshot + fsnodes_snapshot): copies a file or a directory tree
 * to parentDst/nameDst. Copied files share their source's chunks (each chunk's use count grows);
 * the first write to a shared chunk copies it (chunks/write.ts), so a snapshot costs no data.
 *
 * Rules as mfsmaster applies them: read-only session EROFS; source and target directory must be
 * visible (ENOENT); target directory immutable EPERM; source not readable EACCES; target not a
 * directory EPERM; a directory into itself or below itself EINVAL; target not writable+searchable
 * EACCES; bad name EINVAL. Names that exist (checked through the whole tree first): the source
 * itself EINVAL, undeletable / immutable / append-only EPERM, another type EPERM; a directory is
 * merged into; a file needs SNAPSHOT_MODE_CAN_OVERWRITE (else EEXIST) and is replaced unless it
 * already has the same chunks; other nodes take the source's target/rdev. Inside the tree,
 * directories the caller may not read and search are copied empty, files it may not read are
 * skipped. Owner and mode: with SNAPSHOT_MODE_CPLIKE_ATTR the caller's, mode minus umask;
 * otherwise the source's when the caller is root or the owner, else the caller's with suid/sgid
 * cleared. Copies carry EATTR_SNAPSHOT.
 *
 * Not done (yet): preserving hard links (SNAPSHOT_MODE_PRESERVE_HARDLINKS: each link is copied as
 * its own file), removal mode (SNAPSHOT_MODE_DELETE: EINVAL), and targets on another shard (the
 * target directory must be in the source's shard: ENOENT otherwise), and a bound: one snapshot
 * makes at most 5000 nodes (one log entry), more is EINVAL. A source tree or merged target that
 * meets a node of another shard (a remote entry) is ENOTSUP: a snapshot is one shard's log entry.
 */
import { AccessMask, NodeType, SessionFlag, Status, slotOfInode, type CommandOf, type Result } from "@antler/ops";
import { chooseInode, takeInode } from "../alloc.ts";
import { Eattr, eattrNoRemove } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { SnapshotNode, SnapshotOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { addNode, newNode, touch, type Node, type State } from "../state.ts";
import { restat, statsOf } from "../stats.ts";
import { retainChunk } from "../chunks/table.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { addEntry, disposalOf, unlinkEntry } from "./links.ts";
import { findNode, isAncestor, isRemoteEntry, isValidName, requireNode } from "./nodes.ts";

export const SnapshotMode = { CAN_OVERWRITE: 1, CPLIKE_ATTR: 2, FORCE_REMOVAL: 4, PRESERVE_HARDLINKS: 8, DELETE: 0x80 } as const;

/** Nodes one snapshot may create: the whole copy is one log entry, which must stay small. */
const snapshotNodesMax = 5_000;

/**
 * fsnodes_snapshot_test: may `src` be snapshotted to `dir`/`name`? An existing directory is
 * merged into (its children are tested in turn); an existing file needs CAN_OVERWRITE.
 */
function testTarget(p: Planning, orig: Node, src: Node, dir: Node, name: string, canOverwrite: boolean): Result | null {
  const entry = dir.dir?.entries.get(name);
  if (entry === undefined) return null;
  if (isRemoteEntry(entry)) return fail(Status.ENOTSUP);
  const existing = p.st.nodes.get(entry.inode)!;
  if (existing === orig) return fail(Status.EINVAL);
  if ((existing.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  if (existing.type !== src.type) return fail(Status.EPERM);
  if (src.dir !== null) {
    for (const [childName, child] of src.dir.entries) {
      const refused = testTarget(p, orig, p.st.nodes.get(child.inode)!, existing, childName, canOverwrite);
      if (refused !== null) return refused;
    }
    return null;
  }
  return canOverwrite ? null : fail(Status.EEXIST);
}

export function planSnapshot(p: Planning, cmd: CommandOf<"snapshot">): Planned {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  if ((cmd.smode & SnapshotMode.DELETE) !== 0) return fail(Status.EINVAL);
  const source = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  const dir = findNode(p.st, p.ctx.rootInode, cmd.parentDst, false);
  if (source === null || dir === null) return fail(Status.ENOENT);
  if ((dir.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!canAccess(source, p.ctx, AccessMask.R)) return fail(Status.EACCES);
  if (dir.dir === null) return fail(Status.EPERM);
  if (source.dir !== null && (source === dir || isAncestor(p.st, source, dir))) return fail(Status.EINVAL);
  if (!canAccess(dir, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  if (!isValidName(cmd.nameDst)) return fail(Status.EINVAL);
  const refused = testTarget(p, source, source, dir, cmd.nameDst, (cmd.smode & SnapshotMode.CAN_OVERWRITE) !== 0);
  if (refused !== null) return refused;
  const nodes = planCopies(p, cmd, source, dir);
  if (nodes === null) return fail(Status.NOSPACE);
  if (nodes === "remote") return fail(Status.ENOTSUP);
  if (nodes.length > snapshotNodesMax) return fail(Status.EINVAL);
  // A chunk being created, copied or cut has no settled copies to share yet: try again shortly.
  const busy = nodes.some((n) => p.st.nodes.get(n.source)!.chunks.some((id) => id !== 0n && p.work.isBusy(id, p.nowMs)));
  if (busy) return fail(Status.EAGAIN);
  const op: SnapshotOp = { kind: "snapshot", cplike: (cmd.smode & SnapshotMode.CPLIKE_ATTR) !== 0, nodes };
  return op;
}

function sameChunks(a: Node, b: Node): boolean {
  return a.length === b.length && a.chunks.length === b.chunks.length && a.chunks.every((id, i) => id === b.chunks[i]);
}

interface Pending {
  readonly src: Node;
  readonly parent: number;
  readonly name: string;
  /** The parent existed before the snapshot: the name may exist too. */
  readonly merge: boolean;
}

/** The nodes to make, parents first; null when inodes run out, "remote" when the tree leaves the shard. */
function planCopies(p: Planning, cmd: CommandOf<"snapshot">, source: Node, dir: Node): SnapshotNode[] | null | "remote" {
  // Inodes are taken from a scratch copy of the counters: the entry applies them in this order.
  const scratch: State = { ...p.st, nextLocal: new Map(p.st.nextLocal) };
  const out: SnapshotNode[] = [];
  const stack: Pending[] = [{ src: source, parent: dir.inode, name: cmd.nameDst, merge: true }];
  const cplike = (cmd.smode & SnapshotMode.CPLIKE_ATTR) !== 0;
  while (stack.length > 0) {
    if (out.length > snapshotNodesMax) return out;
    const { src, parent, name, merge } = stack.pop()!;
    if (src.type === NodeType.FILE && !canAccess(src, p.ctx, AccessMask.R)) continue;
    const owner = cplike || p.ctx.uid === 0 || p.ctx.uid === src.uid;
    const attrs = {
      mode: cplike ? src.mode & ~cmd.umask & 0o7777 : owner ? src.mode : src.mode & 0o1777,
      uid: cplike || !owner ? p.ctx.uid : src.uid,
      gid: cplike || !owner ? p.ctx.gids[0]! : src.gid,
    };
    const existingInode = merge ? p.st.nodes.get(parent)?.dir?.entries.get(name)?.inode : undefined;
    const existing = existingInode === undefined ? undefined : p.st.nodes.get(existingInode)!;
    let inode: number;
    if (existing !== undefined && (existing.type !== NodeType.FILE || sameChunks(existing, src))) {
      inode = existing.inode;
      out.push({ action: "update", source: src.inode, inode, parent, name, ...attrs, replaced: null });
    } else {
      const slot = src.type === NodeType.DIRECTORY ? p.env.slotOfNewDirectory(parent, name) : slotOfInode(parent);
      const chosen = chooseInode(scratch, slot);
      if (chosen === null) return null;
      takeInode(scratch, chosen);
      inode = chosen;
      const replaced = existing === undefined ? null : { inode: existing.inode, disposal: disposalOf(p.st, existing) };
      out.push({ action: replaced === null ? "new" : "replace", source: src.inode, inode, parent, name, ...attrs, replaced });
    }
    if (src.dir !== null && canAccess(src, p.ctx, AccessMask.R | AccessMask.X)) {
      // Reverse so that popping visits children in directory order.
      const children = [...src.dir.entries].reverse();
      const mergeChildren = existing !== undefined;
      for (const [childName, entry] of children) {
        if (isRemoteEntry(entry)) return "remote";
        stack.push({ src: p.st.nodes.get(entry.inode)!, parent: inode, name: childName, merge: mergeChildren });
      }
    }
  }
  return out;
}

export function applySnapshot(a: Applying, op: SnapshotOp): Result {
  for (const spec of op.nodes) {
    const src = requireNode(a.st, spec.source);
    const parent = requireNode(a.st, spec.parent);
    if (spec.action === "update") updateCopy(a, op.cplike, spec, src);
    else newCopy(a, op.cplike, spec, src, parent);
  }
  return ok;
}

/** An existing node takes the source's attributes (the common tail of fsnodes_snapshot). */
function updateCopy(a: Applying, cplike: boolean, spec: SnapshotNode, src: Node): void {
  const node = requireNode(a.st, spec.inode);
  mismatch(node.type === src.type, `snapshot over ${spec.inode}: type differs`);
  const before = statsOf(node);
  node.mode = spec.mode;
  node.uid = spec.uid;
  node.gid = spec.gid;
  node.target = src.target;
  node.rdev = src.rdev;
  restat(a.st, node, before);
  if (cplike) {
    node.ctime = a.ts;
  } else {
    // The owner's copy keeps the source's ctime; anyone else's is changed now.
    node.ctime = spec.uid === src.uid ? src.ctime : a.ts;
    node.atime = src.atime;
    node.mtime = src.mtime;
  }
  node.eattr |= Eattr.SNAPSHOT;
  touch(node, a.stamp, "mode", "uid", "gid", "eattr", "atime", "mtime", "ctime");
}

function newCopy(a: Applying, cplike: boolean, spec: SnapshotNode, src: Node, parent: Node): void {
  if (spec.replaced !== null) {
    const old = requireNode(a.st, spec.replaced.inode);
    unlinkEntry(a.st, parent, old, spec.name, spec.replaced.disposal, a.ts, a.stamp);
  }
  takeInode(a.st, spec.inode);
  const node = newNode(spec.inode, src.type, a.ts, a.stamp);
  node.mode = spec.mode;
  node.uid = spec.uid;
  node.gid = spec.gid;
  node.target = src.target;
  node.rdev = src.rdev;
  if (cplike) {
    node.goal = parent.goal;
    node.trashtime = parent.trashtime;
  } else {
    Object.assign(node, {
      goal: src.goal, trashtime: src.trashtime, eattr: src.eattr, winattr: src.winattr,
      atime: src.atime, mtime: src.mtime, ctime: src.ctime,
      xattrs: src.xattrs === null ? null : new Map(src.xattrs), aclAccess: src.aclAccess, aclDefault: src.aclDefault,
    });
  }
  node.eattr |= Eattr.SNAPSHOT;
  if (src.type === NodeType.FILE) {
    node.length = src.length;
    node.chunks = [...src.chunks];
    for (const chunkId of node.chunks) retainChunk(a.st, chunkId, node.goal);
  }
  mismatch(parent.dir !== null, `snapshot into non-directory ${spec.parent}`);
  addNode(a.st, node);
  const ctime = node.ctime;
  addEntry(a.st, parent, node, spec.name, a.ts, a.stamp);
  // addEntry stamps the new entry's ctime; a plain snapshot keeps the source's times.
  if (!cplike) node.ctime = ctime;
  touch(node, a.stamp, "mode", "uid", "gid", "goal", "trashtime", "eattr", "length");
}
