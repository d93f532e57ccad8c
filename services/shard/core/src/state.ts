/**
 * The data model of one shard: nodes (inodes) with their attributes, directories with their
 * entries and recursive statistics, detached nodes (trash, sustained), open files, locks, the
 * allocator, the chunk table (files' chunk lists, chunk versions, copies, use counts, write
 * locks; chunks/table.ts), the clock and the remembered request results. Everything
 * here is plain data that log entries change through the functions of namespace/* and chunks/*;
 * snapshot.ts turns it into bytes.
 *
 * Fields mirror mfsmaster's fsnode where MooseFS defines the behaviour: `mode` holds the 12
 * permission bits as stored (with an access ACL the group bits are the ACL's owning-group entry
 * and the visible group bits come from the ACL mask), `trashtime` is seconds but always a whole
 * number of hours (mfsmaster stores hours), `goal` is the storage class id (1..9 are goals).
 */
import { limits } from "@antler/base";
import { NodeType, type Name, type Result, type TxPart, type TxPartOutput } from "@antler/ops";
import { type Stamp, zeroStamp } from "./hlc.ts";
import { releaseChunk } from "./chunks/table.ts";
import type { Caller } from "./log-entry.ts";

/** One ACL as mfsmaster keeps it: perms are 3-bit rwx, 0xFFFF = unset (only `mask` may be). */
export interface AclRecord {
  readonly userPerm: number;
  readonly groupPerm: number;
  readonly otherPerm: number;
  readonly mask: number;
  readonly users: readonly AclEntry[];
  readonly groups: readonly AclEntry[];
}
export interface AclEntry {
  readonly id: number;
  readonly perm: number;
}

/** Recursive sizes of a directory's subtree (mfsmaster's statsrecord). */
export interface Stats {
  inodes: number;
  dirs: number;
  files: number;
  length: number;
  /** Chunks of the files below (a chunk shared by two files counts twice, as in mfsmaster). */
  chunks: number;
  /** Bytes those chunks take on one chunkserver (full chunks + the used blocks of the last, headers included). */
  size: number;
  /** size × goal: bytes on all chunkservers once every goal is met. */
  realSize: number;
}

export interface Dirent {
  readonly inode: number;
  readonly stamp: Stamp;
  /**
   * Present only for a REMOTE entry: the inode lives on another shard (@antler/ops txn.ts), so
   * this shard has no Node for it and keeps its type here (readdir, nlink of the parent).
   */
  readonly remoteType?: NodeType;
}

export interface DirData {
  /** name → entry; iteration order is creation order (readdir lists newest first, as mfsmaster). */
  readonly entries: Map<Name, Dirent>;
  /** Subdirectories: nlink of a directory is 2 + this. */
  subdirs: number;
  readonly stats: Stats;
}

export interface Edge {
  readonly parent: number;
  readonly name: Name;
}

/** Where a node without directory entries lives. */
export type Detached = { readonly kind: "trash" | "sustained"; readonly path: Name };

export interface Node {
  readonly inode: number;
  readonly type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  ctime: number;
  winattr: number;
  eattr: number;
  goal: number;
  trashtime: number;
  /** Directory entries naming this node; a directory has at most one. */
  parents: Edge[];
  detached: Detached | null;
  /** Files: length in bytes. */
  length: number;
  /** Files: length reserved by append-mode writers (TRUNCATE RESERVE); 0 when none. */
  reservedLength: number;
  /** Symlinks: the target. */
  target: Name;
  /** Block/char devices. */
  rdev: number;
  /** Files: chunk id per 64 MiB index (0n = hole); never longer than the length needs. */
  chunks: bigint[];
  xattrs: Map<Name, Uint8Array> | null;
  aclAccess: AclRecord | null;
  aclDefault: AclRecord | null;
  readonly dir: DirData | null;
  /** Stamp of the last write to any field of this node (its creation at first). */
  stamp: Stamp;
  /** Per field: the stamp of its last write since creation (last-writer-wins merges). */
  fieldStamps: Record<string, Stamp>;
}

/** The fields whose writes are stamped (xattrs are stamped per name as "xattr:<name>"). */
export type StampedField =
  | "mode" | "uid" | "gid" | "atime" | "mtime" | "ctime" | "winattr" | "eattr" | "goal" | "trashtime"
  | "length" | "aclAccess" | "aclDefault" | "parents" | "detached" | `xattr:${string}`;

