/**
 * Log entries: the durable form of every change of a shard's state. An entry carries the full
 * effect of one command as the leader decided it (allocated inode, final mode and owner, what
 * happens to a removed node, the resulting counts of a recursive tool call) so that applying it
 * needs no clock, no randomness and no permission checks; applying it still verifies that the
 * state matches what the entry was made against (ReplayMismatchError otherwise).
 *
 * Format history (decodeEntry accepts every version listed here):
 *   version 1: JSON via @antler/ops encodeMessage (bigint and Uint8Array tagged). The chunk
 *   operations (chunk*) and the optional `resend` field were added later without a new version:
 *   older entries simply never contain them.
 */
import { CodecError, decodeMessage, encodeMessage, type Name, type NewNodeSpec, type SetCounts, type TxPart, type TxPartOutput } from "@antler/ops";
import { LogDecodeError } from "./errors.ts";
import type { Stamp } from "./hlc.ts";
import type { AclRecord } from "./state.ts";
import { isTxPartOutputs, isTxParts } from "./txn/well-formed.ts";

/** What happens to a node when its last directory entry goes away (or "keep": links remain). */
export type Disposal = "keep" | "trash" | "sustained" | "free";

/** The caller of the command an entry came from (results computed on apply depend on it). */
export interface Caller {
  readonly sessionId: number;
  readonly uid: number;
  readonly sesflags: number;
}

/** A new node: its spec (the same one a cross-shard node-new carries) placed at parent/name as `inode`. */
export interface NewNodeOp extends NewNodeSpec {
  readonly parent: number;
  readonly name: Name;
  readonly inode: number;
}

export interface RemoveOp {
  readonly kind: "unlink" | "rmdir";
  readonly parent: number;
  readonly name: Name;
  readonly inode: number;
  readonly disposal: Disposal;
}

export interface RenameOp {
  readonly kind: "rename";
  readonly parentSrc: number;
  readonly nameSrc: Name;
  readonly parentDst: number;
  readonly nameDst: Name;
  readonly inode: number;
  /** The node the target name pointed to, removed by the rename. */
  readonly replaced: { readonly inode: number; readonly disposal: Disposal } | null;
}

export interface LinkOp {
  readonly kind: "link";
  readonly inode: number;
  readonly parent: number;
  readonly name: Name;
}

/** The resulting attributes (as mfsmaster's ATTR changelog record). */
export interface SetattrOp {
  readonly kind: "setattr";
  readonly inode: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atime: number;
  readonly mtime: number;
  readonly winattr: number;
  /** With an access ACL: the mode written into the ACL (user, mask, other); else null. */
  readonly aclMode: number | null;
}

export interface TruncateOp {
  readonly kind: "truncate";
  readonly inode: number;
  readonly length: number;
  readonly prevLength: number;
  /** Whether mtime/ctime become the entry's time. */
  readonly touch: boolean;
}

/** An append-mode reservation (TRUNCATE with RESERVE): only the reserved length moves. */
export interface ReserveOp {
  readonly kind: "reserve";
  readonly inode: number;
  readonly reservedLength: number;
  readonly prevLength: number;
}

export interface OpenOp {
  readonly kind: "open";
  readonly inode: number;
  readonly truncate: boolean;
}

export interface SetxattrOp {
  readonly kind: "setxattr";
  readonly inode: number;
  readonly name: Name;
  /** null removes the attribute. */
  readonly value: Uint8Array | null;
}

export interface SetfaclOp {
  readonly kind: "setfacl";
  readonly inode: number;
  readonly acltype: number;
  readonly acl: AclRecord | null;
  readonly mode: number;
  readonly touch: boolean;
}

export interface FlockOp {
  readonly kind: "flock";
  readonly inode: number;
  readonly owner: bigint;
  /** The lock (session, owner) holds afterwards: 0 none, 1 shared, 2 exclusive. */
  readonly type: number;
}

export interface PosixlockOp {
  readonly kind: "posixlock";
  readonly inode: number;
  readonly owner: bigint;
  readonly pid: number;
  readonly type: number;
  readonly start: bigint;
  readonly end: bigint;
}

