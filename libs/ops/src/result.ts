/**
 * What a shard answers to each Command. Every result is either a failure `{ status }` with a
 * non-OK MooseFS status, or `{ status: 0, ... }` with the command's payload below.
 */
import type { Attr } from "./attr.ts";
import type { Acl, CommandKind } from "./command.ts";
import type { Name } from "./names.ts";
import type { ErrorStatus } from "./status.ts";
import type { FsckNode, NodeFacts, TxPartOutput } from "./txn.ts";

export interface Failure {
  readonly status: ErrorStatus;
}

export interface NodeReply {
  readonly inode: number;
  readonly attr: Attr;
}

export interface DirEntry {
  readonly name: Name;
  readonly inode: number;
  /** Present when the readdir asked for attributes; the type is attr.type otherwise `type`. */
  readonly type: number;
  readonly attr?: Attr;
}

/** Per-value counts of a "get" tool query (goal, trashtime, eattr): files first, then dirs. */
export interface ValueCounts {
  readonly files: readonly { readonly value: number; readonly count: number }[];
  readonly dirs: readonly { readonly value: number; readonly count: number }[];
}

/** Counts of a recursive "set" tool request. */
export interface SetCounts {
  readonly changed: number;
  readonly notChanged: number;
  readonly notPermitted: number;
}

export interface Payloads {
  statfs: {
    readonly totalSpace: number;
    readonly availSpace: number;
    readonly freeSpace: number;
    readonly trashSpace: number;
    readonly sustainedSpace: number;
    readonly inodes: number;
  };
  access: Record<never, never>;
  /** lflags: ACCESS_MODE bits (1<<mask for every permitted mask 0..7) and RO/immutable bits. */
  lookup: NodeReply & { readonly lflags: number };
  getattr: { readonly attr: Attr };
  setattr: { readonly attr: Attr };
  readlink: { readonly target: Name };
  symlink: NodeReply;
  mknod: NodeReply;
  mkdir: NodeReply;
  create: NodeReply & { readonly oflags: number };
  /** The removed inode. */
  unlink: { readonly inode: number };
  rmdir: { readonly inode: number };
  /** The moved node. */
  rename: NodeReply;
  link: NodeReply;
  /** Entries in order, starting with "." and "..". */
  readdir: { readonly entries: readonly DirEntry[] };
  open: { readonly oflags: number; readonly attr: Attr };
  truncate: { readonly prevLength: number; readonly attr: Attr };
  /** mode 0: value (for a list: NUL-terminated names concatenated); mode 1: only `length`. */
  getxattr: { readonly length: number; readonly value?: Uint8Array };
  setxattr: Record<never, never>;
  getfacl: { readonly acl: Acl };
  setfacl: Record<never, never>;
  flock: Record<never, never>;
  /** For GET: the conflicting lock, or type UNLCK when none. */
  posixlock: {
    readonly lock?: { readonly pid: number; readonly type: number; readonly start: bigint; readonly end: bigint };
  };
  sustained: Record<never, never>;
  amtime: Record<never, never>;
  closesession: Record<never, never>;
  gettrashtime: ValueCounts;
  settrashtime: SetCounts;
  getgoal: ValueCounts;
  setgoal: SetCounts;
  geteattr: ValueCounts;
  seteattr: SetCounts;
  getdirstats: {
    readonly inodes: number;
    readonly dirs: number;
    readonly files: number;
    readonly chunks: number;
    readonly length: number;
    readonly size: number;
    readonly realSize: number;
  };
  readchunk: ChunkLocation;
  writechunk: ChunkLocation;
  writechunkend: Record<never, never>;
  /**
   * As mfsmaster's CHECK: counts[n] = chunks with n valid copies for n = 0..9, counts[10] = ten
   * or more, counts[11] = 0 (mfscheckfile requires exactly 12).
   */
  checkfile: { readonly counts: readonly number[] };
  checkchunk: {
    readonly chunkId: bigint;
    readonly version: number;
    readonly copies: readonly { readonly csid: number; readonly state: number }[];
  };
  snapshot: Record<never, never>;
  chunkscopies: Record<never, never>;
  chunksgone: Record<never, never>;
  chunkserverreset: Record<never, never>;
  /** `node` null: no such inode here. `entry`: the entry `name` of the directory (null: none). */
  txinspect: {
    readonly node: NodeFacts | null;
    readonly entry?: { readonly inode: number; readonly type: number } | null;
  };
  /** Outputs of the parts, in order. */
  txprepare: { readonly outputs: readonly TxPartOutput[] };
  /** Outputs of the parts, in order (empty when the commit was a repeat). */
  txcommit: { readonly outputs: readonly TxPartOutput[] };
  txabort: Record<never, never>;
  /**
   * `problems`: what the shard found wrong inside itself (chunk reference counts, entries naming
   * missing local nodes, edges without their entry, …), first page only; `next`: afterInode of
   * the next page, null after the last; `prepared`: transactions prepared and undecided now.
   */
  fsckdump: { readonly nodes: readonly FsckNode[]; readonly problems: readonly string[]; readonly next: number | null; readonly prepared: readonly string[] };
}

/** Where a chunk lives (READ_CHUNK / WRITE_CHUNK). chunkId 0n = no chunk at that index (reads: zeros). */
export interface ChunkLocation {
  /** The file's length, already grown to index·64 MiB by a write beyond EOF. */
  readonly length: number;
  readonly chunkId: bigint;
  readonly version: number;
  /** Chunkservers holding a valid copy at `version`, in the order the client should try them. */
  readonly csids: readonly number[];
}

export type Success<K extends CommandKind> = { readonly status: 0 } & Payloads[K];
export type ResultOf<K extends CommandKind> = Failure | Success<K>;
export type Result = { [K in CommandKind]: ResultOf<K> }[CommandKind];

export function isFailure(result: { readonly status: number }): result is Failure {
  return result.status !== 0;
}
