/**
 * Whole-state snapshots: exportState writes every field of the State (Maps and Sets as arrays
 * in their iteration order, so that import followed by export gives the same bytes);
 * importState rebuilds it and recomputes what is derived (open counts).
 *
 * Format history: version 1: JSON via @antler/ops encodeMessage.
 */
import { CodecError, decodeMessage, encodeMessage, type Name, type Result } from "@antler/ops";
import { LogDecodeError } from "./errors.ts";
import type { Stamp } from "./hlc.ts";
import type { DirData, FlockRecord, Node, PosixOwnerLocks, State } from "./state.ts";

interface DirJson {
  readonly entries: [Name, number, Stamp][];
  readonly subdirs: number;
  readonly stats: DirData["stats"];
}

type NodeJson = Omit<Node, "xattrs" | "dir" | "parents"> & {
  readonly parents: [number, Name][];
  readonly xattrs: [Name, Uint8Array][] | null;
  readonly dir: DirJson | null;
};

interface StateJson {
  readonly snapshotVersion: 1;
  readonly shardId: number;
  readonly metaId: bigint;
  readonly origin: number;
  readonly slots: number[];
  readonly defaultGoal: number;
  readonly defaultTrashtime: number;
  readonly nodes: NodeJson[];
  readonly nextLocal: [number, number][];
  readonly trash: number[];
  readonly sustained: number[];
  readonly openFiles: [number, number[]][];
  readonly flocks: [number, FlockRecord[]][];
  readonly posixLocks: [number, PosixOwnerLocks[]][];
  readonly clock: Stamp;
  readonly tombstones: [string, Stamp][];
  readonly applied: [number, Stamp][];
  readonly requests: [string, Result][];
  readonly dirCount: number;
  readonly fileCount: number;
}

function nodeToJson(node: Node): NodeJson {
  const dir = node.dir === null ? null : {
    entries: [...node.dir.entries].map(([name, e]): [Name, number, Stamp] => [name, e.inode, e.stamp]),
    subdirs: node.dir.subdirs,
    stats: node.dir.stats,
  };
  return {
    ...node,
    parents: node.parents.map((e): [number, Name] => [e.parent, e.name]),
    xattrs: node.xattrs === null ? null : [...node.xattrs],
    dir,
  };
}

function nodeFromJson(json: NodeJson): Node {
  const dir: DirData | null = json.dir === null ? null : {
    entries: new Map(json.dir.entries.map(([name, inode, stamp]) => [name, { inode, stamp }])),
    subdirs: json.dir.subdirs,
    stats: { ...json.dir.stats },
  };
  return {
    ...json,
    parents: json.parents.map(([parent, name]) => ({ parent, name })),
    xattrs: json.xattrs === null ? null : new Map(json.xattrs),
    dir,
  };
}

export function exportState(st: State): Uint8Array {
  const json: StateJson = {
    snapshotVersion: 1,
    shardId: st.shardId,
    metaId: st.metaId,
    origin: st.origin,
    slots: [...st.slots],
    defaultGoal: st.defaultGoal,
    defaultTrashtime: st.defaultTrashtime,
    nodes: [...st.nodes.values()].map(nodeToJson),
    nextLocal: [...st.nextLocal],
    trash: [...st.trash],
    sustained: [...st.sustained],
    openFiles: [...st.openFiles].map(([session, set]): [number, number[]] => [session, [...set]]),
    flocks: [...st.flocks],
    posixLocks: [...st.posixLocks],
    clock: st.clock,
    tombstones: [...st.tombstones],
    applied: [...st.applied],
    requests: [...st.requests],
    dirCount: st.dirCount,
    fileCount: st.fileCount,
  };
  return encodeMessage(json);
}

function isStateJson(value: unknown): value is StateJson {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  const arrays = ["slots", "nodes", "nextLocal", "trash", "sustained", "openFiles", "flocks", "posixLocks", "tombstones", "applied", "requests"];
  return v.snapshotVersion === 1 && typeof v.metaId === "bigint" && arrays.every((k) => Array.isArray(v[k]));
}

function stateFromJson(json: StateJson): State {
  const openFiles = new Map(json.openFiles.map(([session, inodes]) => [session, new Set(inodes)]));
  const openCount = new Map<number, number>();
  for (const set of openFiles.values()) for (const inode of set) openCount.set(inode, (openCount.get(inode) ?? 0) + 1);
  return {
    shardId: json.shardId,
    metaId: json.metaId,
    origin: json.origin,
    slots: json.slots,
    defaultGoal: json.defaultGoal,
    defaultTrashtime: json.defaultTrashtime,
    nodes: new Map(json.nodes.map((n) => [n.inode, nodeFromJson(n)])),
    nextLocal: new Map(json.nextLocal),
    trash: new Set(json.trash),
    sustained: new Set(json.sustained),
    openFiles,
    openCount,
    flocks: new Map(json.flocks),
    posixLocks: new Map(json.posixLocks),
    clock: json.clock,
    tombstones: new Map(json.tombstones),
    applied: new Map(json.applied),
    requests: new Map(json.requests),
    dirCount: json.dirCount,
    fileCount: json.fileCount,
  };
}

export function importState(bytes: Uint8Array): State {
  let value: unknown;
  try {
    value = decodeMessage(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw new LogDecodeError("snapshot is not a valid message", { cause: err });
    throw err;
  }
  if (!isStateJson(value)) throw new LogDecodeError("snapshot has an unknown format");
  try {
    return stateFromJson(value);
  } catch (err) {
    throw new LogDecodeError("snapshot is malformed", { cause: err });
  }
}