export interface SustainedOp {
  readonly kind: "sustained";
  /** The session's open set afterwards (only inodes this shard has). */
  readonly inodes: readonly number[];
  /** Detached nodes freed because nobody holds them any more. */
  readonly freed: readonly number[];
}

export interface CloseSessionOp {
  readonly kind: "closesession";
  readonly freed: readonly number[];
}

export interface AmtimeOp {
  readonly kind: "amtime";
  readonly changes: readonly { readonly inode: number; readonly atime: number; readonly mtime: number; readonly ctime: number }[];
}

export interface ToolSetOp {
  readonly kind: "settrashtime" | "setgoal" | "seteattr";
  readonly inode: number;
  readonly uid: number;
  readonly value: number;
  readonly smode: number;
  readonly counts: SetCounts;
}

export interface MaintainOp {
  readonly kind: "maintain";
  /** Trash entries whose time ran out: freed, or moved to sustained when still open. */
  readonly expired: readonly number[];
  /** Directory-entry tombstones older than this are dropped. */
  readonly tombstonesBeforeMs: number;
}

/**
 * WRITE_CHUNK (chunk_multi_modify + fs_writechunk): index `index` of the file now holds `chunkId`
 * at `version`, locked for the caller. prevChunkId === chunkId: the same chunk, version kept or
 * bumped by one; otherwise a new chunk (version 1) replaces prevChunkId (0n: a hole; else a
 * shared chunk copied on write).
 */
export interface ChunkWriteOp {
  readonly kind: "chunkwrite";
  readonly inode: number;
  readonly index: number;
  readonly prevChunkId: bigint;
  readonly chunkId: bigint;
  readonly version: number;
  /** Goal of a new chunk (the file's). */
  readonly goal: number;
  /** The file length afterwards (grown to index·64 MiB by a write beyond EOF). */
  readonly length: number;
  readonly lockedUntilMs: number;
  /** mtime/ctime become the entry's time (CANMODTIME). */
  readonly touch: boolean;
  /** Copies offered to the client when answered at once; empty while chunkservers must confirm. */
  readonly csids: readonly number[];
  readonly pending: boolean;
}

/**
 * The chunkservers answered a pending WRITE_CHUNK or TRUNCATE: `confirmed` now hold the chunk at
 * `version` (in the order offered to the client). With none confirmed (`status` says why) the
 * operation is rolled back: the file gets prevChunkId back, a bumped version returns to
 * oldVersion. Either way the lock ends for a truncate; a write keeps it for its writer.
 */
export interface ChunkDoneOp {
  readonly kind: "chunkdone";
  readonly inode: number;
  readonly index: number;
  readonly prevChunkId: bigint;
  readonly chunkId: bigint;
  readonly version: number;
  readonly oldVersion: number;
  readonly confirmed: readonly number[];
  readonly status: number;
  /** For a TRUNCATE: the length change made once the chunk is cut; null for WRITE_CHUNK. */
  readonly truncate: { readonly length: number; readonly prevLength: number; readonly touch: boolean } | null;
}

/** WRITE_CHUNK_END: unlock, and the length grows to `length` when larger. */
export interface ChunkWriteEndOp {
  readonly kind: "chunkwriteend";
  readonly inode: number;
  readonly chunkId: bigint;
  readonly length: number;
  readonly touch: boolean;
}

/**
 * TRUNCATE inside an existing chunk (chunk_multi_truncate): the chunk is locked and, owned by this
 * file alone, moves to version+1 (MATOCS_TRUNCATE); shared, it is replaced by a new chunk
 * (MATOCS_DUPTRUNC). The length changes in the ChunkDoneOp once chunkservers confirm.
 */
export interface ChunkTruncateOp {
  readonly kind: "chunktruncate";
  readonly inode: number;
  readonly index: number;
  readonly prevChunkId: bigint;
  readonly chunkId: bigint;
  readonly version: number;
  readonly goal: number;
  readonly lockedUntilMs: number;
}

/** One copy's change: `version` -1 drops the copy; `mark` asks the next write to bump the version. */
export interface CopyChange {
  readonly chunkId: bigint;
  readonly csid: number;
  readonly version: number;
  readonly mark: boolean;
}

