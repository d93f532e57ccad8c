/**
 * The slice of the MooseFS 3.0.117 client protocol the load generator speaks (reference:
 * MooseFS 3.0.117 protocol §1–§3), as a small interface over @antler/mfs-wire.
 * The workload and the session only see MetaRequest / MetaReply; everything wire-specific of the
 * benchmark is in this one file.
 *
 * Frames are `type:32 length:32 payload`, big-endian. After REGISTER every request payload starts
 * with `msgid:32`; replies echo it and are matched only by it. A reply body of exactly one byte after
 * msgid is a status (MFS_ERROR_*); anything else must have the exact success layout.
 */
import { limits as baseLimits } from "@antler/base";
import {
  type ClientRequest,
  codes,
  type Credentials as WireCredentials,
  decodeReply as decodeWireReply,
  encodeRequest as encodeWireRequest,
  type Frame,
  FrameDecoder,
  ReaddirFlag,
  RegisterCode,
} from "@antler/mfs-wire";

export { FrameDecoder, type Frame };

/** Message codes the session needs to tell apart. */
export const code = {
  nop: codes.ANTOAN_NOP,
  register: codes.CLTOMA_FUSE_REGISTER,
  registerReply: codes.MATOCL_FUSE_REGISTER,
  lookup: codes.CLTOMA_FUSE_LOOKUP,
  getattr: codes.CLTOMA_FUSE_GETATTR,
  mkdir: codes.CLTOMA_FUSE_MKDIR,
  unlink: codes.CLTOMA_FUSE_UNLINK,
  rmdir: codes.CLTOMA_FUSE_RMDIR,
  rename: codes.CLTOMA_FUSE_RENAME,
  readdir: codes.CLTOMA_FUSE_READDIR,
  create: codes.CLTOMA_FUSE_CREATE,
  invalidateChunkCache: codes.MATOCL_FUSE_INVALIDATE_CHUNK_CACHE,
} as const;

export const statusOk = 0;
export const rootInode = baseLimits.rootInode;

/** Caller identity carried in requests (CRED = uid:32 gcnt:32 gcnt × gid:32). */
export interface Credentials {
  uid: number;
  gids: readonly number[];
}

export type MetaRequest =
  | { kind: "mkdir"; parent: number; name: Uint8Array; mode: number; umask: number }
  | { kind: "create"; parent: number; name: Uint8Array; mode: number; umask: number }
  | { kind: "getattr"; inode: number }
  | { kind: "lookup"; parent: number; name: Uint8Array }
  | { kind: "readdir"; inode: number }
  | { kind: "rename"; sourceParent: number; sourceName: Uint8Array; targetParent: number; targetName: Uint8Array }
  | { kind: "unlink"; parent: number; name: Uint8Array }
  | { kind: "rmdir"; parent: number; name: Uint8Array };

export type MetaRequestKind = MetaRequest["kind"];

/** A decoded reply: a status, or success with the inode it names (0 when the reply has none). */
export type MetaReply = { status: number; inode: number; entries: number };

/** A request as sent, kept until its reply arrives (some replies decode only with it). */
export type SentRequest = ClientRequest;

/** The session parameters the master granted in its REGISTER reply. */
export interface SessionGrant {
  version: number;
  sessionId: number;
  metaId: bigint;
}

/** The peer broke the protocol: wrong reply type or layout, refused registration. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

const requestCode: Record<MetaRequestKind, number> = {
  mkdir: code.mkdir,
  create: code.create,
  getattr: code.getattr,
  lookup: code.lookup,
  readdir: code.readdir,
  rename: code.rename,
  unlink: code.unlink,
  rmdir: code.rmdir,
};

/** The reply type a request must be answered with (request code + 1). */
export function replyTypeOf(kind: MetaRequestKind): number {
  return requestCode[kind] + 1;
}

const encoder = new TextEncoder();