/** Records that `fields` of `node` were written by the entry stamped `stamp`. */
export function touch(node: Node, stamp: Stamp, ...fields: StampedField[]): void {
  node.stamp = stamp;
  for (const field of fields) node.fieldStamps[field] = stamp;
}

export interface FlockRecord {
  readonly sessionId: number;
  readonly owner: bigint;
  /** 1 shared, 2 exclusive (PosixLockType numbering). */
  type: number;
}

export interface LockRange {
  start: bigint;
  end: bigint;
  type: number;
}

/** POSIX byte-range locks of one owner on one inode: sorted, disjoint, adjacent merged. */
export interface PosixOwnerLocks {
  readonly sessionId: number;
  readonly owner: bigint;
  readonly pid: number;
  ranges: LockRange[];
}

export interface State {
  readonly shardId: number;
  readonly metaId: bigint;
  readonly origin: number;
  /** Owned slots, ascending. */
  readonly slots: readonly number[];
  readonly defaultGoal: number;
  readonly defaultTrashtime: number;
  readonly nodes: Map<number, Node>;
  /** slot → next local inode number to hand out (monotonic: freed inodes are never reused). */
  readonly nextLocal: Map<number, number>;
  /** Detached nodes in detach order. */
  readonly trash: Set<number>;
  readonly sustained: Set<number>;
  /** session → inodes it holds open. */
  readonly openFiles: Map<number, Set<number>>;
  /** inode → number of sessions holding it open (derived from openFiles). */
  readonly openCount: Map<number, number>;
  readonly flocks: Map<number, FlockRecord[]>;
  readonly posixLocks: Map<number, PosixOwnerLocks[]>;
  /** Highest stamp seen (the HLC). */
  clock: Stamp;
  /**
   * Directory entries removed recently ("<dir inode>/<name>" → stamp of the removal), oldest
   * first: with the entries' own stamps this makes directories an observed-remove map.
   */
  readonly tombstones: Map<string, Stamp>;
  /** origin → highest stamp applied from it: re-applied entries are recognised and skipped. */
  readonly applied: Map<number, Stamp>;
  /** requestId → result of the entry that carried it (oldest first, bounded). */
  readonly requests: Map<string, Result>;
  /** The chunk table: every chunk a file of this shard uses or used (until its copies are gone). */
  readonly chunks: Map<bigint, ChunkRecord>;
  /** slot → next chunk counter to hand out (monotonic: a chunk id is never reused). */
  readonly chunkCounters: Map<number, bigint>;
  dirCount: number;
  fileCount: number;
  /** Cross-shard transactions prepared here and not decided yet (txn/), in prepare order. */
  readonly preparedTxns: Map<string, PreparedTxn>;
  /** inode → the prepared transaction locking it (derived from preparedTxns). */
  readonly txLocks: Map<number, string>;
  /** Recently decided transactions (oldest first, bounded): repeats are recognised. */
  readonly decidedTxns: Map<string, TxOutcome>;
  /** Client request id → the transaction that took it (oldest first, bounded). */
  readonly txRequests: Map<string, string>;
}

export type TxOutcome = "commit" | "abort";

/** A transaction this shard validated and logged, waiting for its decision (txn/). */
export interface PreparedTxn {
  readonly txid: string;
  readonly clientRequestId: string;
  /** The prepare entry's wall time: the resolver judges the transaction's age by it. */
  readonly preparedAtMs: number;
  /** Who asked (the client): a created file is opened for its session, attributes seen by it. */
  readonly caller: Caller;
  readonly parts: readonly TxPart[];
  readonly outputs: readonly TxPartOutput[];
  /** Inodes of this shard the parts touch (a node-new part's reserved inode included). */
  readonly locks: readonly number[];
}

/**
 * One chunk as mfsmaster's chunk struct keeps it, minus what is only soft state here (operations
 * in flight live in the leader's memory). Copies are durable: a new leader knows them.
 */