/** Copies reported, lost, replicated or deleted; `skipIds` raise slot counters past foreign ids. */
export interface ChunkCopiesOp {
  readonly kind: "chunkcopies";
  readonly changes: readonly CopyChange[];
  readonly skipIds: readonly bigint[];
}

/** A chunkserver starts registering afresh: forget every copy it had. */
export interface ChunkserverResetOp {
  readonly kind: "chunkserverreset";
  readonly csid: number;
}

/**
 * Housekeeping decisions that change the table: unused chunks without copies leave it; chunks
 * with only wrong-version copies adopt the best one's version when it is one off (mfsmaster's
 * "has only invalid copies - fixing it").
 */
export interface ChunkHousekeepOp {
  readonly kind: "chunkhousekeep";
  readonly drop: readonly bigint[];
  readonly adopt: readonly { readonly chunkId: bigint; readonly version: number }[];
}

/**
 * One node a snapshot makes at `parent`/`name` from `source`:
 * - "new": a new node `inode`;
 * - "update": the existing node `inode` of the same type takes the source's attributes (and its
 *   target or rdev); a directory is merged into, a file with the same chunks stays as it is;
 * - "replace": the existing file `replaced` is unlinked (with `disposal`), then a new node `inode`.
 */
export interface SnapshotNode {
  readonly action: "new" | "update" | "replace";
  readonly source: number;
  readonly inode: number;
  readonly parent: number;
  readonly name: Name;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly replaced: { readonly inode: number; readonly disposal: Disposal } | null;
}

/**
 * mfsmakesnapshot (fs_snapshot): `nodes` in pre-order (parents first), files sharing their
 * source's chunks. `cplike` (SNAPSHOT_MODE_CPLIKE_ATTR): attributes as for a new node; otherwise
 * goal, trash time, extra attributes, xattrs, ACLs and times are copied.
 */
export interface SnapshotOp {
  readonly kind: "snapshot";
  readonly cplike: boolean;
  readonly nodes: readonly SnapshotNode[];
}

/**
 * A cross-shard transaction's parts of this shard were validated (txn/): they are remembered with
 * their outputs (a node-new part's inode is reserved now) and lock `locks` until the decision.
 */
export interface TxPrepareOp {
  readonly kind: "txprepare";
  readonly txid: string;
  readonly clientRequestId: string;
  readonly parts: readonly TxPart[];
  readonly outputs: readonly TxPartOutput[];
  readonly locks: readonly number[];
}

/** The prepared transaction commits: its parts are applied in one go (entry-new needs `newInode`). */
export interface TxCommitOp {
  readonly kind: "txcommit";
  readonly txid: string;
  readonly newInode?: number;
}

/** The prepared transaction is dropped with its locks (a reserved inode stays unused). */
export interface TxAbortOp {
  readonly kind: "txabort";
  readonly txid: string;
}

export type TxOp = TxPrepareOp | TxCommitOp | TxAbortOp;

export type Op =
  | TxPrepareOp
  | TxCommitOp
  | TxAbortOp
  | SnapshotOp
  | ChunkWriteOp
  | ChunkDoneOp
  | ChunkWriteEndOp
  | ChunkTruncateOp
  | ChunkCopiesOp
  | ChunkserverResetOp
  | ChunkHousekeepOp
  | NewNodeOp
  | RemoveOp
  | RenameOp
  | LinkOp
  | SetattrOp
  | TruncateOp
  | ReserveOp
  | OpenOp
  | SetxattrOp
  | SetfaclOp
  | FlockOp
  | PosixlockOp
  | SustainedOp
  | CloseSessionOp
  | AmtimeOp
  | ToolSetOp
  | MaintainOp;
export type OpKind = Op["kind"];

export interface LogEntryV1 {
  readonly version: 1;
  readonly stamp: Stamp;
  readonly caller: Caller;
  /** The client request this entry answers (lets a retry get the same result). */
  readonly requestId?: string;
  readonly op: Op;
}

/** Every version of log entry this code can apply. */
export type LogEntry = LogEntryV1;

