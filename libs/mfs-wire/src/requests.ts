/**
 * Client → master requests of MooseFS 3.0.117 (protocol §2–§3), decoded into a discriminated union
 * of typed objects and encoded back (benchmarks and simulated mounts speak the protocol too).
 *
 * Decoding is strict: every layout is checked against the frame's exact length, the way mfsmaster
 * does before it KILLs a connection; anything else is a DecodeError. Encoding reproduces the exact
 * bytes of a decoded request (golden tests check this on captured traffic).
 *
 * Layouts are written after the frame header, in MooseFS notation; `msgid:32` opens every payload
 * except REGISTER, SUSTAINED_INODES and AMTIME_INODES.
 */
import { limits } from "@antler/base";
import * as code from "./codes.ts";
import { readCredentials, writeCredentials, type Credentials } from "./credentials.ts";
import { DecodeError } from "./errors.ts";
import { encodeFrame, type Frame } from "./frame.ts";
import { Reader } from "./reader.ts";
import { Writer } from "./writer.ts";

// ---------------------------------------------------------------------------------------------
// Types

/** CLTOMA_FUSE_REGISTER 400 (no msgid): `blob:64B rcode:8 …` — see each variant. */
export type CltomaFuseRegister =
  /** rcode 1 GETRANDOM: nothing more (length 65). */
  | { readonly kind: "register"; readonly rcode: 1 }
  /**
   * rcode 2 NEWSESSION: `version:32 ileng:32 info[ileng] pleng:32 path[pleng] [sessionid:32
   * [metaid:64]] [passcode:16B]`. path, when present, ends with NUL.
   */
  | {
      readonly kind: "register";
      readonly rcode: 2;
      readonly version: number;
      readonly info: Uint8Array;
      readonly path: Uint8Array;
      readonly sessionId?: number;
      readonly metaId?: bigint;
      readonly passcode?: Uint8Array;
    }
  /** rcode 3 RECONNECT / 4 TOOLS: `sessionid:32 version:32 [metaid:64]` (length 73 / 81). */
  | { readonly kind: "register"; readonly rcode: 3 | 4; readonly sessionId: number; readonly version: number; readonly metaId?: bigint }
  /** rcode 5 NEWMETASESSION: `version:32 ileng:32 info[ileng] [sessionid:32 [metaid:64]] [passcode:16B]`. */
  | {
      readonly kind: "register";
      readonly rcode: 5;
      readonly version: number;
      readonly info: Uint8Array;
      readonly sessionId?: number;
      readonly metaId?: bigint;
      readonly passcode?: Uint8Array;
    }
  /** rcode 6 CLOSESESSION: `sessionid:32 [metaid:64]` (length 69 / 77). */
  | { readonly kind: "register"; readonly rcode: 6; readonly sessionId: number; readonly metaId?: bigint };

/** ANTOAN_NOP 0: empty (chunkservers), or `msgid:32` (0 from mounts). */
export interface AntoanNop {
  readonly kind: "nop";
  readonly msgid: number | null;
}
/** ANTOAN_GET_VERSION 10: `[msgid:32]`. */
export interface AntoanGetVersion {
  readonly kind: "getversion";
  readonly msgid: number | null;
}
/** CLTOMA_FUSE_STATFS 402: `msgid:32`. */
export interface CltomaFuseStatfs {
  readonly kind: "statfs";
  readonly msgid: number;
}
/**
 * CLTOMA_FUSE_ACCESS 404: `msgid:32 inode:32 CRED modemask:16`, or the old 17-byte form
 * `msgid:32 inode:32 uid:32 gid:32 modemask:8` (odd length) — credentials.form "single".
 */
export interface CltomaFuseAccess {
  readonly kind: "access";
  readonly msgid: number;
  readonly inode: number;
  readonly credentials: Credentials;
  readonly modemask: number;
}
/** CLTOMA_FUSE_LOOKUP 406: `msgid:32 parent:32 NAME CRED`. */
export interface CltomaFuseLookup {
  readonly kind: "lookup";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly credentials: Credentials;
}
/**
 * CLTOMA_FUSE_GETATTR 408: `msgid:32 inode:32 opened:8 uid:32 gid:32` (17, 3.0.117), or older
 * `msgid:32 inode:32 uid:32 gid:32` (16) and `msgid:32 inode:32` (8).
 */
export interface CltomaFuseGetattr {
  readonly kind: "getattr";
  readonly msgid: number;
  readonly inode: number;
  readonly opened: number | null;
  readonly uid: number | null;
  readonly gid: number | null;
}
/**
 * CLTOMA_FUSE_SETATTR 410: `msgid:32 inode:32 opened:8 CRED setmask:8 mode:16 uid:32 gid:32
 * atime:32 mtime:32 winattr:8 sugidclearmode:8`.
 */
