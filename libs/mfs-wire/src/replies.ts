/**
 * Master → client replies of MooseFS 3.0.117 (protocol §2–§3), as typed objects with an exact
 * encoder (the gateway's output) and a decoder (benchmarks, simulated mounts, golden tests).
 *
 * Every reply on a registered mount starts with the request's `msgid:32`. A reply whose body after
 * msgid is exactly one byte is a status (MFS_ERROR_*); any other body is the success layout of the
 * request, whose size mfsmount checks exactly. Some success layouts cannot be told apart by their
 * bytes alone (READDIR with or without attributes, GETXATTR value or length, CHECK forms,
 * REGISTER replies), so the decoder takes the request the reply answers.
 */
import type { Attr } from "@antler/ops";
import { attrRecordBytes, readAttr, writeAttr } from "./attr-record.ts";
import * as code from "./codes.ts";
import { DecodeError } from "./errors.ts";
import { frameHeaderBytes, type Frame } from "./frame.ts";
import { Reader } from "./reader.ts";
import type { AclEntry, ClientRequest } from "./requests.ts";
import { Writer } from "./writer.ts";

/** A chunkserver in a chunk location list (protocolid 2): `ip:32 port:16 csver:32 labelmask:32`. */
export interface ChunkServerLocation {
  readonly ip: number;
  readonly port: number;
  readonly version: number;
  readonly labelMask: number;
}

/** One READDIR entry: `NAME inode:32 type:8`, or `NAME inode:32 ATTR` with GETDIR_FLAG_WITHATTR. */
export type ReaddirEntry =
  | { readonly name: Uint8Array; readonly inode: number; readonly type: number }
  | { readonly name: Uint8Array; readonly inode: number; readonly attr: Attr };

/** A per-value count in a "get" tool reply. */
export interface ValueCount {
  readonly value: number;
  readonly count: number;
}
/** GETSCLASS counts: a plain goal `goal:8 count:32` or a named class `0xFF:8 NAME count:32`. */
export type SclassCount =
  | { readonly goal: number; readonly count: number }
  | { readonly className: Uint8Array; readonly count: number };

