/**
 * Chunkserver → master messages (protocol §4.1–§4.3): decoded from frames the way mfsmaster's
 * matocsserv.c checks them (every length it does not accept is a DecodeError, which makes the
 * caller close the link as mfsmaster's KILL does), and encoded for tests and fake chunkservers.
 *
 * The legacy even-length REGISTER and rver 1–4 (chunkservers before 1.6) are not decoded: a 3.0.117
 * chunkserver never sends them.
 */
import { assert } from "@antler/base";
import * as cs from "./chunkserver-codes.ts";
import { DecodeError } from "./errors.ts";
import { encodeFrame, type Frame } from "./frame.ts";
import { Reader } from "./reader.ts";
import { Writer } from "./writer.ts";

/** A CS's disk usage, as CSTOMA_SPACE and REGISTER BEGIN carry it ("todel" = disks marked for removal). */
export interface SpaceReport {
  readonly usedSpace: bigint;
  readonly totalSpace: bigint;
  readonly chunkCount: number;
  readonly toDeleteUsedSpace: bigint;
  readonly toDeleteTotalSpace: bigint;
  readonly toDeleteChunkCount: number;
}

/** One copy a CS holds. Bit 31 of `version` flags a copy on a disk marked for removal. */
export interface ChunkCopy {
  readonly chunkId: bigint;
  readonly version: number;
}

/** The chunk operations whose replies are `chunkid:64 status:8`. */
export type ChunkOp = "create" | "delete" | "duplicate" | "set-version" | "truncate" | "duptrunc";

export type ChunkserverMessage =
  | { readonly kind: "nop" }
  /** ANTOAN_UNKNOWN_COMMAND / BAD_COMMAND_SIZE: the CS did not understand us; mfsmaster ignores it. */
  | { readonly kind: "peer-complaint"; readonly type: 1 | 2 }
  | {
      readonly kind: "register-begin";
      /** 6 (rver 60, what 3.0.117 sends) or 5 (rver 50 fallback: no csid, no space, no passcode). */
      readonly form: 5 | 6;
      /** MD5 answer to an authentication challenge (rver 60 of length 71), else null. */
      readonly passcode: Uint8Array | null;
      readonly version: number;
      /** IPv4 as u32; 0 = "use the TCP peer address". */
      readonly ip: number;
      readonly port: number;
      readonly timeoutSeconds: number;
      readonly csid: number;
      readonly space: SpaceReport | null;
    }
  | { readonly kind: "register-chunks"; readonly form: 5 | 6; readonly chunks: readonly ChunkCopy[] }
  /** rver 62 (form 6) or rver 52 (form 5, which carries the final space). */
  | { readonly kind: "register-end"; readonly form: 5 | 6; readonly space: SpaceReport | null }
  | { readonly kind: "register-bye" }
  /** CSTOMA_SPACE: 40 bytes from 3.0.117; the 16/32-byte forms leave the missing fields 0. */
  | { readonly kind: "space"; readonly layoutBytes: 16 | 32 | 40; readonly space: SpaceReport }
  | { readonly kind: "chunk-damaged"; readonly chunkIds: readonly bigint[] }
  | { readonly kind: "chunk-lost"; readonly chunkIds: readonly bigint[] }
  | { readonly kind: "chunk-new"; readonly chunks: readonly ChunkCopy[] }
  | { readonly kind: "current-load"; readonly load: number; readonly hlStatus: number | null }
  | { readonly kind: "error-occurred" }
  | { readonly kind: "labels"; readonly labelMask: number }
  | { readonly kind: "chunk-op-status"; readonly op: ChunkOp; readonly chunkId: bigint; readonly status: number }
  | { readonly kind: "replicate-status"; readonly chunkId: bigint; readonly version: number; readonly status: number };

export type ChunkserverMessageKind = ChunkserverMessage["kind"];

const chunkCopyBytes = 12;
const passcodeBytes = 16;
const registerBeginV6Bytes = 55;
const registerBeginV5Bytes = 13;
const registerEndV5Bytes = 41;