/** REGISTER NEWSESSION as mfsmount sends it: ACL blob, rcode 2, version 3.0.117, info, path "/". */
export function registerNewSession(info: string): SentRequest {
  return {
    kind: "register",
    rcode: RegisterCode.NEWSESSION,
    version: baseLimits.announcedVersion,
    info: encoder.encode(`${info}\0`),
    path: encoder.encode("/\0"),
  };
}

/** Decodes the REGISTER reply: the granted session, or ProtocolError for a refusal. */
export function decodeRegisterReply(frame: Frame, sent: SentRequest): SessionGrant {
  if (frame.type !== code.registerReply) throw new ProtocolError(`expected REGISTER reply, got type ${frame.type}`);
  const reply = decodeOrThrow(frame, sent);
  if (reply.kind === "register-status") throw new ProtocolError(`REGISTER refused with status ${reply.status}`);
  if (reply.kind !== "register-session") throw new ProtocolError(`unexpected REGISTER reply (${reply.kind})`);
  return { version: reply.version, sessionId: reply.sessionId, metaId: reply.metaId };
}

/** A keepalive as mfsmount sends it: type 0, msgid 0. */
export function nop(): SentRequest {
  return { kind: "nop", msgid: 0 };
}

/** The frame bytes of a request. */
export function encodeRequest(sent: SentRequest): Uint8Array {
  return encodeWireRequest(sent);
}

/** Builds one request with its msgid (layouts: §3.4). */
export function buildRequest(msgid: number, request: MetaRequest, credentials: Credentials): SentRequest {
  const cred: WireCredentials = { uid: credentials.uid, gids: credentials.gids, form: "list" };
  switch (request.kind) {
    case "mkdir":
      // copysgid 1, as Linux mfsmount sends it.
      return { kind: "mkdir", msgid, parent: request.parent, name: request.name, mode: request.mode, umask: request.umask, credentials: cred, copysgid: 1 };
    case "create":
      return { kind: "create", msgid, parent: request.parent, name: request.name, mode: request.mode, umask: request.umask, credentials: cred };
    case "getattr":
      return { kind: "getattr", msgid, inode: request.inode, opened: 0, uid: credentials.uid, gid: credentials.gids[0] ?? 0 };
    case "lookup":
      return { kind: "lookup", msgid, parent: request.parent, name: request.name, credentials: cred };
    case "unlink":
    case "rmdir":
      return { kind: request.kind, msgid, parent: request.parent, name: request.name, credentials: cred };
    case "readdir":
      // With attributes, everything at once: what mfsmount (libfuse3 readdirplus) sends.
      return { kind: "readdir", msgid, inode: request.inode, credentials: cred, flags: ReaddirFlag.WITHATTR, maxEntries: 0xffffffff, nedgeId: 0n };
    case "rename":
      return {
        kind: "rename",
        msgid,
        parentSrc: request.sourceParent,
        nameSrc: request.sourceName,
        parentDst: request.targetParent,
        nameDst: request.targetName,
        credentials: cred,
      };
  }
}

/**
 * Decodes the reply to `sent`. Throws ProtocolError when it matches neither a status nor the
 * success layout of that request — the real client would disconnect then too.
 */
export function decodeReply(frame: Frame, sent: SentRequest): MetaReply {
  const reply = decodeOrThrow(frame, sent);
  switch (reply.kind) {
    case "status":
      return { status: reply.status, inode: 0, entries: 0 };
    case "node":
    case "create":
    case "lookup":
    case "removed":
      return { status: statusOk, inode: reply.inode, entries: 0 };
    case "attr":
      return { status: statusOk, inode: 0, entries: 0 };
    case "readdir":
      return { status: statusOk, inode: 0, entries: reply.entries.length };
    default:
      throw new ProtocolError(`${sent.kind} answered with a ${reply.kind} reply`);
  }
}

function decodeOrThrow(frame: Frame, sent: SentRequest): ReturnType<typeof decodeWireReply> {
  try {
    return decodeWireReply(frame, sent);
  } catch (error) {
    throw new ProtocolError(`${sent.kind} reply (type ${frame.type}, ${frame.payload.length} bytes): ${(error as Error).message}`, { cause: error });
  }
}
