/**
 * Whole-state snapshots: exportState writes every field of the State (Maps and Sets as arrays
 * in their iteration order, so that import followed by export gives the same bytes);
 * importState rebuilds it and recomputes what is derived (open counts).
 *
 * Format history:
 * - version 1: one JSON document via @antler/ops encodeMessage. Fails near a million files: V8
 *   caps a string at ~512 MiB. Still read.
 * - version 2: JSON lines — a header line (everything but the nodes, `nodeCount` instead), then
 *   one line per node, each encoded separately. JSON escapes every newline inside strings, so 0x0A
 *   only ever separates lines. Still read (no chunks).
 * - version 3 (written now): as version 2, plus the chunk table: the header has `chunkCount` and
 *   `chunkCounters`, nodes carry their chunk lists, and `chunkCount` chunk lines follow the node
 *   lines. Early version-3 snapshots also carry `resends` (a per-packet result memory that request
 *   ids replaced, see ADR 0009): read and ignored. Added later without a new version (older version-3 snapshots simply
 *   lack them): the type of a remote directory entry as a 4th element of its entry, and the
 *   cross-shard transaction state (`preparedTxns`, `decidedTxns`, `txRequests`; the locks are
 *   derived from the prepared transactions).
 */
import { CodecError, decodeMessage, encodeMessage, type Name, type NodeType, type Result } from "@antler/ops";
import { LogDecodeError } from "./errors.ts";
import type { Stamp } from "./hlc.ts";
import {
  emptyStats, newNode, type ChunkRecord, type DirData, type Dirent, type FlockRecord, type Node, type PosixOwnerLocks, type PreparedTxn,
  type State, type TxOutcome,
} from "./state.ts";
import { isPreparedTxn } from "./txn/well-formed.ts";

interface DirJson {
  /** [name, inode, stamp] or, for a remote entry, [name, inode, stamp, remoteType]. */
  readonly entries: ([Name, number, Stamp] | [Name, number, Stamp, NodeType])[];
  readonly subdirs: number;
  readonly stats: DirData["stats"];
}

type NodeJson = Omit<Node, "xattrs" | "dir" | "parents" | "chunks"> & {
  /** Absent before snapshot version 3. */
  readonly chunks?: bigint[];
  readonly parents: [number, Name][];
  readonly xattrs: [Name, Uint8Array][] | null;
  readonly dir: DirJson | null;
};

/** The snapshot format exportState writes; importState reads it and every older one. */
export const snapshotFormatVersion = 3;

type ChunkJson = Omit<ChunkRecord, "copies"> & { readonly copies: [number, number][] };

function chunkToJson(chunk: ChunkRecord): ChunkJson {
  return { ...chunk, copies: [...chunk.copies] };
}

function chunkFromJson(json: ChunkJson): ChunkRecord {
  return { ...json, copies: new Map(json.copies) };
}

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
  /** Version 3 on. */
  readonly chunkCounters?: [number, bigint][];
  readonly chunks?: ChunkJson[];
  /** Later version 3 on (absent: none). */
  readonly preparedTxns?: PreparedTxn[];
  readonly decidedTxns?: [string, TxOutcome][];
  readonly txRequests?: [string, string][];
}

function nodeToJson(node: Node): NodeJson {
  const dir = node.dir === null ? null : {
    entries: [...node.dir.entries].map(([name, e]): DirJson["entries"][number] =>
      e.remoteType === undefined ? [name, e.inode, e.stamp] : [name, e.inode, e.stamp, e.remoteType]),
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
    entries: new Map(json.dir.entries.map(([name, inode, stamp, remoteType]): [Name, Dirent] =>
      [name, remoteType === undefined ? { inode, stamp } : { inode, stamp, remoteType }])),
    subdirs: json.dir.subdirs,
    // Snapshots before version 3 have no chunk sizes; they had no chunks either.
    stats: { ...emptyStats(), ...json.dir.stats },
  };
  // Fields in the order newNode gives them, so that a node from an older snapshot (without some
  // field) exports exactly like one made now.
  const node = newNode(json.inode, json.type, 0, json.stamp);
  return Object.assign(node, {
    ...json,
    chunks: json.chunks ?? [],
    parents: json.parents.map(([parent, name]) => ({ parent, name })),
    xattrs: json.xattrs === null ? null : new Map(json.xattrs),
    dir,
  });
}

type HeaderJson = Omit<StateJson, "snapshotVersion" | "nodes" | "chunks"> & {
  readonly snapshotVersion: 2 | 3;
  readonly nodeCount: number;
  /** Version 3 on. */
  readonly chunkCount?: number;
};

const newline = 0x0a;