const opByReplyType: ReadonlyMap<number, ChunkOp> = new Map([
  [cs.CSTOMA_CREATE, "create"],
  [cs.CSTOMA_DELETE, "delete"],
  [cs.CSTOMA_DUPLICATE, "duplicate"],
  [cs.CSTOMA_SET_VERSION, "set-version"],
  [cs.CSTOMA_TRUNCATE, "truncate"],
  [cs.CSTOMA_DUPTRUNC, "duptrunc"],
]);
const replyTypeByOp: ReadonlyMap<ChunkOp, number> = new Map([...opByReplyType].map(([type, op]) => [op, type]));

export const emptySpaceReport: SpaceReport = {
  usedSpace: 0n,
  totalSpace: 0n,
  chunkCount: 0,
  toDeleteUsedSpace: 0n,
  toDeleteTotalSpace: 0n,
  toDeleteChunkCount: 0,
};

export function decodeChunkserverMessage(frame: Frame): ChunkserverMessage {
  const r = new Reader(frame.payload);
  const length = frame.payload.length;
  switch (frame.type) {
    case cs.ANTOAN_NOP:
      // mfsmaster ignores a NOP's payload; a 3.0.117 CS sends length 0.
      return { kind: "nop" };
    case cs.ANTOAN_UNKNOWN_COMMAND:
    case cs.ANTOAN_BAD_COMMAND_SIZE:
      return { kind: "peer-complaint", type: frame.type };
    case cs.CSTOMA_REGISTER:
      return decodeRegister(r, length);
    case cs.CSTOMA_SPACE: {
      if (length !== 16 && length !== 32 && length !== 40) throw new DecodeError(`CSTOMA_SPACE: length ${length}, expected 16, 32 or 40`);
      const usedSpace = r.u64("usedspace");
      const totalSpace = r.u64("totalspace");
      const chunkCount = length === 40 ? r.u32("chunks") : 0;
      const toDeleteUsedSpace = length >= 32 ? r.u64("tdusedspace") : 0n;
      const toDeleteTotalSpace = length >= 32 ? r.u64("tdtotalspace") : 0n;
      const toDeleteChunkCount = length === 40 ? r.u32("tdchunks") : 0;
      r.end("CSTOMA_SPACE");
      return { kind: "space", layoutBytes: length, space: { usedSpace, totalSpace, chunkCount, toDeleteUsedSpace, toDeleteTotalSpace, toDeleteChunkCount } };
    }
    case cs.CSTOMA_CHUNK_DAMAGED:
      return { kind: "chunk-damaged", chunkIds: readChunkIds(r, "CSTOMA_CHUNK_DAMAGED") };
    case cs.CSTOMA_CHUNK_LOST:
      return { kind: "chunk-lost", chunkIds: readChunkIds(r, "CSTOMA_CHUNK_LOST") };
    case cs.CSTOMA_CHUNK_NEW:
      return { kind: "chunk-new", chunks: readChunkCopies(r, "CSTOMA_CHUNK_NEW") };
    case cs.CSTOMA_CURRENT_LOAD: {
      if (length !== 4 && length !== 5) throw new DecodeError(`CSTOMA_CURRENT_LOAD: length ${length}, expected 4 or 5`);
      const load = r.u32("load");
      const hlStatus = length === 5 ? r.u8("hlstatus") : null;
      return { kind: "current-load", load, hlStatus };
    }
    case cs.CSTOMA_ERROR_OCCURRED:
      r.end("CSTOMA_ERROR_OCCURRED");
      return { kind: "error-occurred" };
    case cs.CSTOMA_LABELS: {
      const labelMask = r.u32("labelmask");
      r.end("CSTOMA_LABELS");
      return { kind: "labels", labelMask };
    }
    case cs.CSTOMA_REPLICATE: {
      const chunkId = r.u64("chunkid");
      const version = r.u32("version");
      const status = r.u8("status");
      r.end("CSTOMA_REPLICATE");
      return { kind: "replicate-status", chunkId, version, status };
    }
    default: {
      const op = opByReplyType.get(frame.type);
      if (op === undefined) throw new DecodeError(`unknown chunkserver message type ${frame.type} (length ${length})`);
      const chunkId = r.u64("chunkid");
      const status = r.u8("status");
      r.end(`CSTOMA reply of ${op}`);
      return { kind: "chunk-op-status", op, chunkId, status };
    }
  }
}

