/**
 * Finding nodes the way mfsmaster's fsnodes_node_find_ext does: a session with a subfolder root
 * only sees that root and what lies below it (except for requests on open files, which may reach
 * nodes unlinked meanwhile), and name validation (fsnodes_namecheck).
 */
import { limits } from "@antler/base";
import type { Name } from "@antler/ops";
import type { Viewer } from "../attr.ts";
import { mismatch } from "../errors.ts";
import type { Caller } from "../log-entry.ts";
import type { Edge, Node, State } from "../state.ts";

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
 * The node `inode` as seen from a session rooted at `rootInode`; null when it does not exist or
 * lies outside the session's subtree (unless `anywhere`, used for open files and ACCESS).
 */
export function findNode(st: State, rootInode: number, inode: number, anywhere: boolean): Node | null {
  const node = st.nodes.get(inode);
  if (node === undefined) return null;
  if (rootInode === limits.rootInode || inode === rootInode) {
    if (inode === rootInode && node.dir === null) return null;
    return node;
  }
  const root = st.nodes.get(rootInode);
  if (root === undefined || root.dir === null) return null;
  if (!anywhere && !isAncestor(st, root, node)) return null;
  return node;
}

/** fsnodes_namecheck: 1..255 bytes, not "." or "..", no '/' and no NUL. */
export function isValidName(name: Name): boolean {
  if (name.length === 0 || name.length > limits.nameBytesMax) return false;
  if (name === "." || name === "..") return false;
  return !name.includes("/") && !name.includes("\0");
}

/** The path of a directory entry from the file-system root (kept with trashed files). */
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