export type MasterReply =
  /** Any FUSE reply carrying only a status: `msgid:32 status:8`. */
  | { readonly kind: "status"; readonly type: number; readonly msgid: number; readonly status: number }
  /**
   * MATOCL_FUSE_REGISTER 401 to NEWSESSION (49 bytes, client ≥ 3.0.112): `version:32 sessionid:32
   * metaid:64 sesflags:8 umask:16 rootuid:32 rootgid:32 mapalluid:32 mapallgid:32 mingoal:8
   * maxgoal:8 mintrashtime:32 maxtrashtime:32 disables:32`.
   */
  | {
      readonly kind: "register-session";
      readonly version: number;
      readonly sessionId: number;
      readonly metaId: bigint;
      readonly sesflags: number;
      readonly umask: number;
      readonly rootUid: number;
      readonly rootGid: number;
      readonly mapAllUid: number;
      readonly mapAllGid: number;
      readonly minGoal: number;
      readonly maxGoal: number;
      readonly minTrashTime: number;
      readonly maxTrashTime: number;
      readonly disables: number;
    }
  /** MATOCL_FUSE_REGISTER 401 to RECONNECT (client ≥ 3.0.95): `version:32 status:8`. */
  | { readonly kind: "register-reconnect"; readonly version: number; readonly status: number }
  /** MATOCL_FUSE_REGISTER 401: `status:8` (errors, TOOLS, CLOSESESSION). */
  | { readonly kind: "register-status"; readonly status: number }
  /** MATOCL_FUSE_REGISTER 401 to GETRANDOM: `random:32B`. */
  | { readonly kind: "register-random"; readonly random: Uint8Array }
  /** ANTOAN_NOP 0 to a mount: `msgid:32` = 0. */
  | { readonly kind: "nop" }
  /**
   * MATOCL_FUSE_CHUNK_HAS_CHANGED 702 (unsolicited): `0:32 inode:32 chindx:32 chunkid:64
   * version:32 fleng:64 truncateflag:8`.
   */
  | {
      readonly kind: "chunk-has-changed";
      readonly inode: number;
      readonly chunkIndex: number;
      readonly chunkId: bigint;
      readonly version: number;
      readonly length: bigint;
      readonly truncateFlag: number;
    }
  /** MATOCL_FUSE_FLENG_HAS_CHANGED 703 (unsolicited): `0:32 inode:32 fleng:64`. */
  | { readonly kind: "fleng-has-changed"; readonly inode: number; readonly length: bigint }
  /** MATOCL_FUSE_INVALIDATE_CHUNK_CACHE 706 (unsolicited): `0:32`. */
  | { readonly kind: "invalidate-chunk-cache" }
  /** ANTOAN_VERSION 11: `[msgid:32] version:32 text` (text without NUL). */
  | { readonly kind: "version"; readonly msgid: number | null; readonly version: number; readonly text: Uint8Array }
  /** MATOCL_FUSE_TIME_SYNC 705: `[msgid:32] usec:64` (msgid 0 from mounts → 12 bytes). */
  | { readonly kind: "timesync"; readonly msgid: number | null; readonly usec: bigint }
  /**
   * MATOCL_FUSE_STATFS 403: `msgid:32 totalspace:64 availspace:64 freespace:64 trashspace:64
   * sustainedspace:64 inodes:32` (44 bytes after msgid).
   */
  | {
      readonly kind: "statfs";
      readonly msgid: number;
      readonly totalSpace: bigint;
      readonly availSpace: bigint;
      readonly freeSpace: bigint;
      readonly trashSpace: bigint;
      readonly sustainedSpace: bigint;
      readonly inodes: number;
    }
  /** MATOCL_FUSE_GETATTR 409 / SETATTR 411: `msgid:32 ATTR`. */
  | { readonly kind: "attr"; readonly type: number; readonly msgid: number; readonly attr: Attr }
  /**
   * MATOCL_FUSE_LOOKUP 407: `msgid:32 inode:32 ATTR [lflags:16 [protocolid:8 chunkid:64 version:32
   * N × [ip:32 port:16 csver:32 labelmask:32]]]` (40, 42, or 55+14N bytes after msgid).
   */
  | {
      readonly kind: "lookup";
      readonly msgid: number;
      readonly inode: number;
      readonly attr: Attr;
      readonly lflags: number | null;
      readonly chunk: { readonly chunkId: bigint; readonly version: number; readonly servers: readonly ChunkServerLocation[] } | null;
    }
  /** MATOCL_FUSE_SYMLINK 415 / MKNOD 417 / MKDIR 419 / RENAME 425 / LINK 427: `msgid:32 inode:32 ATTR`. */
  | { readonly kind: "node"; readonly type: number; readonly msgid: number; readonly inode: number; readonly attr: Attr }
  /** MATOCL_FUSE_CREATE 483: `msgid:32 oflags:8 inode:32 ATTR`. */
  | { readonly kind: "create"; readonly msgid: number; readonly oflags: number; readonly inode: number; readonly attr: Attr }
  /** MATOCL_FUSE_OPEN 431: `msgid:32 oflags:8 ATTR`. */
  | { readonly kind: "open"; readonly msgid: number; readonly oflags: number; readonly attr: Attr }
  /** MATOCL_FUSE_TRUNCATE 465: `msgid:32 prevlength:64 ATTR`. */
  | { readonly kind: "truncate"; readonly msgid: number; readonly prevLength: bigint; readonly attr: Attr }
  /** MATOCL_FUSE_UNLINK 421 / RMDIR 423: `msgid:32 inode:32`. */
  | { readonly kind: "removed"; readonly type: number; readonly msgid: number; readonly inode: number }
  /** MATOCL_FUSE_READLINK 413: `msgid:32 pleng:32 path[pleng]` (path ends with NUL). */
  | { readonly kind: "readlink"; readonly msgid: number; readonly path: Uint8Array }
  /** MATOCL_FUSE_READDIR 429: `msgid:32 nedgeid:64 entries…` until the end of the packet. */
  | { readonly kind: "readdir"; readonly msgid: number; readonly nedgeId: bigint; readonly entries: readonly ReaddirEntry[] }
  /** MATOCL_FUSE_GETXATTR 479: `msgid:32 vleng:32 [value[vleng]]` (value only for mode 0). */
  | { readonly kind: "xattr"; readonly msgid: number; readonly length: number; readonly value: Uint8Array | null }
  /**
   * MATOCL_FUSE_GETFACL 489: `msgid:32 userperm:16 groupperm:16 otherperm:16 mask:16 nusers:16
   * ngroups:16 nusers × [uid:32 perm:16] ngroups × [gid:32 perm:16]`.
   */
  | {
      readonly kind: "getfacl";
      readonly msgid: number;
      readonly userPerm: number;
      readonly groupPerm: number;
      readonly otherPerm: number;
      readonly mask: number;
      readonly users: readonly AclEntry[];
      readonly groups: readonly AclEntry[];
    }
  /** MATOCL_FUSE_POSIX_LOCK 495 to GET: `msgid:32 pid:32 type:8 start:64 end:64`. */
  | { readonly kind: "posixlock-get"; readonly msgid: number; readonly pid: number; readonly lockType: number; readonly start: bigint; readonly end: bigint }
  /** MATOCL_FUSE_GETTRASHTIME 443: `msgid:32 fcnt:32 dcnt:32 (fcnt+dcnt) × [trashtime:32 count:32]` — files first. */
  | { readonly kind: "trashtime-counts"; readonly msgid: number; readonly files: readonly ValueCount[]; readonly dirs: readonly ValueCount[] }
  /** MATOCL_FUSE_GETSCLASS 447: `msgid:32 fcnt:8 dcnt:8 (fcnt+dcnt) × SCLASS_COUNT` — files first. */
  | { readonly kind: "sclass-counts"; readonly msgid: number; readonly files: readonly SclassCount[]; readonly dirs: readonly SclassCount[] }
  /** MATOCL_FUSE_GETEATTR 473: `msgid:32 fcnt:8 dcnt:8 (fcnt+dcnt) × [eattr:8 count:32]` — files first. */
  | { readonly kind: "eattr-counts"; readonly msgid: number; readonly files: readonly ValueCount[]; readonly dirs: readonly ValueCount[] }
  /** MATOCL_FUSE_SETTRASHTIME 445 / SETSCLASS 449 / SETEATTR 475: `msgid:32 changed:32 notchanged:32 notpermitted:32`. */
  | {
      readonly kind: "set-counts";
      readonly type: number;
      readonly msgid: number;
      readonly changed: number;
      readonly notChanged: number;
      readonly notPermitted: number;
    }
  /**
   * MATOCL_FUSE_GETDIRSTATS 463: on a mount session (56 bytes) `msgid:32 inodes:32 dirs:32
   * files:32 0:32 0:32 chunks:32 0:32 0:32 length:64 size:64 realsize:64`; on a tools session
   * (40 bytes) `msgid:32 inodes:32 dirs:32 files:32 chunks:32 length:64 size:64 realsize:64`.
   */
  | {
      readonly kind: "dirstats";
      readonly msgid: number;
      readonly form: "mount" | "tools";
      readonly inodes: number;
      readonly dirs: number;
      readonly files: number;
      readonly chunks: number;
      readonly length: bigint;
      readonly size: bigint;
      readonly realSize: bigint;
    }
  /** MATOCL_FUSE_CHECK 441 without chunk index: `msgid:32 12 × count:32` (chunks with 0…10+ copies, empty). */
  | { readonly kind: "check-counts"; readonly msgid: number; readonly counts: readonly number[] }
  /** MATOCL_FUSE_CHECK 441 with chunk index: `msgid:32 chunkid:64 version:32 N × [ip:32 port:16 type:8]`. */
  | {
      readonly kind: "check-chunk";
      readonly msgid: number;
      readonly chunkId: bigint;
      readonly version: number;
      readonly copies: readonly { readonly ip: number; readonly port: number; readonly type: number }[];
    }
  /**
   * MATOCL_FUSE_READ_CHUNK 433 / WRITE_CHUNK 435: `msgid:32 protocolid:8 (= 2) length:64
   * chunkid:64 version:32 N × [ip:32 port:16 csver:32 labelmask:32]`.
   */
  | {
      readonly kind: "chunk-location";
      readonly type: number;
      readonly msgid: number;
      readonly length: bigint;
      readonly chunkId: bigint;
      readonly version: number;
      readonly servers: readonly ChunkServerLocation[];
    };

