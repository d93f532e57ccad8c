/**
 * txprepare's checks of each part against this shard's state: the checks (and statuses) the
 * local command makes on the side this shard owns — create.ts for entry-new, remove.ts for
 * unlink/rmdir, rename.ts, link.ts — so a cross-shard operation fails exactly as a local one
 * would. A part whose facts no longer hold (the entry now names another inode, a name the
 * coordinator saw free is taken, an edge is gone) means the coordinator planned from a state
 * that changed since: TXLOCKED, so it aborts and plans again from fresh facts.
 */
import { limits } from "@antler/base";
import { AccessMask, NodeType, Status, type Result, type TxPart, type TxPartOutput } from "@antler/ops";
import { chooseInode } from "../alloc.ts";
import { Eattr, eattrNoRemove } from "../eattr.ts";
import { fail, type Planning } from "../namespace/context.ts";
import { planNewNodeSpec } from "../namespace/create.ts";
import { findNode, isAncestor, isValidName } from "../namespace/nodes.ts";
import { canAccess, stickyAllows } from "../permissions.ts";
import type { Node } from "../state.ts";
import { isLocalInode, stickyAllowsOwner } from "./local.ts";

type Checked = TxPartOutput | Result;

/** Facts the coordinator planned with no longer hold: it retries from fresh facts. */
const stale = fail(Status.TXLOCKED);

