/**
 * The halves of namespace/links.ts a transaction applies on one shard. A local LINK is one
 * change (the parent's entry and the node's parent edge together); across shards the entry half
 * runs on the parent's shard and the edge half on the node's shard. Each half does what
 * addEntry/removeEntry do to its side (nlink via subdirs, tombstones, times, stamps). The
 * recursive stats move only between nodes of this shard, exactly once per link: when both halves
 * are local, the half that completes a link (the second add) or breaks it (the first remove)
 * moves them, so a transaction whose parts are all on this shard leaves the state a local
 * command would.
 */
import { NodeType, type Name, type NewNodeSpec } from "@antler/ops";
import { mismatch } from "../errors.ts";
import type { Stamp } from "../hlc.ts";
import { disposalOf } from "../namespace/links.ts";
import { pathOf } from "../namespace/nodes.ts";
import { addNode, deleteNode, newNode, tombstoneKey, touch, type Dirent, type Node, type State } from "../state.ts";
import { propagateStats, statsOf } from "../stats.ts";
import { isLocalInode } from "./local.ts";

/** When and by which entry a change is made. */
export interface At {
  readonly ts: number;
  readonly stamp: Stamp;
}

function hasEdge(node: Node, parent: number, name: Name): boolean {
  return node.parents.some((e) => e.parent === parent && e.name === name);
}

function entryNames(st: State, parent: number, name: Name, inode: number): boolean {
  return st.nodes.get(parent)?.dir?.entries.get(name)?.inode === inode;
}

function dirOf(parent: Node): NonNullable<Node["dir"]> {
  mismatch(parent.dir !== null, `inode ${parent.inode} is not a directory`);
  return parent.dir;
}

function touchParent(parent: Node, at: At): void {
  parent.mtime = parent.ctime = at.ts;
  touch(parent, at.stamp, "mtime", "ctime");
}

function touchChild(child: Node, at: At): void {
  child.ctime = at.ts;
  touch(child, at.stamp, "ctime", "parents");
}

/** The entry half of a link: parent/name → inode; a node of another shard gets a remote entry of `type`. */
export function addEntryHalf(st: State, parent: Node, name: Name, inode: number, type: NodeType, at: At): void {
  const dir = dirOf(parent);
  mismatch(!dir.entries.has(name), `name already used in directory ${parent.inode}`);
  const local = isLocalInode(st, inode);
  const child = local ? st.nodes.get(inode) : undefined;
  mismatch(!local || child !== undefined, `entry would name the missing local inode ${inode}`);
  const entry: Dirent = local ? { inode, stamp: at.stamp } : { inode, stamp: at.stamp, remoteType: type };
  dir.entries.set(name, entry);
  st.tombstones.delete(tombstoneKey(parent.inode, name));
  if ((child?.type ?? type) === NodeType.DIRECTORY) dir.subdirs++;
  if (child !== undefined && hasEdge(child, parent.inode, name)) propagateStats(st, parent.inode, statsOf(child), 1);
  touchParent(parent, at);
}

/** The entry half of an unlink: parent/name, which must name `inode`, goes away. */
export function removeEntryHalf(st: State, parent: Node, name: Name, inode: number, at: At): void {
  const dir = dirOf(parent);
  const entry = dir.entries.get(name);
  mismatch(entry?.inode === inode, `entry ${parent.inode}/${name} does not name inode ${inode}`);
  // A local entry naming a missing node is damage (fsck reports it); removing the entry repairs it.
  const child = entry.remoteType === undefined ? st.nodes.get(inode) : undefined;
  if (child !== undefined && hasEdge(child, parent.inode, name)) propagateStats(st, parent.inode, statsOf(child), -1);
  dir.entries.delete(name);
  st.tombstones.set(tombstoneKey(parent.inode, name), at.stamp);
  if ((child?.type ?? entry.remoteType) === NodeType.DIRECTORY) dir.subdirs--;
  touchParent(parent, at);
}

/** The edge half of a link: `child` gets the parent edge parent/name (the parent may be remote). */
export function addEdgeHalf(st: State, child: Node, parent: number, name: Name, at: At): void {
  mismatch(!hasEdge(child, parent, name), `inode ${child.inode} already has the edge ${parent}/${name}`);
  child.parents.push({ parent, name });
  if (entryNames(st, parent, name, child.inode)) propagateStats(st, parent, statsOf(child), 1);
  touchChild(child, at);
}

/** The edge half of an unlink: `child` loses the parent edge parent/name. */
export function removeEdgeHalf(st: State, child: Node, parent: number, name: Name, at: At): void {
  const index = child.parents.findIndex((e) => e.parent === parent && e.name === name);
  mismatch(index >= 0, `inode ${child.inode} has no edge ${parent}/${name}`);
  if (entryNames(st, parent, name, child.inode)) propagateStats(st, parent, statsOf(child), -1);
  child.parents.splice(index, 1);
  touchChild(child, at);
}

/**
 * The edge half of an unlink that may take the node's last edge: the node is disposed of as
 * namespace/links.ts unlinkEntry does (kept while other edges remain, else trash, sustained or
 * freed). Decided on the state at commit, which every replica and replay has too.
 */
export function removeEdgeAndDispose(st: State, child: Node, parent: number, name: Name, at: At): void {
  const disposal = disposalOf(st, child);
  const detaches = disposal === "trash" || disposal === "sustained";
  const path = detaches ? pathOf(st, { parent, name }) : "";
  removeEdgeHalf(st, child, parent, name, at);
  if (disposal === "trash") {
    child.detached = { kind: "trash", path };
    st.trash.add(child.inode);
    touch(child, at.stamp, "detached");
  } else if (disposal === "sustained") {
    child.detached = { kind: "sustained", path };
    st.sustained.add(child.inode);
    touch(child, at.stamp, "detached");
  } else if (disposal === "free") {
    deleteNode(st, child);
  }
}

/** A new node `inode` made from `spec` with its edge parent/name (the parent may be remote). */
export function createNode(st: State, spec: NewNodeSpec, inode: number, parent: number, name: Name, at: At): Node {
  mismatch(!st.nodes.has(inode), `inode ${inode} is already in use`);
  const node = newNode(inode, spec.type as NodeType, at.ts, at.stamp);
  Object.assign(node, {
    mode: spec.mode, uid: spec.uid, gid: spec.gid, rdev: spec.rdev, target: spec.target, goal: spec.goal,
    trashtime: spec.trashtime, eattr: spec.eattr, aclAccess: spec.aclAccess, aclDefault: spec.aclDefault,
  });
  addNode(st, node);
  addEdgeHalf(st, node, parent, name, at);
  return node;
}