export interface ChunkRecord {
  readonly chunkId: bigint;
  /** The version every valid copy has; copies at another version are "wrong version". */
  version: number;
  /** csid → version of the copy that chunkserver holds. */
  readonly copies: Map<number, number>;
  /** File index slots pointing at this chunk (more than one after a snapshot); 0 = unused. */
  refcount: number;
  /** Copies wanted (the highest goal of the files using it). */
  goal: number;
  /** A WRITE_CHUNK lock: held until this time (ms) unless WRITE_CHUNK_END comes first; 0 = none. */
  lockedUntilMs: number;
  /** Session holding the lock (it may re-lock without CONTINUE_OP). */
  lockedBy: number;
  /** Set when a copy (re)appeared or vanished: the next write bumps the version (mfsmaster needverincrease). */
  needsVersionIncrease: boolean;
}

export interface StateOptions {
  readonly shardId: number;
  readonly metaId: bigint;
  readonly origin: number;
  readonly slots: readonly number[];
  readonly defaultGoal: number;
  readonly defaultTrashtime: number;
}

export function emptyStats(): Stats {
  return { inodes: 0, dirs: 0, files: 0, length: 0, chunks: 0, size: 0, realSize: 0 };
}

export function newDirData(): DirData {
  return { entries: new Map(), subdirs: 0, stats: emptyStats() };
}

/** The state of a new file system: only the root directory (mode 0777, uid/gid 0, as fs_new). */
export function newState(options: StateOptions, createdSeconds: number): State {
  const st: State = {
    ...options,
    nodes: new Map(),
    nextLocal: new Map(),
    trash: new Set(),
    sustained: new Set(),
    openFiles: new Map(),
    openCount: new Map(),
    flocks: new Map(),
    posixLocks: new Map(),
    clock: zeroStamp,
    tombstones: new Map(),
    applied: new Map(),
    requests: new Map(),
    chunks: new Map(),
    chunkCounters: new Map(),
    dirCount: 0,
    fileCount: 0,
    preparedTxns: new Map(),
    txLocks: new Map(),
    decidedTxns: new Map(),
    txRequests: new Map(),
  };
  if (options.slots.includes(0)) {
    const root = newNode(limits.rootInode, NodeType.DIRECTORY, createdSeconds, zeroStamp);
    root.mode = 0o777;
    root.goal = options.defaultGoal;
    root.trashtime = options.defaultTrashtime;
    addNode(st, root);
    st.nextLocal.set(0, limits.rootInode + 1);
  }
  return st;
}

export function newNode(inode: number, type: NodeType, ts: number, stamp: Stamp): Node {
  return {
    inode,
    type,
    mode: 0,
    uid: 0,
    gid: 0,
    atime: ts,
    mtime: ts,
    ctime: ts,
    winattr: 0,
    eattr: 0,
    goal: 0,
    trashtime: 0,
    parents: [],
    detached: null,
    length: 0,
    reservedLength: 0,
    target: "",
    rdev: 0,
    chunks: [],
    xattrs: null,
    aclAccess: null,
    aclDefault: null,
    dir: type === NodeType.DIRECTORY ? newDirData() : null,
    stamp,
    fieldStamps: {},
  };
}

export function addNode(st: State, node: Node): void {
  st.nodes.set(node.inode, node);
  if (node.type === NodeType.DIRECTORY) st.dirCount++;
  if (node.type === NodeType.FILE) st.fileCount++;
}

export function deleteNode(st: State, node: Node): void {
  for (const chunkId of node.chunks) releaseChunk(st, chunkId);
  node.chunks = [];
  st.nodes.delete(node.inode);
  if (node.type === NodeType.DIRECTORY) st.dirCount--;
  if (node.type === NodeType.FILE) st.fileCount--;
  st.trash.delete(node.inode);
  st.sustained.delete(node.inode);
  st.flocks.delete(node.inode);
  st.posixLocks.delete(node.inode);
}

export function isFileLike(node: Node): boolean {
  return node.type === NodeType.FILE;
}

/** nlink as mfsmaster reports it: 2 + subdirectories for a directory, else the link count. */
export function nlinkOf(node: Node): number {
  if (node.dir !== null) return 2 + node.dir.subdirs;
  return node.parents.length;
}

export function isOpen(st: State, inode: number): boolean {
  return (st.openCount.get(inode) ?? 0) > 0;
}

export function tombstoneKey(dirInode: number, name: Name): string {
  return `${dirInode}/${name}`;
}
