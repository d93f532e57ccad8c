/**
 * The MooseFS tool requests: GET/SETTRASHTIME, GET/SETSCLASS (goals 1..9), GET/SETEATTR and
 * GETDIRSTATS (fs_gettrashtime_*, fs_getsclass, fs_geteattr, fs_univ_set*, fs_get_dir_stats).
 * "get" answers per-value counts, files first then directories, ascending by value. "set" walks
 * the node (and its subtree with the recursive smode bit) and counts changed / not changed / not
 * permitted nodes (only the owner, or root, or anyone on NOOWNER nodes may change a node;
 * immutable nodes never). A non-recursive set that was not permitted at all is EPERM.
 *
 * Sharded namespace: recursion and GETDIRSTATS cover what this shard holds. Subtrees whose root
 * lives on another shard are neither counted nor changed here (the recursive stats of a
 * directory do not include them either).
 */
import { NodeType, SessionFlag, Status, type CommandOf, type Result, type SetCounts, type ValueCounts } from "@antler/ops";
import { Eattr, eattrAdminOnly, eattrAll, GetMode, SetMode } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { ToolSetOp } from "../log-entry.ts";
import { touch, type Node, type State } from "../state.ts";
import { restat, statsOf } from "../stats.ts";
import { fail, type Applying, type Planned, type Planning } from "./context.ts";
import { findNode, localChild, requireNode } from "./nodes.ts";

type ToolKind = ToolSetOp["kind"];

/**
 * Every node of a subtree (each directory entry visited once; hard links repeat the node). Entries
 * naming nodes of other shards are skipped: recursive tools work per shard (the part of the tree
 * this shard holds).
 */
function* walk(st: State, start: Node, recursive: boolean): Generator<Node> {
  const stack: Node[] = [start];
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    if (node.dir === null || !recursive) continue;
    for (const entry of node.dir.entries.values()) {
      const child = localChild(st, entry);
      if (child !== null) stack.push(child);
    }
  }
}

function isGoalNode(node: Node): boolean {
  return node.type === NodeType.FILE || node.type === NodeType.DIRECTORY;
}

function counted(values: Map<number, number>): { value: number; count: number }[] {
  return [...values].sort((a, b) => a[0] - b[0]).map(([value, count]) => ({ value, count }));
}

function readCounts(p: Planning, inode: number, gmode: number, kind: "goal" | "trashtime" | "eattr"): Result {
  if (gmode !== GetMode.NORMAL && gmode !== GetMode.RECURSIVE) return fail(Status.EINVAL);
  const start = findNode(p.st, p.ctx.rootInode, inode, false);
  if (start === null) return fail(Status.ENOENT);
  if (kind !== "eattr" && !isGoalNode(start)) return fail(Status.EPERM);
  const files = new Map<number, number>();
  const dirs = new Map<number, number>();
  for (const node of walk(p.st, start, gmode === GetMode.RECURSIVE)) {
    if (kind !== "eattr" && !isGoalNode(node)) continue;
    const isDir = node.dir !== null;
    const value = kind === "goal" ? node.goal : kind === "trashtime" ? node.trashtime : isDir ? node.eattr : node.eattr & ~Eattr.NOECACHE;
    const table = isDir ? dirs : files;
    table.set(value, (table.get(value) ?? 0) + 1);
  }
  const result: ValueCounts = { files: counted(files), dirs: counted(dirs) };
  return { status: Status.OK, ...result };
}

export function readGetgoal(p: Planning, cmd: CommandOf<"getgoal">): Result {
  return readCounts(p, cmd.inode, cmd.gmode, "goal");
}

export function readGettrashtime(p: Planning, cmd: CommandOf<"gettrashtime">): Result {
  return readCounts(p, cmd.inode, cmd.gmode, "trashtime");
}

export function readGeteattr(p: Planning, cmd: CommandOf<"geteattr">): Result {
  return readCounts(p, cmd.inode, cmd.gmode, "eattr");
}

export function readGetdirstats(p: Planning, cmd: CommandOf<"getdirstats">): Result {
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, false);
  if (node === null) return fail(Status.ENOENT);
  if (!isGoalNode(node)) return fail(Status.EPERM);
  const s = statsOf(node);
  return {
    status: Status.OK, inodes: s.inodes, dirs: s.dirs, files: s.files, chunks: s.chunks, length: s.length, size: s.size, realSize: s.realSize,
  };
}

/** A file's new goal reaches its chunks: alone it sets theirs, shared it can only raise it. */
function applyGoalToChunks(st: State, node: Node): void {
  for (const chunkId of node.chunks) {
    const chunk = chunkId === 0n ? undefined : st.chunks.get(chunkId);
    if (chunk === undefined) continue;
    chunk.goal = chunk.refcount <= 1 ? node.goal : Math.max(chunk.goal, node.goal);
  }
}

interface Field {
  get(node: Node): number;
  set(node: Node, value: number): void;
}

const fieldNames = { settrashtime: "trashtime", setgoal: "goal", seteattr: "eattr" } as const;

const fields: Record<ToolKind, Field> = {
  settrashtime: { get: (n) => n.trashtime, set: (n, v) => void (n.trashtime = v) },
  setgoal: { get: (n) => n.goal, set: (n, v) => void (n.goal = v) },
  seteattr: { get: (n) => n.eattr, set: (n, v) => void (n.eattr = v) },
};