export interface CltomaFuseSetattr {
  readonly kind: "setattr";
  readonly msgid: number;
  readonly inode: number;
  readonly opened: number;
  readonly credentials: Credentials;
  readonly setmask: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atime: number;
  readonly mtime: number;
  readonly winattr: number;
  readonly sugidclearmode: number;
}
/** CLTOMA_FUSE_READLINK 412: `msgid:32 inode:32`. */
export interface CltomaFuseReadlink {
  readonly kind: "readlink";
  readonly msgid: number;
  readonly inode: number;
}
/** CLTOMA_FUSE_SYMLINK 414: `msgid:32 parent:32 NAME pleng:32 path[pleng] CRED` (path ends with NUL). */
export interface CltomaFuseSymlink {
  readonly kind: "symlink";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly path: Uint8Array;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_MKNOD 416: `msgid:32 parent:32 NAME type:8 mode:16 umask:16 CRED rdev:32`. */
export interface CltomaFuseMknod {
  readonly kind: "mknod";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly type: number;
  readonly mode: number;
  readonly umask: number;
  readonly credentials: Credentials;
  readonly rdev: number;
}
/** CLTOMA_FUSE_MKDIR 418: `msgid:32 parent:32 NAME mode:16 umask:16 CRED copysgid:8`. */
export interface CltomaFuseMkdir {
  readonly kind: "mkdir";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly mode: number;
  readonly umask: number;
  readonly credentials: Credentials;
  readonly copysgid: number;
}
/** CLTOMA_FUSE_UNLINK 420 / CLTOMA_FUSE_RMDIR 422: `msgid:32 parent:32 NAME CRED`. */
export interface CltomaFuseUnlink {
  readonly kind: "unlink" | "rmdir";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_RENAME 424: `msgid:32 parent_src:32 NAME_src parent_dst:32 NAME_dst CRED`. */
export interface CltomaFuseRename {
  readonly kind: "rename";
  readonly msgid: number;
  readonly parentSrc: number;
  readonly nameSrc: Uint8Array;
  readonly parentDst: number;
  readonly nameDst: Uint8Array;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_LINK 426: `msgid:32 inode:32 parent_dst:32 NAME_dst CRED`. */
export interface CltomaFuseLink {
  readonly kind: "link";
  readonly msgid: number;
  readonly inode: number;
  readonly parentDst: number;
  readonly nameDst: Uint8Array;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_READDIR 428: `msgid:32 inode:32 CRED flags:8 maxentries:32 nedgeid:64`. */
export interface CltomaFuseReaddir {
  readonly kind: "readdir";
  readonly msgid: number;
  readonly inode: number;
  readonly credentials: Credentials;
  readonly flags: number;
  readonly maxEntries: number;
  readonly nedgeId: bigint;
}
/**
 * CLTOMA_FUSE_OPEN 430: `msgid:32 inode:32 CRED flags:8`; old form (length 17)
 * `msgid:32 inode:32 uid:32 gid:32 flags:8` — credentials.form "single".
 */
export interface CltomaFuseOpen {
  readonly kind: "open";
  readonly msgid: number;
  readonly inode: number;
  readonly credentials: Credentials;
  readonly flags: number;
}
/** CLTOMA_FUSE_CREATE 482: `msgid:32 parent:32 NAME mode:16 umask:16 CRED`. */
export interface CltomaFuseCreate {
  readonly kind: "create";
  readonly msgid: number;
  readonly parent: number;
  readonly name: Uint8Array;
  readonly mode: number;
  readonly umask: number;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_TRUNCATE 464: `msgid:32 inode:32 flags:8 CRED length:64`. */
export interface CltomaFuseTruncate {
  readonly kind: "truncate";
  readonly msgid: number;
  readonly inode: number;
  readonly flags: number;
  readonly credentials: Credentials;
  readonly length: bigint;
}
/** CLTOMA_FUSE_GETXATTR 478: `msgid:32 inode:32 NAME mode:8 opened:8 CRED` (empty NAME = list). */
export interface CltomaFuseGetxattr {
  readonly kind: "getxattr";
  readonly msgid: number;
  readonly inode: number;
  readonly name: Uint8Array;
  readonly mode: number;
  readonly opened: number;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_SETXATTR 480: `msgid:32 inode:32 NAME vleng:32 value[vleng] mode:8 opened:8 CRED`. */
export interface CltomaFuseSetxattr {
  readonly kind: "setxattr";
  readonly msgid: number;
  readonly inode: number;
  readonly name: Uint8Array;
  readonly value: Uint8Array;
  readonly mode: number;
  readonly opened: number;
  readonly credentials: Credentials;
}
/** CLTOMA_FUSE_GETFACL 488: `msgid:32 inode:32 acltype:8` (3.0.91+: no credentials). */
export interface CltomaFuseGetfacl {
  readonly kind: "getfacl";
  readonly msgid: number;
  readonly inode: number;
  readonly acltype: number;
}
export interface AclEntry {
  readonly id: number;
  readonly perm: number;
}
/**
 * CLTOMA_FUSE_SETFACL 490: `msgid:32 inode:32 uid:32 acltype:8 userperm:16 groupperm:16
 * otherperm:16 mask:16 nusers:16 ngroups:16 nusers×[uid:32 perm:16] ngroups×[gid:32 perm:16]`.
 */
export interface CltomaFuseSetfacl {
  readonly kind: "setfacl";
  readonly msgid: number;
  readonly inode: number;
  readonly uid: number;
  readonly acltype: number;
  readonly userPerm: number;
  readonly groupPerm: number;
  readonly otherPerm: number;
  readonly mask: number;
  readonly users: readonly AclEntry[];
  readonly groups: readonly AclEntry[];
}
/** CLTOMA_FUSE_FLOCK 492: `msgid:32 inode:32 reqid:32 owner:64 cmd:8`. */
export interface CltomaFuseFlock {
  readonly kind: "flock";
  readonly msgid: number;
  readonly inode: number;
  readonly reqid: number;
  readonly owner: bigint;
  readonly cmd: number;
}
/** CLTOMA_FUSE_POSIX_LOCK 494: `msgid:32 inode:32 reqid:32 owner:64 pid:32 cmd:8 type:8 start:64 end:64`. */
export interface CltomaFusePosixLock {
  readonly kind: "posixlock";
  readonly msgid: number;
  readonly inode: number;
  readonly reqid: number;
  readonly owner: bigint;
  readonly pid: number;
  readonly cmd: number;
  readonly type: number;
  readonly start: bigint;
  readonly end: bigint;
}
/** CLTOMA_FUSE_TIME_SYNC 704: `[msgid:32]` (mounts send msgid 0). */
export interface CltomaFuseTimeSync {
  readonly kind: "timesync";
  readonly msgid: number | null;
}
/** CLTOMA_FUSE_SUSTAINED_INODES 700 (and deprecated 499), no msgid: `N × inode:32`. */
export interface CltomaFuseSustainedInodes {
  readonly kind: "sustained";
  readonly deprecatedCode: boolean;
  readonly inodes: readonly number[];
}
/** CLTOMA_FUSE_AMTIME_INODES 701, no msgid: `N × [inode:32 atime:32 mtime:32]`. */
export interface CltomaFuseAmtimeInodes {
  readonly kind: "amtime";
  readonly entries: readonly { readonly inode: number; readonly atime: number; readonly mtime: number }[];
}
/**
 * "get" tool queries — CLTOMA_FUSE_GETTRASHTIME 442, CLTOMA_FUSE_GETSCLASS 446,
 * CLTOMA_FUSE_GETEATTR 472: `msgid:32 inode:32 gmode:8`.
 */
export interface CltomaFuseGetToolValue {
  readonly kind: "gettrashtime" | "getsclass" | "geteattr";
  readonly msgid: number;
  readonly inode: number;
  readonly gmode: number;
}
/** CLTOMA_FUSE_SETTRASHTIME 444: `msgid:32 inode:32 uid:32 trashtime:32 smode:8`. */
export interface CltomaFuseSettrashtime {
  readonly kind: "settrashtime";
  readonly msgid: number;
  readonly inode: number;
  readonly uid: number;
  readonly trashtime: number;
  readonly smode: number;
}
/**
 * CLTOMA_FUSE_SETSCLASS 448: `msgid:32 inode:32 uid:32 goal:8 smode:8` (goal 1..9), or by class
 * name `msgid:32 inode:32 uid:32 0xFF:8 smode:8 [NAME_src if smode is EXCHANGE] NAME_dst`.
 */
export interface CltomaFuseSetsclass {
  readonly kind: "setsclass";
  readonly msgid: number;
  readonly inode: number;
  readonly uid: number;
  readonly smode: number;
  readonly target:
    | { readonly goal: number }
    | { readonly className: Uint8Array; readonly sourceClassName: Uint8Array | null };
}
/** CLTOMA_FUSE_SETEATTR 474: `msgid:32 inode:32 uid:32 eattr:8 smode:8`. */
export interface CltomaFuseSeteattr {
  readonly kind: "seteattr";
  readonly msgid: number;
  readonly inode: number;
  readonly uid: number;
  readonly eattr: number;
  readonly smode: number;
}
/** CLTOMA_FUSE_GETDIRSTATS 462: `msgid:32 inode:32`. */
export interface CltomaFuseGetdirstats {
  readonly kind: "getdirstats";
  readonly msgid: number;
  readonly inode: number;
}
/** CLTOMA_FUSE_READ_CHUNK 432 / WRITE_CHUNK 434: `msgid:32 inode:32 chunkindx:32 [chunkopflags:8]`. */
export interface CltomaFuseChunk {
  readonly kind: "readchunk" | "writechunk";
  readonly msgid: number;
  readonly inode: number;
  readonly chunkIndex: number;
  readonly chunkOpFlags: number | null;
}
/**
 * CLTOMA_FUSE_WRITE_CHUNK_END 436: `msgid:32 chunkid:64 inode:32 chunkindx:32 length:64
 * chunkopflags:8` (29, 3.0.74+), or `msgid:32 chunkid:64 inode:32 length:64 [chunkopflags:8]`.
 */
export interface CltomaFuseWriteChunkEnd {
  readonly kind: "writechunkend";
  readonly msgid: number;
  readonly chunkId: bigint;
  readonly inode: number;
  readonly chunkIndex: number | null;
  readonly length: bigint;
  readonly chunkOpFlags: number | null;
}
/** CLTOMA_FUSE_CHECK 440: `msgid:32 inode:32 [chunkindx:32]`. */
export interface CltomaFuseCheck {
  readonly kind: "check";
  readonly msgid: number;
  readonly inode: number;
  readonly chunkIndex: number | null;
}
/** CLTOMA_FUSE_SNAPSHOT 468: `msgid:32 inode:32 parent_dst:32 NAME_dst CRED smode:8 umask:16`. */
export interface CltomaFuseSnapshot {
  readonly kind: "snapshot";
  readonly msgid: number;
  readonly inode: number;
  readonly parentDst: number;
  readonly nameDst: Uint8Array;
  readonly credentials: Credentials;
  readonly smode: number;
  readonly umask: number;
}

export type ClientRequest =
  | CltomaFuseRegister
  | AntoanNop
  | AntoanGetVersion
  | CltomaFuseStatfs
  | CltomaFuseAccess
  | CltomaFuseLookup
  | CltomaFuseGetattr
  | CltomaFuseSetattr
  | CltomaFuseReadlink
  | CltomaFuseSymlink
  | CltomaFuseMknod
  | CltomaFuseMkdir
  | CltomaFuseUnlink
  | CltomaFuseRename
  | CltomaFuseLink
  | CltomaFuseReaddir
  | CltomaFuseOpen
  | CltomaFuseCreate
  | CltomaFuseTruncate
  | CltomaFuseGetxattr
  | CltomaFuseSetxattr
  | CltomaFuseGetfacl
  | CltomaFuseSetfacl
  | CltomaFuseFlock
  | CltomaFusePosixLock
  | CltomaFuseTimeSync
  | CltomaFuseSustainedInodes
  | CltomaFuseAmtimeInodes
  | CltomaFuseGetToolValue
  | CltomaFuseSettrashtime
  | CltomaFuseSetsclass
  | CltomaFuseSeteattr
  | CltomaFuseGetdirstats
  | CltomaFuseChunk
  | CltomaFuseWriteChunkEnd
  | CltomaFuseCheck
  | CltomaFuseSnapshot;

export type ClientRequestKind = ClientRequest["kind"];

// ---------------------------------------------------------------------------------------------
// Decoding

const blobBytes = new TextEncoder().encode(code.registerBlobAcl);

/** Frame types this module decodes, for callers that want to tell "unknown" from "malformed". */
export function isKnownRequestType(type: number): boolean {
  return decoders.has(type);
}

/**
 * Decodes one client→master frame. Throws DecodeError for an unknown type or a payload that does
 * not match the message's layout; never anything else.
 */
export function decodeRequest(frame: Frame): ClientRequest {
  const decode = decoders.get(frame.type);
  if (decode === undefined) throw new DecodeError(`unknown client request type ${frame.type}`);
  const reader = new Reader(frame.payload);
  const request = decode(reader, frame.payload.length);
  reader.end(`request type ${frame.type}`);
  return request;
}

type Decode = (r: Reader, length: number) => ClientRequest;

function name(r: Reader): Uint8Array {
  return r.name("name");
}

const decoders = new Map<number, Decode>([
  [code.ANTOAN_NOP, (r, length) => {
    if (length !== 0 && length !== 4) throw new DecodeError(`NOP length ${length}`);
    return { kind: "nop", msgid: length === 4 ? r.u32("msgid") : null };
  }],
  [code.ANTOAN_GET_VERSION, (r, length) => {
    if (length !== 0 && length !== 4) throw new DecodeError(`GET_VERSION length ${length}`);
    return { kind: "getversion", msgid: length === 4 ? r.u32() : null };
  }],
  [code.CLTOMA_FUSE_REGISTER, decodeRegister],
  [code.CLTOMA_FUSE_STATFS, (r) => ({ kind: "statfs", msgid: r.u32("msgid") })],
  [code.CLTOMA_FUSE_ACCESS, (r, length) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    if (length % 2 === 1) {
      // The old form: single gid and an 8-bit modemask; mfsmaster accepts exactly 17 bytes.
      if (length !== 17) throw new DecodeError(`ACCESS old form length ${length}, want 17`);
      const uid = r.u32("uid");
      const gid = r.u32("gid");
      return { kind: "access", msgid, inode, credentials: { uid, gids: [gid], form: "single" }, modemask: r.u8("modemask") };
    }
    const credentials = readCredentials(r, 2, "ACCESS");
    if (credentials.form === "single") throw new DecodeError("ACCESS: single-gid form must use the 17-byte layout");
    return { kind: "access", msgid, inode, credentials, modemask: r.u16("modemask") };
  }],
  [code.CLTOMA_FUSE_LOOKUP, (r) => {
    const msgid = r.u32("msgid");
    const parent = r.u32("parent");
    const n = name(r);
    return { kind: "lookup", msgid, parent, name: n, credentials: readCredentials(r, 0, "LOOKUP") };
  }],
  [code.CLTOMA_FUSE_GETATTR, (r, length) => {
    if (length !== 8 && length !== 16 && length !== 17) throw new DecodeError(`GETATTR length ${length}`);
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const opened = length === 17 ? r.u8("opened") : null;
    const uid = length >= 16 ? r.u32("uid") : null;
    const gid = length >= 16 ? r.u32("gid") : null;
    return { kind: "getattr", msgid, inode, opened, uid, gid };
  }],
  [code.CLTOMA_FUSE_SETATTR, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const opened = r.u8("opened");
    const credentials = readCredentials(r, 21, "SETATTR");
    return {
      kind: "setattr",
      msgid,
      inode,
      opened,
      credentials,
      setmask: r.u8("setmask"),
      mode: r.u16("mode"),
      uid: r.u32("uid"),
      gid: r.u32("gid"),
      atime: r.u32("atime"),
      mtime: r.u32("mtime"),
      winattr: r.u8("winattr"),
      sugidclearmode: r.u8("sugidclearmode"),
    };
  }],
  [code.CLTOMA_FUSE_READLINK, (r) => ({ kind: "readlink", msgid: r.u32("msgid"), inode: r.u32("inode") })],
  [code.CLTOMA_FUSE_SYMLINK, (r) => {
    const msgid = r.u32("msgid");
    const parent = r.u32("parent");
    const n = name(r);
    // The target's length limit (MFS_SYMLINK_MAX) is a filesystem rule (EINVAL), not a framing one.
    const path = r.bytes(r.u32("path length"), "path");
    return { kind: "symlink", msgid, parent, name: n, path, credentials: readCredentials(r, 0, "SYMLINK") };
  }],
  [code.CLTOMA_FUSE_MKNOD, (r) => {
    const msgid = r.u32("msgid");
    const parent = r.u32("parent");
    const n = name(r);
    const type = r.u8("type");
    const mode = r.u16("mode");
    const umask = r.u16("umask");
    const credentials = readCredentials(r, 4, "MKNOD");
    return { kind: "mknod", msgid, parent, name: n, type, mode, umask, credentials, rdev: r.u32("rdev") };
  }],
  [code.CLTOMA_FUSE_MKDIR, (r) => {
    const msgid = r.u32("msgid");
    const parent = r.u32("parent");
    const n = name(r);
    const mode = r.u16("mode");
    const umask = r.u16("umask");
    const credentials = readCredentials(r, 1, "MKDIR");
    return { kind: "mkdir", msgid, parent, name: n, mode, umask, credentials, copysgid: r.u8("copysgid") };
  }],
  [code.CLTOMA_FUSE_UNLINK, (r) => decodeRemove("unlink", r)],
  [code.CLTOMA_FUSE_RMDIR, (r) => decodeRemove("rmdir", r)],
  [code.CLTOMA_FUSE_RENAME, (r) => {
    const msgid = r.u32("msgid");
    const parentSrc = r.u32("parent_src");
    const nameSrc = name(r);
    const parentDst = r.u32("parent_dst");
    const nameDst = name(r);
    return { kind: "rename", msgid, parentSrc, nameSrc, parentDst, nameDst, credentials: readCredentials(r, 0, "RENAME") };
  }],
  [code.CLTOMA_FUSE_LINK, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const parentDst = r.u32("parent_dst");
    const nameDst = name(r);
    return { kind: "link", msgid, inode, parentDst, nameDst, credentials: readCredentials(r, 0, "LINK") };
  }],
  [code.CLTOMA_FUSE_READDIR, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const credentials = readCredentials(r, 13, "READDIR");
    return { kind: "readdir", msgid, inode, credentials, flags: r.u8("flags"), maxEntries: r.u32("maxentries"), nedgeId: r.u64("nedgeid") };
  }],
  [code.CLTOMA_FUSE_OPEN, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const credentials = readCredentials(r, 1, "OPEN");
    return { kind: "open", msgid, inode, credentials, flags: r.u8("flags") };
  }],
  [code.CLTOMA_FUSE_CREATE, (r) => {
    const msgid = r.u32("msgid");
    const parent = r.u32("parent");
    const n = name(r);
    const mode = r.u16("mode");
    const umask = r.u16("umask");
    return { kind: "create", msgid, parent, name: n, mode, umask, credentials: readCredentials(r, 0, "CREATE") };
  }],
  [code.CLTOMA_FUSE_TRUNCATE, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const flags = r.u8("flags");
    const credentials = readCredentials(r, 8, "TRUNCATE");
    return { kind: "truncate", msgid, inode, flags, credentials, length: r.u64("length") };
  }],
  [code.CLTOMA_FUSE_GETXATTR, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const n = name(r);
    const mode = r.u8("mode");
    const opened = r.u8("opened");
    return { kind: "getxattr", msgid, inode, name: n, mode, opened, credentials: readCredentials(r, 0, "GETXATTR") };
  }],
  [code.CLTOMA_FUSE_SETXATTR, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const n = name(r);
    const vleng = r.u32("value length");
    if (vleng > limits.xattrValueBytesMax) throw new DecodeError(`SETXATTR value of ${vleng} bytes`);
    const value = r.bytes(vleng, "value");
    const mode = r.u8("mode");
    const opened = r.u8("opened");
    return { kind: "setxattr", msgid, inode, name: n, value, mode, opened, credentials: readCredentials(r, 0, "SETXATTR") };
  }],
  [code.CLTOMA_FUSE_GETFACL, (r) => ({ kind: "getfacl", msgid: r.u32("msgid"), inode: r.u32("inode"), acltype: r.u8("acltype") })],
  [code.CLTOMA_FUSE_SETFACL, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const uid = r.u32("uid");
    const acltype = r.u8("acltype");
    const userPerm = r.u16("userperm");
    const groupPerm = r.u16("groupperm");
    const otherPerm = r.u16("otherperm");
    const mask = r.u16("mask");
    const nusers = r.u16("nusers");
    const ngroups = r.u16("ngroups");
    if (nusers > limits.aclEntriesMax || ngroups > limits.aclEntriesMax) throw new DecodeError("SETFACL: too many entries");
    if (r.remaining !== 6 * (nusers + ngroups)) throw new DecodeError("SETFACL: entry count does not match length");
    const users: AclEntry[] = [];
    for (let i = 0; i < nusers; i++) users.push({ id: r.u32("uid"), perm: r.u16("perm") });
    const groups: AclEntry[] = [];
    for (let i = 0; i < ngroups; i++) groups.push({ id: r.u32("gid"), perm: r.u16("perm") });
    return { kind: "setfacl", msgid, inode, uid, acltype, userPerm, groupPerm, otherPerm, mask, users, groups };
  }],
  [code.CLTOMA_FUSE_FLOCK, (r) => ({
    kind: "flock",
    msgid: r.u32("msgid"),
    inode: r.u32("inode"),
    reqid: r.u32("reqid"),
    owner: r.u64("owner"),
    cmd: r.u8("cmd"),
  })],
  [code.CLTOMA_FUSE_POSIX_LOCK, (r) => ({
    kind: "posixlock",
    msgid: r.u32("msgid"),
    inode: r.u32("inode"),
    reqid: r.u32("reqid"),
    owner: r.u64("owner"),
    pid: r.u32("pid"),
    cmd: r.u8("cmd"),
    type: r.u8("type"),
    start: r.u64("start"),
    end: r.u64("end"),
  })],
  [code.CLTOMA_FUSE_TIME_SYNC, (r, length) => {
    if (length !== 0 && length !== 4) throw new DecodeError(`TIME_SYNC length ${length}`);
    return { kind: "timesync", msgid: length === 4 ? r.u32("msgid") : null };
  }],
  [code.CLTOMA_FUSE_SUSTAINED_INODES, (r, length) => decodeSustained(r, length, false)],
  [code.CLTOMA_FUSE_SUSTAINED_INODES_DEPRECATED, (r, length) => decodeSustained(r, length, true)],
  [code.CLTOMA_FUSE_AMTIME_INODES, (r, length) => {
    if (length % 12 !== 0) throw new DecodeError(`AMTIME_INODES length ${length} is not a multiple of 12`);
    if (length / 12 > limits.inodeListEntriesMax) throw new DecodeError("AMTIME_INODES: too many entries");
    const entries: { inode: number; atime: number; mtime: number }[] = [];
    while (r.remaining > 0) entries.push({ inode: r.u32("inode"), atime: r.u32("atime"), mtime: r.u32("mtime") });
    return { kind: "amtime", entries };
  }],
  [code.CLTOMA_FUSE_GETTRASHTIME, (r) => decodeGetToolValue("gettrashtime", r)],
  [code.CLTOMA_FUSE_GETSCLASS, (r) => decodeGetToolValue("getsclass", r)],
  [code.CLTOMA_FUSE_GETEATTR, (r) => decodeGetToolValue("geteattr", r)],
  [code.CLTOMA_FUSE_SETTRASHTIME, (r) => ({
    kind: "settrashtime",
    msgid: r.u32("msgid"),
    inode: r.u32("inode"),
    uid: r.u32("uid"),
    trashtime: r.u32("trashtime"),
    smode: r.u8("smode"),
  })],
  [code.CLTOMA_FUSE_SETSCLASS, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const uid = r.u32("uid");
    const goal = r.u8("goal");
    const smode = r.u8("smode");
    if (goal !== 0xff) return { kind: "setsclass", msgid, inode, uid, smode, target: { goal } };
    // SMODE_TMASK (3) == SMODE_EXCHANGE (3): the source class name comes first.
    const sourceClassName = (smode & 3) === 3 ? r.name("source class") : null;
    return { kind: "setsclass", msgid, inode, uid, smode, target: { className: r.name("class"), sourceClassName } };
  }],
  [code.CLTOMA_FUSE_SETEATTR, (r) => ({
    kind: "seteattr",
    msgid: r.u32("msgid"),
    inode: r.u32("inode"),
    uid: r.u32("uid"),
    eattr: r.u8("eattr"),
    smode: r.u8("smode"),
  })],
  [code.CLTOMA_FUSE_GETDIRSTATS, (r) => ({ kind: "getdirstats", msgid: r.u32("msgid"), inode: r.u32("inode") })],
  [code.CLTOMA_FUSE_READ_CHUNK, (r, length) => decodeChunk("readchunk", r, length)],
  [code.CLTOMA_FUSE_WRITE_CHUNK, (r, length) => decodeChunk("writechunk", r, length)],
  [code.CLTOMA_FUSE_WRITE_CHUNK_END, (r, length) => {
    if (length !== 24 && length !== 25 && length !== 29) throw new DecodeError(`WRITE_CHUNK_END length ${length}`);
    const msgid = r.u32("msgid");
    const chunkId = r.u64("chunkid");
    const inode = r.u32("inode");
    const chunkIndex = length === 29 ? r.u32("chunkindx") : null;
    const fileLength = r.u64("length");
    const chunkOpFlags = length >= 25 ? r.u8("chunkopflags") : null;
    return { kind: "writechunkend", msgid, chunkId, inode, chunkIndex, length: fileLength, chunkOpFlags };
  }],
  [code.CLTOMA_FUSE_CHECK, (r, length) => {
    if (length !== 8 && length !== 12) throw new DecodeError(`CHECK length ${length}`);
    return { kind: "check", msgid: r.u32("msgid"), inode: r.u32("inode"), chunkIndex: length === 12 ? r.u32("chunkindx") : null };
  }],
  [code.CLTOMA_FUSE_SNAPSHOT, (r) => {
    const msgid = r.u32("msgid");
    const inode = r.u32("inode");
    const parentDst = r.u32("parent_dst");
    const nameDst = name(r);
    const credentials = readCredentials(r, 3, "SNAPSHOT");
    return { kind: "snapshot", msgid, inode, parentDst, nameDst, credentials, smode: r.u8("smode"), umask: r.u16("umask") };
  }],
]);