export type MasterReplyKind = MasterReply["kind"];

// ---------------------------------------------------------------------------------------------
// Encoding

export function replyTypeOfReply(reply: MasterReply): number {
  switch (reply.kind) {
    case "status":
    case "attr":
    case "node":
    case "removed":
    case "set-counts":
    case "chunk-location":
      return reply.type;
    case "register-session":
    case "register-reconnect":
    case "register-status":
    case "register-random":
      return code.MATOCL_FUSE_REGISTER;
    case "nop": return code.ANTOAN_NOP;
    case "chunk-has-changed": return code.MATOCL_FUSE_CHUNK_HAS_CHANGED;
    case "fleng-has-changed": return code.MATOCL_FUSE_FLENG_HAS_CHANGED;
    case "invalidate-chunk-cache": return code.MATOCL_FUSE_INVALIDATE_CHUNK_CACHE;
    case "version": return code.ANTOAN_VERSION;
    case "timesync": return code.MATOCL_FUSE_TIME_SYNC;
    case "statfs": return code.MATOCL_FUSE_STATFS;
    case "lookup": return code.MATOCL_FUSE_LOOKUP;
    case "create": return code.MATOCL_FUSE_CREATE;
    case "open": return code.MATOCL_FUSE_OPEN;
    case "truncate": return code.MATOCL_FUSE_TRUNCATE;
    case "readlink": return code.MATOCL_FUSE_READLINK;
    case "readdir": return code.MATOCL_FUSE_READDIR;
    case "xattr": return code.MATOCL_FUSE_GETXATTR;
    case "getfacl": return code.MATOCL_FUSE_GETFACL;
    case "posixlock-get": return code.MATOCL_FUSE_POSIX_LOCK;
    case "trashtime-counts": return code.MATOCL_FUSE_GETTRASHTIME;
    case "sclass-counts": return code.MATOCL_FUSE_GETSCLASS;
    case "eattr-counts": return code.MATOCL_FUSE_GETEATTR;
    case "dirstats": return code.MATOCL_FUSE_GETDIRSTATS;
    case "check-counts":
    case "check-chunk":
      return code.MATOCL_FUSE_CHECK;
  }
}

