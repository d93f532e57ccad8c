/**
 * Recursive directory statistics, maintained on every change as mfsmaster does
 * (fsnodes_get_stats / fsnodes_add_stats / fsnodes_sub_stats): each directory knows the inodes,
 * directories, files, total length, chunks and their sizes below it. Directory "length" in
 * attributes, GETDIRSTATS and STATFS's inode count come from here. Hard-linked files count once
 * per link, as in MooseFS. Whatever changes a file's length, chunk list or goal re-accounts it
 * with restat.
 *
 * Sharded namespace: stats cover what this shard holds. A remote entry (its node on another
 * shard) adds nothing to its parent's stats, and propagation stops at a parent of another shard:
 * each shard counts its own part of a tree (GETDIRSTATS and directory lengths are per shard).
 */
import { limits } from "@antler/base";
import { NodeType } from "@antler/ops";
import type { Node, State, Stats } from "./state.ts";

/** The contribution of `node` (with its subtree) to its parents' stats. */
export function statsOf(node: Node): Stats {
  if (node.dir !== null) {
    const s = node.dir.stats;
    return { ...s, inodes: s.inodes + 1, dirs: s.dirs + 1 };
  }
  const none = { chunks: 0, size: 0, realSize: 0 };
  if (node.type === NodeType.FILE) {
    const { chunks, size } = fileChunkStats(node);
    return { inodes: 1, dirs: 0, files: 1, length: node.length, chunks, size, realSize: size * node.goal };
  }
  if (node.type === NodeType.SYMLINK) return { inodes: 1, dirs: 0, files: 0, length: node.target.length, ...none };
  return { inodes: 1, dirs: 0, files: 0, length: 0, ...none };
}

/** mfsmaster's block size: the last chunk of a file counts up to the end of its last block. */
const blockBytes = 64 * 1024;

/** Chunks and on-disk size of one file (fsnodes_get_stats): full chunks plus the used part of the last. */
export function fileChunkStats(node: Node): { chunks: number; size: number } {
  const lastChunk = node.length > 0 ? Math.floor((node.length - 1) / limits.chunkBytes) : 0;
  const lastChunkSize = node.length > 0
    ? Math.floor((((node.length - 1) % limits.chunkBytes) + blockBytes) / blockBytes) * blockBytes + limits.chunkHeaderBytes
    : limits.chunkHeaderBytes;
  let chunks = 0;
  let size = 0;
  node.chunks.forEach((chunkId, index) => {
    if (chunkId === 0n) return;
    chunks++;
    if (index < lastChunk) size += limits.chunkBytes + limits.chunkHeaderBytes;
    else if (index === lastChunk) size += lastChunkSize;
  });
  return { chunks, size };
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
    s.chunks += sign * delta.chunks;
    s.size += sign * delta.size;
    s.realSize += sign * delta.realSize;
    if (current.inode === limits.rootInode) return;
    const up = current.parents[0];
    current = up === undefined ? undefined : st.nodes.get(up.parent);
  }
}

/** Re-accounts a node whose own contribution changed (file length, chunks, goal) in all of its parents. */
export function restat(st: State, node: Node, before: Stats): void {
  const after = statsOf(node);
  const delta: Stats = {
    inodes: after.inodes - before.inodes,
    dirs: after.dirs - before.dirs,
    files: after.files - before.files,
    length: after.length - before.length,
    chunks: after.chunks - before.chunks,
    size: after.size - before.size,
    realSize: after.realSize - before.realSize,
  };
  for (const edge of node.parents) propagateStats(st, edge.parent, delta, 1);
}