function decodeRemove(kind: "unlink" | "rmdir", r: Reader): CltomaFuseUnlink {
  const msgid = r.u32("msgid");
  const parent = r.u32("parent");
  const n = name(r);
  return { kind, msgid, parent, name: n, credentials: readCredentials(r, 0, kind.toUpperCase()) };
}

function decodeSustained(r: Reader, length: number, deprecatedCode: boolean): CltomaFuseSustainedInodes {
  if (length % 4 !== 0) throw new DecodeError(`SUSTAINED_INODES length ${length} is not a multiple of 4`);
  if (length / 4 > limits.inodeListEntriesMax) throw new DecodeError("SUSTAINED_INODES: too many entries");
  const inodes: number[] = [];
  while (r.remaining > 0) inodes.push(r.u32("inode"));
  return { kind: "sustained", deprecatedCode, inodes };
}

function decodeGetToolValue(kind: CltomaFuseGetToolValue["kind"], r: Reader): CltomaFuseGetToolValue {
  return { kind, msgid: r.u32("msgid"), inode: r.u32("inode"), gmode: r.u8("gmode") };
}

function decodeChunk(kind: "readchunk" | "writechunk", r: Reader, length: number): CltomaFuseChunk {
  if (length !== 12 && length !== 13) throw new DecodeError(`${kind} length ${length}`);
  return {
    kind,
    msgid: r.u32("msgid"),
    inode: r.u32("inode"),
    chunkIndex: r.u32("chunkindx"),
    chunkOpFlags: length === 13 ? r.u8("chunkopflags") : null,
  };
}