function writeServers(w: Writer, servers: readonly ChunkServerLocation[]): void {
  for (const s of servers) w.u32(s.ip).u16(s.port).u32(s.version).u32(s.labelMask);
}

export function encodeReplyPayload(reply: MasterReply): Uint8Array {
  const w = new Writer(payloadBytesHint(reply));
  writeReplyPayload(w, reply);
  return w.finish();
}

/** Enough room for most replies in one allocation; a READDIR reply's exact size. */
function payloadBytesHint(reply: MasterReply): number {
  if (reply.kind !== "readdir") return 64;
  let bytes = 4 + 8;
  for (const entry of reply.entries) bytes += 1 + entry.name.length + 4 + ("attr" in entry ? attrRecordBytes : 1);
  return bytes;
}

function writeReplyPayload(w: Writer, reply: MasterReply): void {
  switch (reply.kind) {
    case "status":
      w.u32(reply.msgid).u8(reply.status);
      break;
    case "register-session":
      w.u32(reply.version).u32(reply.sessionId).u64(reply.metaId).u8(reply.sesflags).u16(reply.umask);
      w.u32(reply.rootUid).u32(reply.rootGid).u32(reply.mapAllUid).u32(reply.mapAllGid);
      w.u8(reply.minGoal).u8(reply.maxGoal).u32(reply.minTrashTime).u32(reply.maxTrashTime).u32(reply.disables);
      break;
    case "register-reconnect":
      w.u32(reply.version).u8(reply.status);
      break;
    case "register-status":
      w.u8(reply.status);
      break;
    case "register-random":
      w.bytes(reply.random);
      break;
    case "nop":
    case "invalidate-chunk-cache":
      w.u32(0);
      break;
    case "chunk-has-changed":
      w.u32(0).u32(reply.inode).u32(reply.chunkIndex).u64(reply.chunkId).u32(reply.version).u64(reply.length).u8(reply.truncateFlag);
      break;
    case "fleng-has-changed":
      w.u32(0).u32(reply.inode).u64(reply.length);
      break;
    case "version":
      if (reply.msgid !== null) w.u32(reply.msgid);
      w.u32(reply.version).bytes(reply.text);
      break;
    case "timesync":
      if (reply.msgid !== null) w.u32(reply.msgid);
      w.u64(reply.usec);
      break;
    case "statfs":
      w.u32(reply.msgid).u64(reply.totalSpace).u64(reply.availSpace).u64(reply.freeSpace);
      w.u64(reply.trashSpace).u64(reply.sustainedSpace).u32(reply.inodes);
      break;
    case "attr":
      w.u32(reply.msgid);
      writeAttr(w, reply.attr);
      break;
    case "lookup":
      w.u32(reply.msgid).u32(reply.inode);
      writeAttr(w, reply.attr);
      if (reply.lflags !== null) {
        w.u16(reply.lflags);
        if (reply.chunk !== null) {
          w.u8(2).u64(reply.chunk.chunkId).u32(reply.chunk.version);
          writeServers(w, reply.chunk.servers);
        }
      }
      break;
    case "node":
      w.u32(reply.msgid).u32(reply.inode);
      writeAttr(w, reply.attr);
      break;
    case "create":
      w.u32(reply.msgid).u8(reply.oflags).u32(reply.inode);
      writeAttr(w, reply.attr);
      break;
    case "open":
      w.u32(reply.msgid).u8(reply.oflags);
      writeAttr(w, reply.attr);
      break;
    case "truncate":
      w.u32(reply.msgid).u64(reply.prevLength);
      writeAttr(w, reply.attr);
      break;
    case "removed":
      w.u32(reply.msgid).u32(reply.inode);
      break;
    case "readlink":
      w.u32(reply.msgid).u32(reply.path.length).bytes(reply.path);
      break;
    case "readdir":
      w.u32(reply.msgid).u64(reply.nedgeId);
      for (const entry of reply.entries) {
        w.name(entry.name).u32(entry.inode);
        if ("attr" in entry) writeAttr(w, entry.attr);
        else w.u8(entry.type);
      }
      break;
    case "xattr":
      w.u32(reply.msgid).u32(reply.length);
      if (reply.value !== null) w.bytes(reply.value);
      break;
    case "getfacl":
      w.u32(reply.msgid).u16(reply.userPerm).u16(reply.groupPerm).u16(reply.otherPerm).u16(reply.mask);
      w.u16(reply.users.length).u16(reply.groups.length);
      for (const e of reply.users) w.u32(e.id).u16(e.perm);
      for (const e of reply.groups) w.u32(e.id).u16(e.perm);
      break;
    case "posixlock-get":
      w.u32(reply.msgid).u32(reply.pid).u8(reply.lockType).u64(reply.start).u64(reply.end);
      break;
    case "trashtime-counts":
      w.u32(reply.msgid).u32(reply.files.length).u32(reply.dirs.length);
      for (const e of [...reply.files, ...reply.dirs]) w.u32(e.value).u32(e.count);
      break;
    case "sclass-counts":
      w.u32(reply.msgid).u8(reply.files.length).u8(reply.dirs.length);
      for (const e of [...reply.files, ...reply.dirs]) {
        if ("goal" in e) w.u8(e.goal);
        else w.u8(0xff).name(e.className);
        w.u32(e.count);
      }
      break;
    case "eattr-counts":
      w.u32(reply.msgid).u8(reply.files.length).u8(reply.dirs.length);
      for (const e of [...reply.files, ...reply.dirs]) w.u8(e.value).u32(e.count);
      break;
    case "set-counts":
      w.u32(reply.msgid).u32(reply.changed).u32(reply.notChanged).u32(reply.notPermitted);
      break;
    case "dirstats":
      w.u32(reply.msgid).u32(reply.inodes).u32(reply.dirs).u32(reply.files);
      if (reply.form === "mount") w.u32(0).u32(0).u32(reply.chunks).u32(0).u32(0);
      else w.u32(reply.chunks);
      w.u64(reply.length).u64(reply.size).u64(reply.realSize);
      break;
    case "check-counts":
      w.u32(reply.msgid);
      for (const count of reply.counts) w.u32(count);
      break;
    case "check-chunk":
      w.u32(reply.msgid).u64(reply.chunkId).u32(reply.version);
      for (const c of reply.copies) w.u32(c.ip).u16(c.port).u8(c.type);
      break;
    case "chunk-location":
      w.u32(reply.msgid).u8(2).u64(reply.length).u64(reply.chunkId).u32(reply.version);
      writeServers(w, reply.servers);
      break;
  }
}

