/**
 * The internal metadata vocabulary: what a gateway asks a shard to do, independent of the MooseFS
 * wire format. The gateway decodes a client packet, applies the session (maproot/mapall, subfolder
 * root, read-only) and sends one Command with its Ctx; the shard validates it against its state
 * (POSIX semantics and permissions as mfsmaster does them) and answers with a Result.
 *
 * Conventions:
 * - Inode numbers are the cluster's real inodes. The gateway maps the client's inode 1 to the
 *   session's root before sending and maps the root back to 1 in results.
 * - Names (file names, xattr names, symlink targets) are byte strings carried in JS strings, one
 *   char per byte (char codes 0..255): see names.ts. They are compared and stored byte-exactly.
 * - Times are seconds; the shard leader stamps "now" itself, never the gateway.
 * - 64-bit quantities that can exceed 2^53 (lock owners and ranges) are bigint.
 */
import type { Name } from "./names.ts";
import type { TxPart } from "./txn.ts";

/** SESFLAG_* bits of a session (REGISTER reply). */
export const SessionFlag = {
  READONLY: 0x01,
  DYNAMICIP: 0x02,
  IGNOREGID: 0x04,
  ADMIN: 0x08,
  MAPALL: 0x10,
} as const;

/** Who asks, after the session's export rules were applied. */
export interface Ctx {
  /** Client session that issued the request; 0 for requests made by the system itself. */
  readonly sessionId: number;
  /** Caller uid after maproot/mapall. */
  readonly uid: number;
  /** Caller gids after maproot/mapall; gids[0] is the primary group. Never empty. */
  readonly gids: readonly number[];
  /** SESFLAG_* of the session. */
  readonly sesflags: number;
  /** The session's root directory (subfolder mounts); ".." of it stays at it. */
  readonly rootInode: number;
  /**
   * Unique per client request and stable across retries: lets a shard recognise a replay. A
   * packet mfsmount re-sends after it reconnects (to any gateway) carries the id of the request it
   * repeats (the gateway finds it in the session's unanswered requests), so it is a retry too.
   */
  readonly requestId?: string;
}

/** Access mask bits (ACCESS modemask, lflags): read 4, write 2, execute/search 1. */
export const AccessMask = { R: 4, W: 2, X: 1 } as const;

/** SETATTR setmask bits. */
export const SetMask = {
  WINATTR: 0x01,
  MODE: 0x02,
  UID: 0x04,
  GID: 0x08,
  MTIME_NOW: 0x10,
  MTIME: 0x20,
  ATIME: 0x40,
  ATIME_NOW: 0x80,
} as const;

/** OPEN request flags. */
export const OpenFlag = { READ: 0x01, WRITE: 0x02, AFTER_CREATE: 0x04, TRUNCATE: 0x08, CACHE_CLEARED: 0x10 } as const;

/** TRUNCATE flags. */
export const TruncateFlag = { OPENED: 0x01, UPDATE: 0x02, TIMEFIX: 0x04, RESERVE: 0x08 } as const;

/** SETXATTR modes. */
export const XattrMode = { CREATE_OR_REPLACE: 0, CREATE_ONLY: 1, REPLACE_ONLY: 2, REMOVE: 3 } as const;

/** FLOCK commands. */
export const FlockCmd = {
  UNLOCK: 0,
  TRY_SHARED: 1,
  LOCK_SHARED: 2,
  TRY_EXCLUSIVE: 3,
  LOCK_EXCLUSIVE: 4,
  INTERRUPT: 5,
  RELEASE: 6,
} as const;

/** POSIX_LOCK commands and lock types. */
export const PosixLockCmd = { GET: 0, SET: 1, TRY: 2, INTERRUPT: 3 } as const;
export const PosixLockType = { UNLCK: 0, RDLCK: 1, WRLCK: 2 } as const;

/** ACL as MooseFS carries it (GETFACL/SETFACL). Permissions are 3-bit rwx; 0xFFFF = unset. */
export interface Acl {
  readonly userPerm: number;
  readonly groupPerm: number;
  readonly otherPerm: number;
  readonly mask: number;
  readonly users: readonly { readonly id: number; readonly perm: number }[];
  readonly groups: readonly { readonly id: number; readonly perm: number }[];
}
export const AclType = { ACCESS: 1, DEFAULT: 2 } as const;