function decodeRegister(r: Reader, length: number): CltomaFuseRegister {
  const blob = r.bytes(64, "register blob");
  for (let i = 0; i < 64; i++) {
    if (blob[i] !== blobBytes[i]) throw new DecodeError("REGISTER: unknown blob");
  }
  const rcode = r.u8("rcode");
  switch (rcode) {
    case code.RegisterCode.GETRANDOM:
      return { kind: "register", rcode };
    case code.RegisterCode.NEWSESSION: {
      const version = r.u32("version");
      const info = r.bytes(r.u32("info length"), "info");
      const pleng = r.u32("path length");
      const path = r.bytes(pleng, "path");
      if (pleng > 0 && path[pleng - 1] !== 0) throw new DecodeError("REGISTER: path without trailing NUL");
      return { kind: "register", rcode, version, info, path, ...registerTail(r, length - 77 - info.length - pleng) };
    }
    case code.RegisterCode.NEWMETASESSION: {
      const version = r.u32("version");
      const info = r.bytes(r.u32("info length"), "info");
      return { kind: "register", rcode, version, info, ...registerTail(r, length - 73 - info.length) };
    }
    case code.RegisterCode.RECONNECT:
    case code.RegisterCode.TOOLS: {
      if (length !== 73 && length !== 81) throw new DecodeError(`REGISTER rcode ${rcode} length ${length}`);
      const sessionId = r.u32("sessionid");
      const version = r.u32("version");
      return length === 81 ? { kind: "register", rcode, sessionId, version, metaId: r.u64("metaid") } : { kind: "register", rcode, sessionId, version };
    }
    case code.RegisterCode.CLOSESESSION: {
      if (length !== 69 && length !== 77) throw new DecodeError(`REGISTER CLOSESESSION length ${length}`);
      const sessionId = r.u32("sessionid");
      return length === 77 ? { kind: "register", rcode, sessionId, metaId: r.u64("metaid") } : { kind: "register", rcode, sessionId };
    }
    default:
      throw new DecodeError(`REGISTER: unknown rcode ${rcode}`);
  }
}

