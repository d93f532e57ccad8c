/**
 * FSCKDUMP: one page of this shard's namespace for `antler fsck` (@antler/ops txn.ts FsckNode),
 * plus on the first page the violations of the invariants this shard can check alone:
 * - every local entry names an existing node of this shard that has the matching parent edge,
 *   and a remote entry names an inode of a slot this shard does not own;
 * - every edge to a parent of this shard has its entry;
 * - a directory has at most one parent; an attached node other than the root has one at least;
 * - a directory's subdirs count matches its entries of type directory, and its recursive stats
 *   match its local subtree;
 * - every chunk's use count matches the file index slots naming it;
 * - the node counts (dirCount, fileCount) match the nodes.
 * The cross-shard invariants (entry ↔ edge across shards, one parent, no cycles, no orphans) are
 * the fsck tool's part.
 *
 * Pages follow inode order without sorting: owned slots ascending, and in each slot the local
 * numbers handed out so far (st.nextLocal), so all pages together cost O(inodes ever allocated).
 * The problem scan is O(nodes + entries + chunk references).
 */
import { limits } from "@antler/base";
import { NodeType, Status, type CommandOf, type FsckNode, type Result } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { owns } from "./alloc.ts";
import { entryType } from "./namespace/nodes.ts";
import { emptyStats, type Node, type State, type Stats } from "./state.ts";
import { statsOf } from "./stats.ts";
import { preparedTxids } from "./txn/index.ts";

/** Problems reported at most (the rest is summarised in one more line). */
const problemsMax = 1_000;

/** Inodes of this shard greater than `after`, ascending. */
function* inodesAfter(st: State, after: number): Generator<number> {
  for (const slot of st.slots) {
    const end = st.nextLocal.get(slot);
    if (end === undefined) continue;
    const base = slot * limits.inodesPerSlot;
    if (base + end - 1 <= after) continue;
    for (let local = Math.max(0, after + 1 - base); local < end; local++) {
      if (st.nodes.has(base + local)) yield base + local;
    }
  }
}

function fsckNodeOf(st: State, node: Node): FsckNode {
  const base = {
    inode: node.inode,
    type: node.type,
    parents: node.parents.map((e) => ({ parent: e.parent, name: e.name })),
    detached: node.detached !== null,
  };
  if (node.dir === null) return base;
  const entries = [...node.dir.entries].map(([name, entry]) => ({
    name,
    inode: entry.inode,
    type: entryType(st, entry),
    remote: entry.remoteType !== undefined,
  }));
  return { ...base, entries };
}

export function readFsckdump(st: State, cmd: CommandOf<"fsckdump">): Result {
  const max = Math.max(1, Math.min(cmd.max, limits.fsckPageNodesMax));
  const nodes: FsckNode[] = [];
  let next: number | null = null;
  for (const inode of inodesAfter(st, cmd.afterInode)) {
    if (nodes.length >= max) {
      next = nodes.at(-1)?.inode ?? cmd.afterInode;
      break;
    }
    nodes.push(fsckNodeOf(st, st.nodes.get(inode)!));
  }
  const problems = cmd.afterInode === 0 ? localProblems(st) : [];
  return { status: Status.OK, nodes, problems, next, prepared: preparedTxids(st) };
}

/** The invariants of this shard's state that it can check alone (see the header). */
export function localProblems(st: State): string[] {
  const problems: string[] = [];
  let more = 0;
  const report = (problem: string): void => {
    if (problems.length < problemsMax) problems.push(problem);
    else more++;
  };
  checkEntries(st, report);
  checkEdges(st, report);
  checkStats(st, report);
  checkChunks(st, report);
  checkCounts(st, report);
  if (more > 0) problems.push(`… and ${more} more problems`);
  return problems;
}

type Report = (problem: string) => void;

function checkEntries(st: State, report: Report): void {
  for (const dir of st.nodes.values()) {
    if (dir.dir === null) continue;
    let subdirs = 0;
    for (const [name, entry] of dir.dir.entries) {
      const where = `entry ${dir.inode}/${JSON.stringify(name)} → ${entry.inode}`;
      if (entry.remoteType !== undefined) {
        if (entry.remoteType === NodeType.DIRECTORY) subdirs++;
        if (owns(st, slotOfInode(entry.inode))) report(`${where}: remote entry names an inode of this shard's slots`);
        continue;
      }
      const child = st.nodes.get(entry.inode);
      if (child === undefined) {
        report(`${where}: names a missing node`);
        continue;
      }
      if (child.type === NodeType.DIRECTORY) subdirs++;
      if (!child.parents.some((e) => e.parent === dir.inode && e.name === name)) report(`${where}: the node lacks the parent edge`);
    }
    if (subdirs !== dir.dir.subdirs) report(`directory ${dir.inode}: subdirs ${dir.dir.subdirs}, entries say ${subdirs}`);
  }
}