export type Command =
  | { readonly kind: "statfs" }
  | { readonly kind: "access"; readonly inode: number; readonly modemask: number }
  | { readonly kind: "lookup"; readonly parent: number; readonly name: Name }
  | { readonly kind: "getattr"; readonly inode: number; readonly opened: boolean }
  | {
      readonly kind: "setattr";
      readonly inode: number;
      readonly opened: boolean;
      readonly setmask: number;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
      readonly atime: number;
      readonly mtime: number;
      readonly winattr: number;
      /** How suid/sgid are cleared on chown: 0 never, 1 always, 2 osx, 3 bsd, 4 ext, 5 xfs. */
      readonly sugidclearmode: number;
    }
  | { readonly kind: "readlink"; readonly inode: number }
  | { readonly kind: "symlink"; readonly parent: number; readonly name: Name; readonly target: Name }
  | {
      readonly kind: "mknod";
      readonly parent: number;
      readonly name: Name;
      readonly type: number;
      readonly mode: number;
      readonly umask: number;
      readonly rdev: number;
    }
  | {
      readonly kind: "mkdir";
      readonly parent: number;
      readonly name: Name;
      readonly mode: number;
      readonly umask: number;
      readonly copysgid: boolean;
    }
  | { readonly kind: "create"; readonly parent: number; readonly name: Name; readonly mode: number; readonly umask: number }
  | { readonly kind: "unlink"; readonly parent: number; readonly name: Name }
  | { readonly kind: "rmdir"; readonly parent: number; readonly name: Name }
  | {
      readonly kind: "rename";
      readonly parentSrc: number;
      readonly nameSrc: Name;
      readonly parentDst: number;
      readonly nameDst: Name;
    }
  | { readonly kind: "link"; readonly inode: number; readonly parentDst: number; readonly nameDst: Name }
  | { readonly kind: "readdir"; readonly inode: number; readonly withAttr: boolean; readonly maxEntries: number }
  | { readonly kind: "open"; readonly inode: number; readonly flags: number }
  | { readonly kind: "truncate"; readonly inode: number; readonly flags: number; readonly length: number }
  | {
      readonly kind: "getxattr";
      readonly inode: number;
      /** Empty name = list the names. */
      readonly name: Name;
      /** 0 = value, 1 = length only. */
      readonly mode: number;
      readonly opened: boolean;
    }
  | {
      readonly kind: "setxattr";
      readonly inode: number;
      readonly name: Name;
      readonly value: Uint8Array;
      readonly mode: number;
      readonly opened: boolean;
    }
  | { readonly kind: "getfacl"; readonly inode: number; readonly acltype: number }
  | {
      readonly kind: "setfacl";
      readonly inode: number;
      readonly acltype: number;
      /** null removes the ACL. */
      readonly acl: Acl | null;
    }
  | {
      readonly kind: "flock";
      readonly inode: number;
      readonly reqid: number;
      readonly owner: bigint;
      readonly cmd: number;
    }
  | {
      readonly kind: "posixlock";
      readonly inode: number;
      readonly reqid: number;
      readonly owner: bigint;
      readonly pid: number;
      readonly cmd: number;
      readonly type: number;
      readonly start: bigint;
      readonly end: bigint;
    }
  /** The session's complete set of open (or recently used) inodes; replaces the previous set. */
  | { readonly kind: "sustained"; readonly inodes: readonly number[] }
  /** atime/mtime of data I/O done by a mount (0 = unchanged); times only move forward. */
  | {
      readonly kind: "amtime";
      readonly entries: readonly { readonly inode: number; readonly atime: number; readonly mtime: number }[];
    }
  /** The session ended: drop its locks and its open-file set. */
  | { readonly kind: "closesession" }
  | { readonly kind: "gettrashtime"; readonly inode: number; readonly gmode: number }
  | { readonly kind: "settrashtime"; readonly inode: number; readonly uid: number; readonly trashtime: number; readonly smode: number }
  | { readonly kind: "getgoal"; readonly inode: number; readonly gmode: number }
  | { readonly kind: "setgoal"; readonly inode: number; readonly uid: number; readonly goal: number; readonly smode: number }
  | { readonly kind: "geteattr"; readonly inode: number; readonly gmode: number }
  | { readonly kind: "seteattr"; readonly inode: number; readonly uid: number; readonly eattr: number; readonly smode: number }
  | { readonly kind: "getdirstats"; readonly inode: number }
  // --- File data (issue 3). Chunk indexes count 64 MiB chunks from the file's start. ---
  /** Where chunk `index` of a file lives (READ_CHUNK). Also what mfsfileinfo asks per chunk. */
  | { readonly kind: "readchunk"; readonly inode: number; readonly index: number }
  /**
   * Lock chunk `index` for writing (WRITE_CHUNK): creates it, bumps its version or copies it on
   * write as needed - the shard answers only after the chunkservers confirmed. `flags` are the
   * client's chunkopflags (ChunkOpFlag).
   */
  | { readonly kind: "writechunk"; readonly inode: number; readonly index: number; readonly flags: number }
  /** The client finished writing (WRITE_CHUNK_END): unlock, length = max(length, `length`) if > 0. */
  | {
      readonly kind: "writechunkend";
      readonly inode: number;
      readonly index: number;
      readonly chunkId: bigint;
      readonly length: number;
      readonly flags: number;
    }
  /** mfscheckfile: per copy-count histogram of a file's chunks (CHECK without index). */
  | { readonly kind: "checkfile"; readonly inode: number }
  /** One chunk's copies with their state (CHECK with index; mfsfileinfo). */
  | { readonly kind: "checkchunk"; readonly inode: number; readonly index: number }
  /** mfsmakesnapshot: copy `inode` (file or tree) to parentDst/nameDst sharing chunks copy-on-write. */
  | {
      readonly kind: "snapshot";
      readonly inode: number;
      readonly parentDst: number;
      readonly nameDst: Name;
      /** SNAPSHOT_MODE bits: 1 = can overwrite, 2 = cp-like (caller's ownership/umask). */
      readonly smode: number;
      readonly umask: number;
    }
  // --- Chunkserver reports (system commands: ctx.sessionId 0), routed by the chunk id's slot. ---
  /**
   * Copies a chunkserver holds, all of one slot: a registration batch or CHUNK_NEW. `fullReport`
   * marks registration batches (the shard then also asks for version bumps as mfsmaster does).
   */
  | {
      readonly kind: "chunkscopies";
      readonly slot: number;
      readonly csid: number;
      readonly fullReport: boolean;
      readonly copies: readonly { readonly chunkId: bigint; readonly version: number }[];
    }
  /** Copies a chunkserver lost or found damaged (CHUNK_LOST / CHUNK_DAMAGED), all of one slot. */
  | { readonly kind: "chunksgone"; readonly slot: number; readonly csid: number; readonly chunkIds: readonly bigint[] }
  /**
   * A chunkserver (re)started registering: forget every copy it had reported (it reports them all
   * again). Goes to every shard.
   */
  | { readonly kind: "chunkserverreset"; readonly csid: number }
  // --- Cross-shard transactions (txn.ts): sent by the coordinator straight to one shard. ---
  /** Facts about `inode` (and, for a directory, its entry `name`) for planning. Read-only. */
  | { readonly kind: "txinspect"; readonly inode: number; readonly name?: Name }
  /**
   * Validate and log the parts of transaction `txid` this shard owns, with their locks.
   * `slot`: a slot of this shard the coordinator routed by (a shard not owning it answers MOVED).
   * `requestId` of the client request: remembered so a retry is recognised as decided by `txid`.
   */
  | { readonly kind: "txprepare"; readonly slot: number; readonly txid: string; readonly parts: readonly TxPart[]; readonly clientRequestId: string }
  /** Apply the prepared parts of `txid` (idempotent: a commit of a committed txid answers OK). */
  | { readonly kind: "txcommit"; readonly slot: number; readonly txid: string; readonly newInode?: number }
  /** Drop the prepared parts of `txid` and its locks (idempotent; unknown txid: OK). */
  | { readonly kind: "txabort"; readonly slot: number; readonly txid: string }
  /** One page of this shard's namespace for fsck: nodes with inode > afterInode, at most `max`. Read-only. */
  | { readonly kind: "fsckdump"; readonly slot: number; readonly afterInode: number; readonly max: number };

/** chunkopflags of READ_CHUNK / WRITE_CHUNK / WRITE_CHUNK_END. */
export const ChunkOpFlag = { CAN_MODTIME: 0x01, CONTINUE_OP: 0x02, CAN_USE_RESERVE_SPACE: 0x04 } as const;
/** Per-copy state in a checkchunk result (the `type` byte mfsfileinfo prints). */
export const CopyState = { VALID: 0, TO_DELETE: 1, BUSY: 2, WRONG_VERSION: 3 } as const;

export type CommandKind = Command["kind"];
export type CommandOf<K extends CommandKind> = Extract<Command, { kind: K }>;

/** Commands that never change state: a shard serves them without a log append. */
export const readOnlyKinds: ReadonlySet<CommandKind> = new Set<CommandKind>([
  "statfs",
  "access",
  "lookup",
  "getattr",
  "readlink",
  "readdir",
  "getxattr",
  "getfacl",
  "gettrashtime",
  "getgoal",
  "geteattr",
  "getdirstats",
  "readchunk",
  "checkfile",
  "checkchunk",
  "txinspect",
  "fsckdump",
]);