/** A directory this shard owns that the caller may change (write + search), as the commands check it. */
function writableDir(p: Planning, inode: number, extraEattr: number): Node | Result {
  const dir = findNode(p.st, p.ctx.rootInode, inode, false);
  if (dir === null) return fail(Status.ENOENT);
  if (dir.dir === null) return fail(Status.ENOTDIR);
  if ((dir.eattr & (Eattr.IMMUTABLE | extraEattr)) !== 0) return fail(Status.EPERM);
  if (!canAccess(dir, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  return dir;
}

function isNode(value: Node | Result): value is Node {
  return !("status" in value);
}

function checkEntryNew(p: Planning, part: Extract<TxPart, { op: "entry-new" }>): Checked {
  const spec = planNewNodeSpec(p, part.cmd);
  if ("status" in spec) return spec;
  return { op: "entry-new", spec };
}

function checkNodeNew(p: Planning, part: Extract<TxPart, { op: "node-new" }>): Checked {
  const inode = chooseInode(p.st, part.slot);
  if (inode === null) return fail(Status.NOSPACE);
  return { op: "node-new", inode };
}

/** The type of what parent/name names: the local node's, or the remote entry's. */
function entryType(p: Planning, parent: Node, name: string): number | undefined {
  const entry = parent.dir?.entries.get(name);
  if (entry === undefined) return undefined;
  return entry.remoteType ?? p.st.nodes.get(entry.inode)?.type;
}

function checkEntryRemove(p: Planning, part: Extract<TxPart, { op: "entry-remove" }>): Checked {
  const parent = writableDir(p, part.parent, Eattr.APPENDONLY);
  if (!isNode(parent)) return parent;
  if (!isValidName(part.name)) return fail(Status.EINVAL);
  const entry = parent.dir!.entries.get(part.name);
  if (entry === undefined) return fail(Status.ENOENT);
  if (entry.inode !== part.inode) return stale;
  const child = entry.remoteType === undefined ? p.st.nodes.get(entry.inode) : undefined;
  const stickyOk = child === undefined ? stickyAllowsOwner(parent, part.nodeUid, p.ctx.uid) : stickyAllows(parent, child, p.ctx.uid);
  if (!stickyOk) return fail(Status.EPERM);
  if (part.kind === "rename") return { op: "entry-remove" };
  if (child !== undefined && (child.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  const isDir = entryType(p, parent, part.name) === NodeType.DIRECTORY;
  if (part.kind === "unlink" && isDir) return fail(Status.EPERM);
  if (part.kind === "rmdir" && !isDir) return fail(Status.ENOTDIR);
  if (part.kind === "rmdir" && child !== undefined && child.dir!.entries.size > 0) return fail(Status.ENOTEMPTY);
  return { op: "entry-remove" };
}

function checkEntryAdd(p: Planning, part: Extract<TxPart, { op: "entry-add" }>): Checked {
  const target = writableDir(p, part.parent, 0);
  if (!isNode(target)) return target;
  if (!isValidName(part.name)) return fail(Status.EINVAL);
  if (isLocalInode(p.st, part.inode)) {
    const node = p.st.nodes.get(part.inode);
    if (node === undefined) return stale;
    if (node.type !== part.type) return fail(Status.EINVAL);
  }
  const existing = target.dir!.entries.get(part.name);
  if (part.kind === "link") {
    if (part.replace !== null) return fail(Status.EINVAL);
    return existing === undefined ? { op: "entry-add" } : fail(Status.EEXIST);
  }
  if (part.replace === null) return existing === undefined ? { op: "entry-add" } : stale;
  if (existing?.inode !== part.replace) return stale;
  // Renaming onto another link of the same node changes nothing: the coordinator answers that alone.
  if (part.replace === part.inode) return fail(Status.EINVAL);
  const replaced = existing.remoteType === undefined ? p.st.nodes.get(existing.inode) : undefined;
  if (replaced === undefined) return stickyAllowsOwner(target, part.replaceUid, p.ctx.uid) ? { op: "entry-add" } : fail(Status.EPERM);
  if (replaced.dir !== null && replaced.dir.entries.size > 0) return fail(Status.ENOTEMPTY);
  if (!stickyAllows(target, replaced, p.ctx.uid)) return fail(Status.EPERM);
  if ((replaced.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  return { op: "entry-add" };
}

function checkEdgeAdd(p: Planning, part: Extract<TxPart, { op: "edge-add" }>): Checked {
  const node = findNode(p.st, p.ctx.rootInode, part.inode, false);
  if (node === null) return fail(Status.ENOENT);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (node.detached !== null) return fail(Status.ENOENT);
  if (node.dir !== null) return fail(Status.EPERM);
  if (node.parents.length >= limits.hardLinksMax) return fail(Status.NOSPACE);
  if (node.parents.some((e) => e.parent === part.parent && e.name === part.name)) return stale;
  return { op: "edge-add" };
}

/**
 * The entry's shard judged the sticky-bit rule by the owner the coordinator inspected; a chown
 * between that inspection and this prepare (which locks the node) makes the judgement stale.
 */
function ownerChanged(node: Node, ownerUid: number | undefined): boolean {
  return ownerUid !== undefined && node.uid !== ownerUid;
}

function checkEdgeRemove(p: Planning, part: Extract<TxPart, { op: "edge-remove" }>): Checked {
  const node = p.st.nodes.get(part.inode);
  if (node === undefined) return fail(Status.ENOENT);
  if (!node.parents.some((e) => e.parent === part.parent && e.name === part.name)) return stale;
  if (ownerChanged(node, part.ownerUid)) return stale;
  if (part.kind === "replaced") {
    if (node.dir !== null && node.dir.entries.size > 0) return fail(Status.ENOTEMPTY);
    if ((node.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
    return { op: "edge-remove" };
  }
  if ((node.eattr & eattrNoRemove) !== 0) return fail(Status.EPERM);
  if (part.kind === "unlink" && node.dir !== null) return fail(Status.EPERM);
  if (part.kind === "rmdir" && node.dir === null) return fail(Status.ENOTDIR);
  if (part.kind === "rmdir" && node.dir!.entries.size > 0) return fail(Status.ENOTEMPTY);
  return { op: "edge-remove" };
}

function checkEdgeMove(p: Planning, part: Extract<TxPart, { op: "edge-move" }>): Checked {
  const node = p.st.nodes.get(part.inode);
  if (node === undefined) return fail(Status.ENOENT);
  if (!node.parents.some((e) => e.parent === part.from.parent && e.name === part.from.name)) return stale;
  if (ownerChanged(node, part.ownerUid)) return stale;
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (node.dir === null) return { op: "edge-move" };
  const target = p.st.nodes.get(part.to.parent);
  if (target !== undefined && (node === target || isAncestor(p.st, node, target))) return fail(Status.EINVAL);
  // The directory's ".." changes, which needs write permission on the directory itself.
  if (part.from.parent !== part.to.parent && !canAccess(node, p.ctx, AccessMask.W)) return fail(Status.EACCES);
  return { op: "edge-move" };
}

/** The prepare-time output of `part`, or the failure the command would give. */
export function checkPart(p: Planning, part: TxPart): Checked {
  switch (part.op) {
    case "entry-new": return checkEntryNew(p, part);
    case "node-new": return checkNodeNew(p, part);
    case "entry-remove": return checkEntryRemove(p, part);
    case "entry-add": return checkEntryAdd(p, part);
    case "edge-add": return checkEdgeAdd(p, part);
    case "edge-remove": return checkEdgeRemove(p, part);
    case "edge-move": return checkEdgeMove(p, part);
  }
}

/** The inodes `part` touches (the caller keeps those of this shard). */
export function touchedInodes(part: TxPart): number[] {
  switch (part.op) {
    case "entry-new": return [part.cmd.parent];
    case "node-new": return [part.parent];
    case "entry-remove": return [part.parent, part.inode];
    case "entry-add": return part.replace === null ? [part.parent, part.inode] : [part.parent, part.inode, part.replace];
    case "edge-add": case "edge-remove": return [part.inode, part.parent];
    case "edge-move": return [part.inode, part.from.parent, part.to.parent];
  }
}

/**
 * Which part kinds must live on this shard: entry-* parts need their parent here, node-new its
 * slot, edge-* parts their node. A part sent to the wrong shard is a coordinator bug: EINVAL.
 */
export function isOwnedHere(p: Planning, part: TxPart): boolean {
  switch (part.op) {
    case "entry-new": return isLocalInode(p.st, part.cmd.parent);
    case "node-new": return true;
    case "entry-remove": case "entry-add": return isLocalInode(p.st, part.parent);
    case "edge-add": case "edge-remove": case "edge-move": return isLocalInode(p.st, part.inode);
  }
}

function sameEdge(a: { readonly parent: number; readonly name: string }, parent: number, name: string): boolean {
  return a.parent === parent && a.name === name;
}

/**
 * Whether every half of a link that this shard owns both sides of comes with its other half in
 * the same transaction (an entry removed here whose node is here loses its edge too, and so on).
 * Otherwise the commit would leave an entry without its edge or an edge without its entry: a
 * coordinator bug, refused (EINVAL) before anything is logged.
 */
export function halvesPaired(p: Planning, parts: readonly TxPart[]): boolean {
  const local = (inode: number): boolean => isLocalInode(p.st, inode);
  const has = (match: (part: TxPart) => boolean): boolean => parts.some(match);
  const edgeGone = (inode: number, parent: number, name: string): boolean => has((q) =>
    (q.op === "edge-remove" && q.inode === inode && sameEdge(q, parent, name)) || (q.op === "edge-move" && q.inode === inode && sameEdge(q.from, parent, name)));
  const edgeMade = (inode: number, parent: number, name: string): boolean => has((q) =>
    (q.op === "edge-add" && q.inode === inode && sameEdge(q, parent, name)) || (q.op === "edge-move" && q.inode === inode && sameEdge(q.to, parent, name)));
  const entryGone = (parent: number, name: string, inode: number): boolean => has((q) =>
    (q.op === "entry-remove" && q.inode === inode && sameEdge(q, parent, name)) || (q.op === "entry-add" && q.replace === inode && sameEdge(q, parent, name)));
  const entryMade = (parent: number, name: string, inode: number): boolean => has((q) =>
    q.op === "entry-add" && q.inode === inode && sameEdge(q, parent, name));
  return parts.every((part) => {
    switch (part.op) {
      case "entry-new": return true;
      case "node-new": return !local(part.parent) || has((q) => q.op === "entry-new" && sameEdge(q.cmd, part.parent, part.name));
      case "entry-remove": return !local(part.inode) || edgeGone(part.inode, part.parent, part.name);
      case "entry-add": return (!local(part.inode) || edgeMade(part.inode, part.parent, part.name))
        // A replaced entry naming a missing node (damage) goes without an edge to remove.
        && (part.replace === null || !p.st.nodes.has(part.replace) || edgeGone(part.replace, part.parent, part.name));
      case "edge-add": return !local(part.parent) || entryMade(part.parent, part.name, part.inode);
      case "edge-remove": return !local(part.parent) || entryGone(part.parent, part.name, part.inode);
      case "edge-move": return (!local(part.from.parent) || entryGone(part.from.parent, part.from.name, part.inode))
        && (!local(part.to.parent) || entryMade(part.to.parent, part.to.name, part.inode));
    }
  });
}