function decodeRegister(r: Reader, length: number): ChunkserverMessage {
  // Even lengths are the pre-1.6 layout without rver; mfsmaster still parses it, we do not.
  if (length % 2 === 0) throw new DecodeError(`CSTOMA_REGISTER: even length ${length} (pre-1.6 chunkserver) is not supported`);
  const rver = r.u8("rver");
  switch (rver) {
    case cs.RegisterStep.BEGIN: {
      if (length !== registerBeginV6Bytes && length !== registerBeginV6Bytes + passcodeBytes) {
        throw new DecodeError(`CSTOMA_REGISTER BEGIN: length ${length}, expected 55 or 71`);
      }
      const passcode = length === registerBeginV6Bytes + passcodeBytes ? r.bytes(passcodeBytes, "passcode").slice() : null;
      const version = r.u32("version");
      const ip = r.u32("ip");
      const port = r.u16("port");
      const timeoutSeconds = r.u16("timeout");
      const csid = r.u16("csid");
      const space = readSpaceReport(r);
      r.end("CSTOMA_REGISTER BEGIN");
      return { kind: "register-begin", form: 6, passcode, version, ip, port, timeoutSeconds, csid, space };
    }
    case cs.RegisterStep.BEGIN_V5: {
      if (length !== registerBeginV5Bytes) throw new DecodeError(`CSTOMA_REGISTER BEGIN (v5): length ${length}, expected 13`);
      const version = r.u32("version");
      const ip = r.u32("ip");
      const port = r.u16("port");
      const timeoutSeconds = r.u16("timeout");
      return { kind: "register-begin", form: 5, passcode: null, version, ip, port, timeoutSeconds, csid: 0, space: null };
    }
    case cs.RegisterStep.CHUNKS:
    case cs.RegisterStep.CHUNKS_V5:
      return { kind: "register-chunks", form: rver === cs.RegisterStep.CHUNKS ? 6 : 5, chunks: readChunkCopies(r, "CSTOMA_REGISTER CHUNKS") };
    case cs.RegisterStep.END:
      r.end("CSTOMA_REGISTER END");
      return { kind: "register-end", form: 6, space: null };
    case cs.RegisterStep.END_V5: {
      if (length !== registerEndV5Bytes) throw new DecodeError(`CSTOMA_REGISTER END (v5): length ${length}, expected 41`);
      const space = readSpaceReport(r);
      return { kind: "register-end", form: 5, space };
    }
    case cs.RegisterStep.BYE:
      r.end("CSTOMA_REGISTER BYE");
      return { kind: "register-bye" };
    default:
      throw new DecodeError(`CSTOMA_REGISTER: unsupported rver ${rver}`);
  }
}

function readSpaceReport(r: Reader): SpaceReport {
  return {
    usedSpace: r.u64("usedspace"),
    totalSpace: r.u64("totalspace"),
    chunkCount: r.u32("chunks"),
    toDeleteUsedSpace: r.u64("tdusedspace"),
    toDeleteTotalSpace: r.u64("tdtotalspace"),
    toDeleteChunkCount: r.u32("tdchunks"),
  };
}

function readChunkIds(r: Reader, what: string): bigint[] {
  if (r.remaining % 8 !== 0) throw new DecodeError(`${what}: ${r.remaining} bytes is not a multiple of 8`);
  const ids: bigint[] = [];
  while (r.remaining > 0) ids.push(r.u64("chunkid"));
  return ids;
}