/** The whole frame, built in one buffer (the payload length is filled in at the end). */
export function encodeReply(reply: MasterReply): Uint8Array {
  const w = new Writer(frameHeaderBytes + payloadBytesHint(reply));
  w.u32(replyTypeOfReply(reply)).u32(0);
  writeReplyPayload(w, reply);
  return w.u32At(4, w.length - frameHeaderBytes).finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a master→client frame. `request` is the request it answers (needed where the layout
 * depends on it; null for unsolicited packets such as NOP). Throws DecodeError, never anything else.
 */
export function decodeReply(frame: Frame, request: ClientRequest | null): MasterReply {
  const r = new Reader(frame.payload);
  const reply = decodeReplyBody(frame.type, r, frame.payload.length, request);
  r.end(`reply type ${frame.type}`);
  return reply;
}

function decodeReplyBody(type: number, r: Reader, length: number, request: ClientRequest | null): MasterReply {
  switch (type) {
    case code.ANTOAN_NOP:
      if (length !== 4 || r.u32("msgid") !== 0) throw new DecodeError("NOP to a mount is `msgid:32` = 0");
      return { kind: "nop" };
    case code.MATOCL_FUSE_REGISTER:
      return decodeRegisterReply(r, length, request);
    case code.MATOCL_FUSE_CHUNK_HAS_CHANGED:
      if (length !== 33 || r.u32("msgid") !== 0) throw new DecodeError("CHUNK_HAS_CHANGED is 33 bytes with msgid 0");
      return {
        kind: "chunk-has-changed",
        inode: r.u32("inode"),
        chunkIndex: r.u32("chindx"),
        chunkId: r.u64("chunkid"),
        version: r.u32("version"),
        length: r.u64("fleng"),
        truncateFlag: r.u8("truncateflag"),
      };
    case code.MATOCL_FUSE_FLENG_HAS_CHANGED:
      if (length !== 16 || r.u32("msgid") !== 0) throw new DecodeError("FLENG_HAS_CHANGED is 16 bytes with msgid 0");
      return { kind: "fleng-has-changed", inode: r.u32("inode"), length: r.u64("fleng") };
    case code.MATOCL_FUSE_INVALIDATE_CHUNK_CACHE:
      if (length !== 4 || r.u32("msgid") !== 0) throw new DecodeError("INVALIDATE_CHUNK_CACHE is `msgid:32` = 0");
      return { kind: "invalidate-chunk-cache" };
    case code.ANTOAN_VERSION: {
      const msgid = request?.kind === "getversion" && request.msgid !== null ? r.u32("msgid") : null;
      return { kind: "version", msgid, version: r.u32("version"), text: r.rest() };
    }
    case code.MATOCL_FUSE_TIME_SYNC:
      if (length !== 8 && length !== 12) throw new DecodeError(`TIME_SYNC reply length ${length}`);
      return { kind: "timesync", msgid: length === 12 ? r.u32("msgid") : null, usec: r.u64("usec") };
  }
  const msgid = r.u32("msgid");
  if (length === 5) return { kind: "status", type, msgid, status: r.u8("status") };
  switch (type) {
    case code.MATOCL_FUSE_STATFS:
      return {
        kind: "statfs",
        msgid,
        totalSpace: r.u64("totalspace"),
        availSpace: r.u64("availspace"),
        freeSpace: r.u64("freespace"),
        trashSpace: r.u64("trashspace"),
        sustainedSpace: r.u64("sustainedspace"),
        inodes: r.u32("inodes"),
      };
    case code.MATOCL_FUSE_GETATTR:
    case code.MATOCL_FUSE_SETATTR:
      return { kind: "attr", type, msgid, attr: readAttr(r) };
    case code.MATOCL_FUSE_LOOKUP: {
      const inode = r.u32("inode");
      const attr = readAttr(r);
      if (r.remaining === 0) return { kind: "lookup", msgid, inode, attr, lflags: null, chunk: null };
      const lflags = r.u16("lflags");
      if (r.remaining === 0) return { kind: "lookup", msgid, inode, attr, lflags, chunk: null };
      const protocolId = r.u8("protocolid");
      if (protocolId !== 2) throw new DecodeError(`LOOKUP chunk data protocolid ${protocolId}`);
      const chunkId = r.u64("chunkid");
      const version = r.u32("version");
      return { kind: "lookup", msgid, inode, attr, lflags, chunk: { chunkId, version, servers: readServers(r) } };
    }
    case code.MATOCL_FUSE_SYMLINK:
    case code.MATOCL_FUSE_MKNOD:
    case code.MATOCL_FUSE_MKDIR:
    case code.MATOCL_FUSE_RENAME:
    case code.MATOCL_FUSE_LINK:
      return { kind: "node", type, msgid, inode: r.u32("inode"), attr: readAttr(r) };
    case code.MATOCL_FUSE_CREATE:
      return { kind: "create", msgid, oflags: r.u8("oflags"), inode: r.u32("inode"), attr: readAttr(r) };
    case code.MATOCL_FUSE_OPEN:
      return { kind: "open", msgid, oflags: r.u8("oflags"), attr: readAttr(r) };
    case code.MATOCL_FUSE_TRUNCATE:
      return { kind: "truncate", msgid, prevLength: r.u64("prevlength"), attr: readAttr(r) };
    case code.MATOCL_FUSE_UNLINK:
    case code.MATOCL_FUSE_RMDIR:
      return { kind: "removed", type, msgid, inode: r.u32("inode") };
    case code.MATOCL_FUSE_READLINK: {
      const pleng = r.u32("path length");
      return { kind: "readlink", msgid, path: r.bytes(pleng, "path") };
    }
    case code.MATOCL_FUSE_READDIR: {
      if (request?.kind !== "readdir") throw new DecodeError("READDIR reply needs its request");
      const withAttr = (request.flags & code.ReaddirFlag.WITHATTR) !== 0;
      const nedgeId = r.u64("nedgeid");
      const entries: ReaddirEntry[] = [];
      while (r.remaining > 0) {
        const name = r.name("entry name");
        const inode = r.u32("entry inode");
        entries.push(withAttr ? { name, inode, attr: readAttr(r) } : { name, inode, type: r.u8("entry type") });
      }
      return { kind: "readdir", msgid, nedgeId, entries };
    }
    case code.MATOCL_FUSE_GETXATTR: {
      const vleng = r.u32("value length");
      const lengthOnly = request?.kind === "getxattr" && request.mode === 1;
      return { kind: "xattr", msgid, length: vleng, value: lengthOnly ? null : r.bytes(vleng, "value") };
    }
    case code.MATOCL_FUSE_GETFACL: {
      const userPerm = r.u16("userperm");
      const groupPerm = r.u16("groupperm");
      const otherPerm = r.u16("otherperm");
      const mask = r.u16("mask");
      const nusers = r.u16("nusers");
      const ngroups = r.u16("ngroups");
      const users: AclEntry[] = [];
      for (let i = 0; i < nusers; i++) users.push({ id: r.u32("uid"), perm: r.u16("perm") });
      const groups: AclEntry[] = [];
      for (let i = 0; i < ngroups; i++) groups.push({ id: r.u32("gid"), perm: r.u16("perm") });
      return { kind: "getfacl", msgid, userPerm, groupPerm, otherPerm, mask, users, groups };
    }
    case code.MATOCL_FUSE_POSIX_LOCK:
      return { kind: "posixlock-get", msgid, pid: r.u32("pid"), lockType: r.u8("type"), start: r.u64("start"), end: r.u64("end") };
    case code.MATOCL_FUSE_GETTRASHTIME: {
      const fcnt = r.u32("fcnt");
      const dcnt = r.u32("dcnt");
      if (r.remaining !== 8 * (fcnt + dcnt)) throw new DecodeError("GETTRASHTIME reply: counts do not match length");
      const read = (n: number): ValueCount[] => Array.from({ length: n }, () => ({ value: r.u32("trashtime"), count: r.u32("count") }));
      const files = read(fcnt);
      return { kind: "trashtime-counts", msgid, files, dirs: read(dcnt) };
    }
    case code.MATOCL_FUSE_GETSCLASS: {
      const fcnt = r.u8("fcnt");
      const dcnt = r.u8("dcnt");
      const read = (n: number): SclassCount[] =>
        Array.from({ length: n }, () => {
          const goal = r.u8("goal");
          if (goal === 0xff) {
            const className = r.name("class name");
            return { className, count: r.u32("count") };
          }
          return { goal, count: r.u32("count") };
        });
      const files = read(fcnt);
      return { kind: "sclass-counts", msgid, files, dirs: read(dcnt) };
    }
    case code.MATOCL_FUSE_GETEATTR: {
      const fcnt = r.u8("fcnt");
      const dcnt = r.u8("dcnt");
      const read = (n: number): ValueCount[] => Array.from({ length: n }, () => ({ value: r.u8("eattr"), count: r.u32("count") }));
      const files = read(fcnt);
      return { kind: "eattr-counts", msgid, files, dirs: read(dcnt) };
    }
    case code.MATOCL_FUSE_SETTRASHTIME:
    case code.MATOCL_FUSE_SETSCLASS:
    case code.MATOCL_FUSE_SETEATTR:
      return { kind: "set-counts", type, msgid, changed: r.u32("changed"), notChanged: r.u32("notchanged"), notPermitted: r.u32("notpermitted") };
    case code.MATOCL_FUSE_GETDIRSTATS:
      return decodeDirstats(r, msgid, length);
    case code.MATOCL_FUSE_CHECK:
      if (request?.kind === "check" && request.chunkIndex !== null) {
        const chunkId = r.u64("chunkid");
        const version = r.u32("version");
        if (r.remaining % 7 !== 0) throw new DecodeError("CHECK chunk reply: copies are 7 bytes each");
        const copies: { ip: number; port: number; type: number }[] = [];
        while (r.remaining > 0) copies.push({ ip: r.u32("ip"), port: r.u16("port"), type: r.u8("type") });
        return { kind: "check-chunk", msgid, chunkId, version, copies };
      } else {
        if (length !== 52) throw new DecodeError(`CHECK reply length ${length}, want 52`);
        const counts: number[] = [];
        for (let i = 0; i < 12; i++) counts.push(r.u32("count"));
        return { kind: "check-counts", msgid, counts };
      }
    case code.MATOCL_FUSE_READ_CHUNK:
    case code.MATOCL_FUSE_WRITE_CHUNK: {
      const protocolId = r.u8("protocolid");
      if (protocolId !== 2) throw new DecodeError(`chunk location protocolid ${protocolId}`);
      const fileLength = r.u64("length");
      const chunkId = r.u64("chunkid");
      const version = r.u32("version");
      return { kind: "chunk-location", type, msgid, length: fileLength, chunkId, version, servers: readServers(r) };
    }
    default:
      throw new DecodeError(`unknown or status-only reply type ${type} with ${length} bytes`);
  }
}

function readServers(r: Reader): ChunkServerLocation[] {
  if (r.remaining % 14 !== 0) throw new DecodeError("chunk server list: entries are 14 bytes each");
  const servers: ChunkServerLocation[] = [];
  while (r.remaining > 0) servers.push({ ip: r.u32("ip"), port: r.u16("port"), version: r.u32("csver"), labelMask: r.u32("labelmask") });
  return servers;
}

function decodeDirstats(r: Reader, msgid: number, length: number): MasterReply {
  if (length !== 60 && length !== 44) throw new DecodeError(`GETDIRSTATS reply length ${length}`);
  const inodes = r.u32("inodes");
  const dirs = r.u32("dirs");
  const files = r.u32("files");
  let chunks: number;
  if (length === 60) {
    r.u32("zero");
    r.u32("zero");
    chunks = r.u32("chunks");
    r.u32("zero");
    r.u32("zero");
  } else {
    chunks = r.u32("chunks");
  }
  return {
    kind: "dirstats",
    msgid,
    form: length === 60 ? "mount" : "tools",
    inodes,
    dirs,
    files,
    chunks,
    length: r.u64("length"),
    size: r.u64("size"),
    realSize: r.u64("realsize"),
  };
}

function decodeRegisterReply(r: Reader, length: number, request: ClientRequest | null): MasterReply {
  if (length === 1) return { kind: "register-status", status: r.u8("status") };
  if (length === 5 && request?.kind === "register" && request.rcode === 3) {
    return { kind: "register-reconnect", version: r.u32("version"), status: r.u8("status") };
  }
  if (length === 32) return { kind: "register-random", random: r.bytes(32, "random") };
  if (length === 49) {
    return {
      kind: "register-session",
      version: r.u32("version"),
      sessionId: r.u32("sessionid"),
      metaId: r.u64("metaid"),
      sesflags: r.u8("sesflags"),
      umask: r.u16("umask"),
      rootUid: r.u32("rootuid"),
      rootGid: r.u32("rootgid"),
      mapAllUid: r.u32("mapalluid"),
      mapAllGid: r.u32("mapallgid"),
      minGoal: r.u8("mingoal"),
      maxGoal: r.u8("maxgoal"),
      minTrashTime: r.u32("mintrashtime"),
      maxTrashTime: r.u32("maxtrashtime"),
      disables: r.u32("disables"),
    };
  }
  throw new DecodeError(`REGISTER reply length ${length}`);
}
