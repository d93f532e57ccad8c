/**
 * Finding nodes the way mfsmaster's fsnodes_node_find_ext does: a session with a subfolder root
 * only sees that root and what lies below it (except for requests on open files, which may reach
 * nodes unlinked meanwhile), and name validation (fsnodes_namecheck).
 */
import { limits } from "@antler/base";
import type { Name, NodeType } from "@antler/ops";
import type { Viewer } from "../attr.ts";
import { slotOfInode } from "@antler/slots";
import { owns } from "../alloc.ts";
import { mismatch } from "../errors.ts";
import type { Caller } from "../log-entry.ts";
import type { Dirent, Edge, Node, State } from "../state.ts";

/** Whether directory `dir` is a proper ancestor of `node` (through any of its links). */
export function isAncestor(st: State, dir: Node, node: Node): boolean {
  if (dir.dir === null || node.detached !== null) return false;
  for (const edge of node.parents) {
    let current = st.nodes.get(edge.parent);
    // Bounded by the tree depth: a directory has one parent and the tree has no cycles.
    while (current !== undefined) {
      if (current === dir) return true;
      const up = current.parents[0];
      current = up === undefined ? undefined : st.nodes.get(up.parent);
    }
  }
  return false;
}

/**
 * Whether `node` lies below directory `rootInode` (through any of its links): true or false, or
 * null when every path upwards that did not answer "no" leaves this shard first (a parent on
 * another shard: @antler/ops txn.ts) so that this shard cannot tell.
 */
export function liesBelow(st: State, rootInode: number, node: Node): boolean | null {
  let undecided = false;
  for (const edge of node.parents) {
    let inode = edge.parent;
    // Bounded by the tree depth: a directory has one parent and the tree has no cycles.
    for (;;) {
      if (inode === rootInode) return true;
      const current = st.nodes.get(inode);
      if (current === undefined) {
        undecided = true;
        break;
      }
      const up = current.parents[0];
      if (inode === limits.rootInode || up === undefined) break;
      inode = up.parent;
    }
  }
  return undecided ? null : false;
}

/**
 * The node `inode` as seen from a session rooted at `rootInode`; null when it does not exist or
 * lies outside the session's subtree (unless `anywhere`, used for open files and ACCESS).
 *
 * In a sharded namespace the path from a node up to the session root may pass through other
 * shards (or the session root itself may live elsewhere). This shard cannot follow it, so a node
 * whose ancestry leaves the shard before reaching the session root counts as visible: a known
 * relaxation of mfsmaster's subfolder confinement for sharded clusters (clients only learn
 * inodes through lookups from their root, so a well-behaved mount never notices).
 */
export function findNode(st: State, rootInode: number, inode: number, anywhere: boolean): Node | null {
  const node = st.nodes.get(inode);
  if (node === undefined) return null;
  if (rootInode === limits.rootInode || inode === rootInode) {
    if (inode === rootInode && node.dir === null) return null;
    return node;
  }
  const root = st.nodes.get(rootInode);
  if (root === undefined ? owns(st, slotOfInode(rootInode)) : root.dir === null) return null;
  if (anywhere) return node;
  if (node.detached !== null) return null;
  return liesBelow(st, rootInode, node) !== false ? node : null;
}

/** fsnodes_namecheck: 1..255 bytes, not "." or "..", no '/' and no NUL. */
export function isValidName(name: Name): boolean {
  if (name.length === 0 || name.length > limits.nameBytesMax) return false;
  if (name === "." || name === "..") return false;
  return !name.includes("/") && !name.includes("\0");
}

/**
 * The path of a directory entry from the file-system root (kept with trashed files). When the
 * path leaves this shard (a parent on another shard) it starts at the last directory known here.
 */
export function pathOf(st: State, edge: Edge): Name {
  const parts: Name[] = [edge.name];
  let current = st.nodes.get(edge.parent);
  while (current !== undefined && current.inode !== limits.rootInode) {
    const up = current.parents[0];
    if (up === undefined) break;
    parts.push(up.name);
    current = st.nodes.get(up.parent);
  }
  return parts.reverse().join("/");
}

export function viewerOf(caller: Caller | { readonly uid: number; readonly sesflags: number }): Viewer {
  return { uid: caller.uid, sesflags: caller.sesflags };
}

/** The node an entry names; a missing one means the log does not fit the state. */
export function requireNode(st: State, inode: number): Node {
  const node = st.nodes.get(inode);
  mismatch(node !== undefined, `inode ${inode} does not exist`);
  return node;
}

/** Whether a directory entry names a node of another shard (@antler/ops txn.ts). */
export function isRemoteEntry(entry: Dirent): boolean {
  return entry.remoteType !== undefined;
}

/** The node a local entry names; null for a remote entry. */
export function localChild(st: State, entry: Dirent): Node | null {
  if (entry.remoteType !== undefined) return null;
  return st.nodes.get(entry.inode) ?? null;
}

/** The type of the node an entry names (kept in the entry itself when the node is remote). */
export function entryType(st: State, entry: Dirent): NodeType {
  return entry.remoteType ?? st.nodes.get(entry.inode)!.type;
}