export function encodeEntry(entry: LogEntry): Uint8Array {
  return encodeMessage(entry);
}

export function decodeEntry(bytes: Uint8Array): LogEntry {
  let value: unknown;
  try {
    value = decodeMessage(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw new LogDecodeError("log entry is not a valid message", { cause: err });
    throw err;
  }
  validateEntry(value);
  return value;
}

type FieldKind = "int" | "name" | "bool" | "bigint" | "bytes?" | "acl?" | "ints" | "counts" | "changes" | "replaced" | "int?" | "disposal"
  | "bigints" | "copychanges" | "adopts" | "trunc?" | "snapnodes" | "string" | "int|undefined" | "txparts" | "txoutputs";

const schemas: Record<OpKind, Record<string, FieldKind>> = {
  mknod: newNodeSchema(),
  mkdir: newNodeSchema(),
  create: newNodeSchema(),
  symlink: newNodeSchema(),
  unlink: { parent: "int", name: "name", inode: "int", disposal: "disposal" },
  rmdir: { parent: "int", name: "name", inode: "int", disposal: "disposal" },
  rename: { parentSrc: "int", nameSrc: "name", parentDst: "int", nameDst: "name", inode: "int", replaced: "replaced" },
  link: { inode: "int", parent: "int", name: "name" },
  setattr: { inode: "int", mode: "int", uid: "int", gid: "int", atime: "int", mtime: "int", winattr: "int", aclMode: "int?" },
  truncate: { inode: "int", length: "int", prevLength: "int", touch: "bool" },
  reserve: { inode: "int", reservedLength: "int", prevLength: "int" },
  open: { inode: "int", truncate: "bool" },
  setxattr: { inode: "int", name: "name", value: "bytes?" },
  setfacl: { inode: "int", acltype: "int", acl: "acl?", mode: "int", touch: "bool" },
  flock: { inode: "int", owner: "bigint", type: "int" },
  posixlock: { inode: "int", owner: "bigint", pid: "int", type: "int", start: "bigint", end: "bigint" },
  sustained: { inodes: "ints", freed: "ints" },
  closesession: { freed: "ints" },
  amtime: { changes: "changes" },
  settrashtime: toolSchema(),
  setgoal: toolSchema(),
  seteattr: toolSchema(),
  maintain: { expired: "ints", tombstonesBeforeMs: "int" },
  chunkwrite: {
    inode: "int", index: "int", prevChunkId: "bigint", chunkId: "bigint", version: "int", goal: "int", length: "int",
    lockedUntilMs: "int", touch: "bool", csids: "ints", pending: "bool",
  },
  chunkdone: {
    inode: "int", index: "int", prevChunkId: "bigint", chunkId: "bigint", version: "int", oldVersion: "int",
    confirmed: "ints", status: "int", truncate: "trunc?",
  },
  chunkwriteend: { inode: "int", chunkId: "bigint", length: "int", touch: "bool" },
  chunktruncate: {
    inode: "int", index: "int", prevChunkId: "bigint", chunkId: "bigint", version: "int", goal: "int", lockedUntilMs: "int",
  },
  chunkcopies: { changes: "copychanges", skipIds: "bigints" },
  chunkserverreset: { csid: "int" },
  chunkhousekeep: { drop: "bigints", adopt: "adopts" },
  snapshot: { cplike: "bool", nodes: "snapnodes" },
  txprepare: { txid: "string", clientRequestId: "string", parts: "txparts", outputs: "txoutputs", locks: "ints" },
  txcommit: { txid: "string", newInode: "int|undefined" },
  txabort: { txid: "string" },
};

function newNodeSchema(): Record<string, FieldKind> {
  return {
    parent: "int", name: "name", inode: "int", type: "int", mode: "int", uid: "int", gid: "int", rdev: "int",
    target: "name", goal: "int", trashtime: "int", eattr: "int", aclAccess: "acl?", aclDefault: "acl?",
  };
}

function toolSchema(): Record<string, FieldKind> {
  return { inode: "int", uid: "int", value: "int", smode: "int", counts: "counts" };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isName(value: unknown): boolean {
  return typeof value === "string" && !/[^\x00-\xff]/.test(value);
}

function isAclEntries(value: unknown): boolean {
  return Array.isArray(value) && value.every((e) => isObject(e) && isInt(e.id) && isInt(e.perm));
}

function isAcl(value: unknown): boolean {
  if (!isObject(value)) return false;
  const perms = [value.userPerm, value.groupPerm, value.otherPerm, value.mask];
  return perms.every(isInt) && isAclEntries(value.users) && isAclEntries(value.groups);
}

function fieldOk(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case "int":
      return isInt(value);
    case "int?":
      return value === null || isInt(value);
    case "name":
      return isName(value);
    case "bool":
      return typeof value === "boolean";
    case "bigint":
      return typeof value === "bigint";
    case "bytes?":
      return value === null || value instanceof Uint8Array;
    case "acl?":
      return value === null || isAcl(value);
    case "ints":
      return Array.isArray(value) && value.every(isInt);
    case "disposal":
      return value === "keep" || value === "trash" || value === "sustained" || value === "free";
    case "counts":
      return isObject(value) && isInt(value.changed) && isInt(value.notChanged) && isInt(value.notPermitted);
    case "changes":
      return Array.isArray(value) && value.every((c) => isObject(c) && isInt(c.inode) && isInt(c.atime) && isInt(c.mtime) && isInt(c.ctime));
    case "replaced":
      return value === null || (isObject(value) && isInt(value.inode) && fieldOk("disposal", value.disposal));
    case "bigints":
      return Array.isArray(value) && value.every((v) => typeof v === "bigint");
    case "copychanges":
      return Array.isArray(value) && value.every((c) => isObject(c) && typeof c.chunkId === "bigint" && isInt(c.csid)
        && isInt(c.version) && typeof c.mark === "boolean");
    case "adopts":
      return Array.isArray(value) && value.every((a) => isObject(a) && typeof a.chunkId === "bigint" && isInt(a.version));
    case "snapnodes":
      return Array.isArray(value) && value.every((n) => isObject(n) && (n.action === "new" || n.action === "update" || n.action === "replace")
        && isInt(n.source) && isInt(n.inode) && isInt(n.parent) && isName(n.name) && isInt(n.mode) && isInt(n.uid) && isInt(n.gid)
        && (n.replaced === null || (isObject(n.replaced) && isInt(n.replaced.inode) && fieldOk("disposal", n.replaced.disposal))));
    case "trunc?":
      return value === null || (isObject(value) && isInt(value.length) && isInt(value.prevLength) && typeof value.touch === "boolean");
    case "string":
      return typeof value === "string";
    case "int|undefined":
      return value === undefined || isInt(value);
    case "txparts":
      return isTxParts(value);
    case "txoutputs":
      return isTxPartOutputs(value);
  }
}

function validateOp(op: unknown): void {
  if (!isObject(op) || typeof op.kind !== "string" || !Object.hasOwn(schemas, op.kind)) {
    throw new LogDecodeError("log entry has an unknown operation");
  }
  const schema = schemas[op.kind as OpKind];
  for (const [field, kind] of Object.entries(schema)) {
    if (!fieldOk(kind, op[field])) throw new LogDecodeError(`log entry ${op.kind}: bad field ${field}`);
  }
}

function validateEntry(value: unknown): asserts value is LogEntry {
  if (!isObject(value)) throw new LogDecodeError("log entry is not an object");
  if (value.version !== 1) throw new LogDecodeError(`unsupported log entry version ${String(value.version)}`);
  const stamp = value.stamp;
  if (!isObject(stamp) || !isInt(stamp.wallMs) || !isInt(stamp.logical) || !isInt(stamp.origin)) {
    throw new LogDecodeError("log entry has a bad stamp");
  }
  const caller = value.caller;
  if (!isObject(caller) || !isInt(caller.sessionId) || !isInt(caller.uid) || !isInt(caller.sesflags)) {
    throw new LogDecodeError("log entry has a bad caller");
  }
  if (value.requestId !== undefined && typeof value.requestId !== "string") {
    throw new LogDecodeError("log entry has a bad requestId");
  }
  validateOp(value.op);
}