function checkEdges(st: State, report: Report): void {
  for (const node of st.nodes.values()) {
    if (node.dir !== null && node.parents.length > 1) report(`directory ${node.inode} has ${node.parents.length} parents`);
    if (node.detached !== null && node.parents.length > 0) report(`node ${node.inode} is detached but has parent edges`);
    const attached = node.detached === null && node.inode !== limits.rootInode;
    if (attached && node.parents.length === 0) report(`node ${node.inode} has no parent and is not detached`);
    for (const edge of node.parents) {
      const where = `edge ${node.inode} → ${edge.parent}/${JSON.stringify(edge.name)}`;
      const parent = st.nodes.get(edge.parent);
      if (parent === undefined) {
        if (owns(st, slotOfInode(edge.parent))) report(`${where}: the parent (of this shard) is missing`);
        continue;
      }
      const entry = parent.dir?.entries.get(edge.name);
      if (entry === undefined || entry.inode !== node.inode || entry.remoteType !== undefined) report(`${where}: the parent has no such entry`);
    }
  }
}

function sameStats(a: Stats, b: Stats): boolean {
  return a.inodes === b.inodes && a.dirs === b.dirs && a.files === b.files && a.length === b.length
    && a.chunks === b.chunks && a.size === b.size && a.realSize === b.realSize;
}

function addInto(sum: Stats, delta: Stats): void {
  sum.inodes += delta.inodes;
  sum.dirs += delta.dirs;
  sum.files += delta.files;
  sum.length += delta.length;
  sum.chunks += delta.chunks;
  sum.size += delta.size;
  sum.realSize += delta.realSize;
}

/**
 * Recomputes every directory's recursive stats from its local subtree (post-order, iterative so
 * that depth does not matter; each directory once) and compares them with the kept ones.
 */
function checkStats(st: State, report: Report): void {
  const computed = new Map<number, Stats>();
  const inProgress = new Set<number>();
  for (const start of st.nodes.values()) {
    if (start.dir === null || computed.has(start.inode)) continue;
    const stack: Node[] = [start];
    while (stack.length > 0) {
      const dir = stack.at(-1)!;
      if (!inProgress.has(dir.inode)) {
        inProgress.add(dir.inode);
        for (const entry of dir.dir!.entries.values()) {
          const child = entry.remoteType === undefined ? st.nodes.get(entry.inode) : undefined;
          if (child?.dir === null || child === undefined || computed.has(child.inode)) continue;
          if (inProgress.has(child.inode)) report(`directory ${child.inode} is its own ancestor`);
          else stack.push(child);
        }
        continue;
      }
      stack.pop();
      if (computed.has(dir.inode)) continue;
      const sum = emptyStats();
      for (const entry of dir.dir!.entries.values()) {
        const child = entry.remoteType === undefined ? st.nodes.get(entry.inode) : undefined;
        if (child === undefined) continue;
        if (child.dir === null) {
          addInto(sum, statsOf(child));
          continue;
        }
        const below = computed.get(child.inode) ?? emptyStats();
        addInto(sum, { ...below, inodes: below.inodes + 1, dirs: below.dirs + 1 });
      }
      computed.set(dir.inode, sum);
      if (!sameStats(sum, dir.dir!.stats)) report(`directory ${dir.inode}: recursive stats differ from its subtree`);
    }
  }
}

function checkChunks(st: State, report: Report): void {
  const uses = new Map<bigint, number>();
  for (const node of st.nodes.values()) {
    for (const chunkId of node.chunks) {
      if (chunkId === 0n) continue;
      uses.set(chunkId, (uses.get(chunkId) ?? 0) + 1);
      if (!st.chunks.has(chunkId)) report(`file ${node.inode} names chunk ${chunkId}, which the chunk table lacks`);
    }
  }
  for (const chunk of st.chunks.values()) {
    const used = uses.get(chunk.chunkId) ?? 0;
    if (chunk.refcount !== used) report(`chunk ${chunk.chunkId}: use count ${chunk.refcount}, files name it ${used} times`);
  }
}

function checkCounts(st: State, report: Report): void {
  let dirs = 0;
  let files = 0;
  for (const node of st.nodes.values()) {
    if (node.type === NodeType.DIRECTORY) dirs++;
    if (node.type === NodeType.FILE) files++;
    const local = node.inode % limits.inodesPerSlot;
    if (local >= (st.nextLocal.get(slotOfInode(node.inode)) ?? 0)) report(`node ${node.inode} is beyond its slot's allocation counter`);
  }
  if (dirs !== st.dirCount) report(`dirCount ${st.dirCount}, nodes say ${dirs}`);
  if (files !== st.fileCount) report(`fileCount ${st.fileCount}, nodes say ${files}`);
}
