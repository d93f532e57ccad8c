/**
 * Recursive directory statistics, maintained on every change as mfsmaster does
 * (fsnodes_get_stats / fsnodes_add_stats / fsnodes_sub_stats): each directory knows the inodes,
 * directories, files and total length below it. Directory "length" in attributes, GETDIRSTATS
 * and STATFS's inode count come from here. Hard-linked files count once per link, as in MooseFS.
 */
import { limits } from "@antler/base";
import { NodeType } from "@antler/ops";
import type { Node, State, Stats } from "./state.ts";

/** The contribution of `node` (with its subtree) to its parents' stats. */
export function statsOf(node: Node): Stats {
  if (node.dir !== null) {
    const s = node.dir.stats;
    return { inodes: s.inodes + 1, dirs: s.dirs + 1, files: s.files, length: s.length };
  }
  if (node.type === NodeType.FILE) return { inodes: 1, dirs: 0, files: 1, length: node.length };
  if (node.type === NodeType.SYMLINK) return { inodes: 1, dirs: 0, files: 0, length: node.target.length };
  return { inodes: 1, dirs: 0, files: 0, length: 0 };
}

/** Adds `sign` × `delta` to directory `dirInode` and every ancestor up to the root. */
export function propagateStats(st: State, dirInode: number, delta: Stats, sign: 1 | -1): void {
  let current = st.nodes.get(dirInode);
  // Bounded by the depth of the tree: directories have exactly one parent and no cycles.
  while (current !== undefined && current.dir !== null) {
    const s = current.dir.stats;
    s.inodes += sign * delta.inodes;
    s.dirs += sign * delta.dirs;
    s.files += sign * delta.files;
    s.length += sign * delta.length;
    if (current.inode === limits.rootInode) return;
    const up = current.parents[0];
    current = up === undefined ? undefined : st.nodes.get(up.parent);
  }
}

/** Re-accounts a node whose own contribution changed (file length) in all of its parents. */
export function restat(st: State, node: Node, before: Stats): void {
  const after = statsOf(node);
  const delta: Stats = {
    inodes: after.inodes - before.inodes,
    dirs: after.dirs - before.dirs,
    files: after.files - before.files,
    length: after.length - before.length,
  };
  for (const edge of node.parents) propagateStats(st, edge.parent, delta, 1);
}