export function exportState(st: State): Uint8Array {
  const header: HeaderJson = {
    snapshotVersion: 3,
    shardId: st.shardId,
    metaId: st.metaId,
    origin: st.origin,
    slots: [...st.slots],
    defaultGoal: st.defaultGoal,
    defaultTrashtime: st.defaultTrashtime,
    nodeCount: st.nodes.size,
    chunkCount: st.chunks.size,
    chunkCounters: [...st.chunkCounters],
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
    preparedTxns: [...st.preparedTxns.values()],
    decidedTxns: [...st.decidedTxns],
    txRequests: [...st.txRequests],
  };
  const lines: Uint8Array[] = [encodeMessage(header)];
  let total = lines[0]!.length + 1;
  for (const node of st.nodes.values()) {
    const line = encodeMessage(nodeToJson(node));
    lines.push(line);
    total += line.length + 1;
  }
  for (const chunk of st.chunks.values()) {
    const line = encodeMessage(chunkToJson(chunk));
    lines.push(line);
    total += line.length + 1;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const line of lines) {
    out.set(line, offset);
    offset += line.length;
    out[offset++] = newline;
  }
  return out;
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
  if (!(json.preparedTxns ?? []).every(isPreparedTxn)) throw new LogDecodeError("snapshot has a malformed prepared transaction");
  const isPairs = (pairs: unknown, valueOk: (value: unknown) => boolean): boolean => pairs === undefined
    || (Array.isArray(pairs) && pairs.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && valueOk(pair[1])));
  const decidedOk = isPairs(json.decidedTxns, (outcome) => outcome === "commit" || outcome === "abort");
  if (!decidedOk || !isPairs(json.txRequests, (txid) => typeof txid === "string")) {
    throw new LogDecodeError("snapshot has malformed transaction memories");
  }
  const preparedTxns = new Map((json.preparedTxns ?? []).map((txn) => [txn.txid, txn]));
  const txLocks = new Map<number, string>();
  for (const txn of preparedTxns.values()) for (const inode of txn.locks) txLocks.set(inode, txn.txid);
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
    chunks: new Map((json.chunks ?? []).map((c) => [c.chunkId, chunkFromJson(c)])),
    chunkCounters: new Map(json.chunkCounters ?? []),
    dirCount: json.dirCount,
    fileCount: json.fileCount,
    preparedTxns,
    txLocks,
    decidedTxns: new Map(json.decidedTxns ?? []),
    txRequests: new Map(json.txRequests ?? []),
  };
}

function decodeLine(bytes: Uint8Array, what: string): unknown {
  try {
    return decodeMessage(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw new LogDecodeError(`snapshot ${what} is not a valid message`, { cause: err });
    throw err;
  }
}

function isHeaderJson(value: unknown): value is HeaderJson {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  const arrays = ["slots", "nextLocal", "trash", "sustained", "openFiles", "flocks", "posixLocks", "tombstones", "applied", "requests"];
  const version3 = v.snapshotVersion === 3 && Number.isInteger(v.chunkCount) && Array.isArray(v.chunkCounters);
  return (v.snapshotVersion === 2 || version3) && typeof v.metaId === "bigint" && Number.isInteger(v.nodeCount)
    && arrays.every((k) => Array.isArray(v[k]));
}

/** Versions 2 and 3: header line, then `nodeCount` node lines, then `chunkCount` chunk lines. */
function importLines(bytes: Uint8Array, headerEnd: number): State | null {
  const header = decodeLine(bytes.subarray(0, headerEnd), "header");
  if (!isHeaderJson(header)) return null;
  const nodes: NodeJson[] = [];
  const chunks: ChunkJson[] = [];
  let start = headerEnd + 1;
  while (start < bytes.length) {
    const end = bytes.indexOf(newline, start);
    if (end < 0) throw new LogDecodeError("snapshot is truncated: last line has no end");
    if (nodes.length < header.nodeCount) {
      const node = decodeLine(bytes.subarray(start, end), `node ${nodes.length}`);
      if (node === null || typeof node !== "object" || !Number.isInteger((node as { inode?: unknown }).inode)) {
        throw new LogDecodeError(`snapshot node ${nodes.length} is malformed`);
      }
      nodes.push(node as NodeJson);
    } else {
      const chunk = decodeLine(bytes.subarray(start, end), `chunk ${chunks.length}`);
      if (chunk === null || typeof chunk !== "object" || typeof (chunk as { chunkId?: unknown }).chunkId !== "bigint"
        || !Array.isArray((chunk as { copies?: unknown }).copies)) {
        throw new LogDecodeError(`snapshot chunk ${chunks.length} is malformed`);
      }
      chunks.push(chunk as ChunkJson);
    }
    start = end + 1;
  }
  if (nodes.length !== header.nodeCount) throw new LogDecodeError(`snapshot has ${nodes.length} nodes, its header says ${header.nodeCount}`);
  const chunkCount = header.chunkCount ?? 0;
  if (chunks.length !== chunkCount) throw new LogDecodeError(`snapshot has ${chunks.length} chunks, its header says ${chunkCount}`);
  try {
    return stateFromJson({ ...header, snapshotVersion: 1, nodes, chunks });
  } catch (err) {
    throw new LogDecodeError("snapshot is malformed", { cause: err });
  }
}

export function importState(bytes: Uint8Array): State {
  const headerEnd = bytes.indexOf(newline);
  if (headerEnd >= 0) {
    const state = importLines(bytes, headerEnd);
    if (state !== null) return state;
  }
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