function readChunkCopies(r: Reader, what: string): ChunkCopy[] {
  if (r.remaining % chunkCopyBytes !== 0) throw new DecodeError(`${what}: ${r.remaining} bytes is not a multiple of 12`);
  const chunks: ChunkCopy[] = [];
  while (r.remaining > 0) chunks.push({ chunkId: r.u64("chunkid"), version: r.u32("version") });
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Encoding (tests, fake chunkservers, the simulator)

export function chunkserverMessageTypeOf(message: ChunkserverMessage): number {
  switch (message.kind) {
    case "nop":
      return cs.ANTOAN_NOP;
    case "peer-complaint":
      return message.type;
    case "register-begin":
    case "register-chunks":
    case "register-end":
    case "register-bye":
      return cs.CSTOMA_REGISTER;
    case "space":
      return cs.CSTOMA_SPACE;
    case "chunk-damaged":
      return cs.CSTOMA_CHUNK_DAMAGED;
    case "chunk-lost":
      return cs.CSTOMA_CHUNK_LOST;
    case "chunk-new":
      return cs.CSTOMA_CHUNK_NEW;
    case "current-load":
      return cs.CSTOMA_CURRENT_LOAD;
    case "error-occurred":
      return cs.CSTOMA_ERROR_OCCURRED;
    case "labels":
      return cs.CSTOMA_LABELS;
    case "chunk-op-status":
      return replyTypeByOp.get(message.op)!;
    case "replicate-status":
      return cs.CSTOMA_REPLICATE;
  }
}

export function encodeChunkserverMessagePayload(message: ChunkserverMessage): Uint8Array {
  const w = new Writer();
  switch (message.kind) {
    case "nop":
    case "peer-complaint":
    case "error-occurred":
      break;
    case "register-begin":
      if (message.form === 6) {
        assert(message.space !== null, "a version-6 BEGIN carries a space report");
        w.u8(cs.RegisterStep.BEGIN);
        if (message.passcode !== null) {
          assert(message.passcode.length === passcodeBytes, "a passcode is 16 bytes");
          w.bytes(message.passcode);
        }
        w.u32(message.version).u32(message.ip).u16(message.port).u16(message.timeoutSeconds).u16(message.csid);
        writeSpaceReport(w, message.space);
      } else {
        assert(message.passcode === null && message.space === null && message.csid === 0, "a version-5 BEGIN has no passcode, space or csid");
        w.u8(cs.RegisterStep.BEGIN_V5).u32(message.version).u32(message.ip).u16(message.port).u16(message.timeoutSeconds);
      }
      break;
    case "register-chunks":
      w.u8(message.form === 6 ? cs.RegisterStep.CHUNKS : cs.RegisterStep.CHUNKS_V5);
      writeChunkCopies(w, message.chunks);
      break;
    case "register-end":
      if (message.form === 6) {
        assert(message.space === null, "a version-6 END carries no space report");
        w.u8(cs.RegisterStep.END);
      } else {
        assert(message.space !== null, "a version-5 END carries a space report");
        w.u8(cs.RegisterStep.END_V5);
        writeSpaceReport(w, message.space);
      }
      break;
    case "register-bye":
      w.u8(cs.RegisterStep.BYE);
      break;
    case "space": {
      const s = message.space;
      w.u64(s.usedSpace).u64(s.totalSpace);
      if (message.layoutBytes === 40) w.u32(s.chunkCount);
      if (message.layoutBytes >= 32) w.u64(s.toDeleteUsedSpace).u64(s.toDeleteTotalSpace);
      if (message.layoutBytes === 40) w.u32(s.toDeleteChunkCount);
      break;
    }
    case "chunk-damaged":
    case "chunk-lost":
      for (const id of message.chunkIds) w.u64(id);
      break;
    case "chunk-new":
      writeChunkCopies(w, message.chunks);
      break;
    case "current-load":
      w.u32(message.load);
      if (message.hlStatus !== null) w.u8(message.hlStatus);
      break;
    case "labels":
      w.u32(message.labelMask);
      break;
    case "chunk-op-status":
      w.u64(message.chunkId).u8(message.status);
      break;
    case "replicate-status":
      w.u64(message.chunkId).u32(message.version).u8(message.status);
      break;
  }
  return w.finish();
}

export function encodeChunkserverMessage(message: ChunkserverMessage): Uint8Array {
  return encodeFrame(chunkserverMessageTypeOf(message), encodeChunkserverMessagePayload(message));
}

function writeSpaceReport(w: Writer, s: SpaceReport): void {
  w.u64(s.usedSpace).u64(s.totalSpace).u32(s.chunkCount).u64(s.toDeleteUsedSpace).u64(s.toDeleteTotalSpace).u32(s.toDeleteChunkCount);
}

function writeChunkCopies(w: Writer, chunks: readonly ChunkCopy[]): void {
  for (const c of chunks) w.u64(c.chunkId).u32(c.version);
}