/** The optional `[sessionid:32 [metaid:64]] [passcode:16B]` tail, sized by what is left. */
function registerTail(r: Reader, extra: number): { sessionId?: number; metaId?: bigint; passcode?: Uint8Array } {
  const hasPasscode = extra >= 16 && [16, 20, 28].includes(extra);
  const idBytes = hasPasscode ? extra - 16 : extra;
  if (idBytes !== 0 && idBytes !== 4 && idBytes !== 12) throw new DecodeError(`REGISTER: ${extra} trailing bytes`);
  const tail: { sessionId?: number; metaId?: bigint; passcode?: Uint8Array } = {};
  if (idBytes >= 4) tail.sessionId = r.u32("sessionid");
  if (idBytes === 12) tail.metaId = r.u64("metaid");
  if (hasPasscode) tail.passcode = r.bytes(16, "passcode");
  return tail;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** The frame type of a request (for SUSTAINED_INODES it depends on which code the client used). */
export function requestTypeOf(request: ClientRequest): number {
  switch (request.kind) {
    case "register": return code.CLTOMA_FUSE_REGISTER;
    case "nop": return code.ANTOAN_NOP;
    case "getversion": return code.ANTOAN_GET_VERSION;
    case "statfs": return code.CLTOMA_FUSE_STATFS;
    case "access": return code.CLTOMA_FUSE_ACCESS;
    case "lookup": return code.CLTOMA_FUSE_LOOKUP;
    case "getattr": return code.CLTOMA_FUSE_GETATTR;
    case "setattr": return code.CLTOMA_FUSE_SETATTR;
    case "readlink": return code.CLTOMA_FUSE_READLINK;
    case "symlink": return code.CLTOMA_FUSE_SYMLINK;
    case "mknod": return code.CLTOMA_FUSE_MKNOD;
    case "mkdir": return code.CLTOMA_FUSE_MKDIR;
    case "unlink": return code.CLTOMA_FUSE_UNLINK;
    case "rmdir": return code.CLTOMA_FUSE_RMDIR;
    case "rename": return code.CLTOMA_FUSE_RENAME;
    case "link": return code.CLTOMA_FUSE_LINK;
    case "readdir": return code.CLTOMA_FUSE_READDIR;
    case "open": return code.CLTOMA_FUSE_OPEN;
    case "create": return code.CLTOMA_FUSE_CREATE;
    case "truncate": return code.CLTOMA_FUSE_TRUNCATE;
    case "getxattr": return code.CLTOMA_FUSE_GETXATTR;
    case "setxattr": return code.CLTOMA_FUSE_SETXATTR;
    case "getfacl": return code.CLTOMA_FUSE_GETFACL;
    case "setfacl": return code.CLTOMA_FUSE_SETFACL;
    case "flock": return code.CLTOMA_FUSE_FLOCK;
    case "posixlock": return code.CLTOMA_FUSE_POSIX_LOCK;
    case "timesync": return code.CLTOMA_FUSE_TIME_SYNC;
    case "sustained": return request.deprecatedCode ? code.CLTOMA_FUSE_SUSTAINED_INODES_DEPRECATED : code.CLTOMA_FUSE_SUSTAINED_INODES;
    case "amtime": return code.CLTOMA_FUSE_AMTIME_INODES;
    case "gettrashtime": return code.CLTOMA_FUSE_GETTRASHTIME;
    case "getsclass": return code.CLTOMA_FUSE_GETSCLASS;
    case "geteattr": return code.CLTOMA_FUSE_GETEATTR;
    case "settrashtime": return code.CLTOMA_FUSE_SETTRASHTIME;
    case "setsclass": return code.CLTOMA_FUSE_SETSCLASS;
    case "seteattr": return code.CLTOMA_FUSE_SETEATTR;
    case "getdirstats": return code.CLTOMA_FUSE_GETDIRSTATS;
    case "readchunk": return code.CLTOMA_FUSE_READ_CHUNK;
    case "writechunk": return code.CLTOMA_FUSE_WRITE_CHUNK;
    case "writechunkend": return code.CLTOMA_FUSE_WRITE_CHUNK_END;
    case "check": return code.CLTOMA_FUSE_CHECK;
    case "snapshot": return code.CLTOMA_FUSE_SNAPSHOT;
  }
}

/** The payload of a request (without the frame header). */
export function encodeRequestPayload(request: ClientRequest): Uint8Array {
  const w = new Writer();
  switch (request.kind) {
    case "register":
      w.bytes(blobBytes).u8(request.rcode);
      switch (request.rcode) {
        case 1:
          break;
        case 2:
          w.u32(request.version).u32(request.info.length).bytes(request.info).u32(request.path.length).bytes(request.path);
          writeRegisterTail(w, request);
          break;
        case 5:
          w.u32(request.version).u32(request.info.length).bytes(request.info);
          writeRegisterTail(w, request);
          break;
        case 3:
        case 4:
          w.u32(request.sessionId).u32(request.version);
          if (request.metaId !== undefined) w.u64(request.metaId);
          break;
        case 6:
          w.u32(request.sessionId);
          if (request.metaId !== undefined) w.u64(request.metaId);
          break;
      }
      break;
    case "nop":
    case "getversion":
    case "timesync":
      if (request.msgid !== null) w.u32(request.msgid);
      break;
    case "statfs":
      w.u32(request.msgid);
      break;
    case "access":
      w.u32(request.msgid).u32(request.inode);
      if (request.credentials.form === "single") {
        w.u32(request.credentials.uid).u32(request.credentials.gids[0] ?? 0xffffffff).u8(request.modemask);
      } else {
        writeCredentials(w, request.credentials);
        w.u16(request.modemask);
      }
      break;
    case "lookup":
    case "unlink":
    case "rmdir":
      w.u32(request.msgid).u32(request.parent).name(request.name);
      writeCredentials(w, request.credentials);
      break;
    case "getattr":
      w.u32(request.msgid).u32(request.inode);
      if (request.opened !== null) w.u8(request.opened);
      if (request.uid !== null) w.u32(request.uid).u32(request.gid ?? 0);
      break;
    case "setattr":
      w.u32(request.msgid).u32(request.inode).u8(request.opened);
      writeCredentials(w, request.credentials);
      w.u8(request.setmask).u16(request.mode).u32(request.uid).u32(request.gid).u32(request.atime).u32(request.mtime);
      w.u8(request.winattr).u8(request.sugidclearmode);
      break;
    case "readlink":
    case "getdirstats":
      w.u32(request.msgid).u32(request.inode);
      break;
    case "symlink":
      w.u32(request.msgid).u32(request.parent).name(request.name).u32(request.path.length).bytes(request.path);
      writeCredentials(w, request.credentials);
      break;
    case "mknod":
      w.u32(request.msgid).u32(request.parent).name(request.name).u8(request.type).u16(request.mode).u16(request.umask);
      writeCredentials(w, request.credentials);
      w.u32(request.rdev);
      break;
    case "mkdir":
      w.u32(request.msgid).u32(request.parent).name(request.name).u16(request.mode).u16(request.umask);
      writeCredentials(w, request.credentials);
      w.u8(request.copysgid);
      break;
    case "rename":
      w.u32(request.msgid).u32(request.parentSrc).name(request.nameSrc).u32(request.parentDst).name(request.nameDst);
      writeCredentials(w, request.credentials);
      break;
    case "link":
      w.u32(request.msgid).u32(request.inode).u32(request.parentDst).name(request.nameDst);
      writeCredentials(w, request.credentials);
      break;
    case "readdir":
      w.u32(request.msgid).u32(request.inode);
      writeCredentials(w, request.credentials);
      w.u8(request.flags).u32(request.maxEntries).u64(request.nedgeId);
      break;
    case "open":
      w.u32(request.msgid).u32(request.inode);
      writeCredentials(w, request.credentials);
      w.u8(request.flags);
      break;
    case "create":
      w.u32(request.msgid).u32(request.parent).name(request.name).u16(request.mode).u16(request.umask);
      writeCredentials(w, request.credentials);
      break;
    case "truncate":
      w.u32(request.msgid).u32(request.inode).u8(request.flags);
      writeCredentials(w, request.credentials);
      w.u64(request.length);
      break;
    case "getxattr":
      w.u32(request.msgid).u32(request.inode).name(request.name).u8(request.mode).u8(request.opened);
      writeCredentials(w, request.credentials);
      break;
    case "setxattr":
      w.u32(request.msgid).u32(request.inode).name(request.name).u32(request.value.length).bytes(request.value);
      w.u8(request.mode).u8(request.opened);
      writeCredentials(w, request.credentials);
      break;
    case "getfacl":
      w.u32(request.msgid).u32(request.inode).u8(request.acltype);
      break;
    case "setfacl":
      w.u32(request.msgid).u32(request.inode).u32(request.uid).u8(request.acltype);
      w.u16(request.userPerm).u16(request.groupPerm).u16(request.otherPerm).u16(request.mask);
      w.u16(request.users.length).u16(request.groups.length);
      for (const e of request.users) w.u32(e.id).u16(e.perm);
      for (const e of request.groups) w.u32(e.id).u16(e.perm);
      break;
    case "flock":
      w.u32(request.msgid).u32(request.inode).u32(request.reqid).u64(request.owner).u8(request.cmd);
      break;
    case "posixlock":
      w.u32(request.msgid).u32(request.inode).u32(request.reqid).u64(request.owner).u32(request.pid);
      w.u8(request.cmd).u8(request.type).u64(request.start).u64(request.end);
      break;
    case "sustained":
      for (const inode of request.inodes) w.u32(inode);
      break;
    case "amtime":
      for (const e of request.entries) w.u32(e.inode).u32(e.atime).u32(e.mtime);
      break;
    case "gettrashtime":
    case "getsclass":
    case "geteattr":
      w.u32(request.msgid).u32(request.inode).u8(request.gmode);
      break;
    case "settrashtime":
      w.u32(request.msgid).u32(request.inode).u32(request.uid).u32(request.trashtime).u8(request.smode);
      break;
    case "setsclass":
      w.u32(request.msgid).u32(request.inode).u32(request.uid);
      if ("goal" in request.target) {
        w.u8(request.target.goal).u8(request.smode);
      } else {
        w.u8(0xff).u8(request.smode);
        if (request.target.sourceClassName !== null) w.name(request.target.sourceClassName);
        w.name(request.target.className);
      }
      break;
    case "seteattr":
      w.u32(request.msgid).u32(request.inode).u32(request.uid).u8(request.eattr).u8(request.smode);
      break;
    case "readchunk":
    case "writechunk":
      w.u32(request.msgid).u32(request.inode).u32(request.chunkIndex);
      if (request.chunkOpFlags !== null) w.u8(request.chunkOpFlags);
      break;
    case "writechunkend":
      w.u32(request.msgid).u64(request.chunkId).u32(request.inode);
      if (request.chunkIndex !== null) w.u32(request.chunkIndex);
      w.u64(request.length);
      if (request.chunkOpFlags !== null) w.u8(request.chunkOpFlags);
      break;
    case "check":
      w.u32(request.msgid).u32(request.inode);
      if (request.chunkIndex !== null) w.u32(request.chunkIndex);
      break;
    case "snapshot":
      w.u32(request.msgid).u32(request.inode).u32(request.parentDst).name(request.nameDst);
      writeCredentials(w, request.credentials);
      w.u8(request.smode).u16(request.umask);
      break;
  }
  return w.finish();
}

function writeRegisterTail(w: Writer, tail: { sessionId?: number; metaId?: bigint; passcode?: Uint8Array }): void {
  if (tail.sessionId !== undefined) w.u32(tail.sessionId);
  if (tail.metaId !== undefined) w.u64(tail.metaId);
  if (tail.passcode !== undefined) w.bytes(tail.passcode);
}

/** A whole frame (header + payload) for a request. */
export function encodeRequest(request: ClientRequest): Uint8Array {
  return encodeFrame(requestTypeOf(request), encodeRequestPayload(request));
}