function permitted(kind: ToolKind, node: Node, uid: number, value: number): boolean {
  const owner = (node.eattr & Eattr.NOOWNER) !== 0 || uid === 0 || node.uid === uid;
  if (kind === "seteattr") return owner && !((node.eattr & Eattr.IMMUTABLE) !== 0 && (value & Eattr.NOOWNER) !== 0);
  return owner && (node.eattr & Eattr.IMMUTABLE) === 0;
}

function newValue(kind: ToolKind, node: Node, current: number, value: number, smode: number): number {
  const op = smode & SetMode.TMASK;
  if (kind === "seteattr") {
    const wanted = node.dir === null ? value & ~Eattr.NOECACHE : value;
    const base = node.dir === null ? current & ~Eattr.NOECACHE : current;
    if (op === SetMode.SET) return wanted;
    if (op === SetMode.INCREASE) return base | wanted;
    if (op === SetMode.DECREASE) return base & ~wanted;
    return base;
  }
  if (op === SetMode.SET) return value;
  if (op === SetMode.INCREASE) return Math.max(current, value);
  if (op === SetMode.DECREASE) return Math.min(current, value);
  return current;
}

/**
 * Runs a set over the subtree. Without `write` nothing changes: values written are kept in an
 * overlay, so that a node reached twice through hard links counts the same as when applying.
 */
type SetRequest = Omit<ToolSetOp, "counts">;
type SetWrite = { readonly ts: number; readonly stamp: Applying["stamp"] } | null;

function runSet(st: State, op: SetRequest, write: SetWrite): SetCounts {
  const field = fields[op.kind];
  const overlay = new Map<number, number>();
  const counts = { changed: 0, notChanged: 0, notPermitted: 0 };
  for (const node of walk(st, st.nodes.get(op.inode)!, (op.smode & SetMode.RMASK) !== 0)) {
    if (op.kind !== "seteattr" && !isGoalNode(node)) continue;
    if (!permitted(op.kind, node, op.uid, op.value)) {
      counts.notPermitted++;
      continue;
    }
    const current = overlay.get(node.inode) ?? field.get(node);
    const next = newValue(op.kind, node, current, op.value, op.smode);
    if (next === current) {
      counts.notChanged++;
      continue;
    }
    counts.changed++;
    overlay.set(node.inode, next);
    if (write !== null) {
      const goalOfFile = op.kind === "setgoal" && node.type === NodeType.FILE;
      const before = goalOfFile ? statsOf(node) : null;
      field.set(node, next);
      if (goalOfFile) {
        applyGoalToChunks(st, node);
        // A file's realSize is its size × goal.
        restat(st, node, before!);
      }
      node.ctime = write.ts;
      touch(node, write.stamp, fieldNames[op.kind], "ctime");
    }
  }
  return counts;
}

function validate(p: Planning, kind: ToolKind, value: number, smode: number): Result | null {
  if (smode < 0 || smode > SetMode.MAX) return fail(Status.EINVAL);
  if (kind === "setgoal" && (value < 1 || value > 9 || (smode & SetMode.TMASK) === SetMode.EXCHANGE)) return fail(Status.EINVAL);
  if (kind === "seteattr" && (value & ~eattrAll) !== 0) return fail(Status.EINVAL);
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  if (kind === "seteattr" && (p.ctx.sesflags & SessionFlag.ADMIN) === 0 && (value & eattrAdminOnly) !== 0) {
    return fail(Status.EPERM);
  }
  return null;
}

function planSet(p: Planning, kind: ToolKind, inode: number, uid: number, value: number, smode: number): Planned {
  const invalid = validate(p, kind, value, smode);
  if (invalid !== null) return invalid;
  const start = findNode(p.st, p.ctx.rootInode, inode, false);
  if (start === null) return fail(Status.ENOENT);
  if (kind !== "seteattr" && !isGoalNode(start)) return fail(Status.EPERM);
  const op = { kind, inode: start.inode, uid, value, smode };
  const counts = runSet(p.st, op, null);
  if ((smode & SetMode.RMASK) === 0 && counts.notPermitted > 0 && counts.changed === 0 && counts.notChanged === 0) {
    return fail(Status.EPERM);
  }
  if (counts.changed === 0) return { status: Status.OK, ...counts };
  return { ...op, counts };
}

/** mfsmaster keeps trash time in whole hours (16 bits): seconds round up to the next hour. */
export function trashtimeOfSeconds(seconds: number): number {
  return ((Math.ceil(seconds / 3600) & 0xffff) >>> 0) * 3600;
}

export function planSettrashtime(p: Planning, cmd: CommandOf<"settrashtime">): Planned {
  return planSet(p, "settrashtime", cmd.inode, cmd.uid, trashtimeOfSeconds(cmd.trashtime), cmd.smode);
}

export function planSetgoal(p: Planning, cmd: CommandOf<"setgoal">): Planned {
  return planSet(p, "setgoal", cmd.inode, cmd.uid, cmd.goal, cmd.smode);
}

export function planSeteattr(p: Planning, cmd: CommandOf<"seteattr">): Planned {
  return planSet(p, "seteattr", cmd.inode, cmd.uid, cmd.eattr, cmd.smode);
}

export function applyToolSet(a: Applying, op: ToolSetOp): Result {
  requireNode(a.st, op.inode);
  const counts = runSet(a.st, op, { ts: a.ts, stamp: a.stamp });
  const same = counts.changed === op.counts.changed && counts.notChanged === op.counts.notChanged
    && counts.notPermitted === op.counts.notPermitted;
  mismatch(same, `${op.kind} on ${op.inode}: counts differ`);
  return { status: Status.OK, ...counts };
}
