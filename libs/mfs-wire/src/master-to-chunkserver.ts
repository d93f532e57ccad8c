/**
 * Master → chunkserver messages (protocol §4.1, §4.3): MATOCS_MASTER_ACK in the forms a 3.0.117
 * chunkserver understands, the keepalive NOP (length 0 on this link), and the chunk operations a
 * later step of the data path sends. Encoding refuses (asserts) a payload over
 * limits.masterToChunkserverPacketBytesMax: the chunkserver would kill the link on it, so building
 * one is a bug. Decoding exists for tests and fake chunkservers.
 */
import { assert, limits } from "@antler/base";
import * as cs from "./chunkserver-codes.ts";
import { DecodeError } from "./errors.ts";
import { encodeFrame, type Frame } from "./frame.ts";
import { Reader } from "./reader.ts";
import { Writer } from "./writer.ts";

export type MasterToChunkserver =
  | { readonly kind: "nop" }
  /**
   * ACK atype 0 answering BEGIN. `metaId` set: the 17-byte form (CS ≥ 2.0.33 checks it against its
   * stored metaid and exits on a mismatch); null: the 9-byte form.
   */
  | { readonly kind: "ack-registered"; readonly version: number; readonly timeoutSeconds: number; readonly csid: number; readonly metaId: bigint | null }
  /** ACK atype 0, 5 bytes: answers a version-5 BEGIN. */
  | { readonly kind: "ack-version"; readonly version: number }
  /** ACK atype 0, 1 byte: "send the next chunk batch" (answers every rver 61). */
  | { readonly kind: "ack-next" }
  | { readonly kind: "create"; readonly chunkId: bigint; readonly version: number }
  /** version 0 = whatever version the copy has. */
  | { readonly kind: "delete"; readonly chunkId: bigint; readonly version: number }
  | { readonly kind: "set-version"; readonly chunkId: bigint; readonly newVersion: number; readonly oldVersion: number }
  | { readonly kind: "duplicate"; readonly newChunkId: bigint; readonly newVersion: number; readonly oldChunkId: bigint; readonly oldVersion: number }
  | { readonly kind: "truncate"; readonly chunkId: bigint; readonly length: number; readonly newVersion: number; readonly oldVersion: number }
  | {
      readonly kind: "duptrunc";
      readonly newChunkId: bigint;
      readonly newVersion: number;
      readonly oldChunkId: bigint;
      readonly oldVersion: number;
      readonly length: number;
    }
  /** Pull a copy from another chunkserver (the 18-byte form; the XOR/RAID variant is not built). */
  | { readonly kind: "replicate"; readonly chunkId: bigint; readonly version: number; readonly sourceIp: number; readonly sourcePort: number };

export type MasterToChunkserverKind = MasterToChunkserver["kind"];

const ackAtypeAccepted = 0;

export function masterToChunkserverTypeOf(message: MasterToChunkserver): number {
  switch (message.kind) {
    case "nop":
      return cs.ANTOAN_NOP;
    case "ack-registered":
    case "ack-version":
    case "ack-next":
      return cs.MATOCS_MASTER_ACK;
    case "create":
      return cs.MATOCS_CREATE;
    case "delete":
      return cs.MATOCS_DELETE;
    case "set-version":
      return cs.MATOCS_SET_VERSION;
    case "duplicate":
      return cs.MATOCS_DUPLICATE;
    case "truncate":
      return cs.MATOCS_TRUNCATE;
    case "duptrunc":
      return cs.MATOCS_DUPTRUNC;
    case "replicate":
      return cs.MATOCS_REPLICATE;
  }
}

export function encodeMasterToChunkserverPayload(message: MasterToChunkserver): Uint8Array {
  const w = new Writer(32);
  switch (message.kind) {
    case "nop":
      break;
    case "ack-registered":
      w.u8(ackAtypeAccepted).u32(message.version).u16(message.timeoutSeconds).u16(message.csid);
      if (message.metaId !== null) w.u64(message.metaId);
      break;
    case "ack-version":
      w.u8(ackAtypeAccepted).u32(message.version);
      break;
    case "ack-next":
      w.u8(ackAtypeAccepted);
      break;
    case "create":
    case "delete":
      w.u64(message.chunkId).u32(message.version);
      break;
    case "set-version":
      w.u64(message.chunkId).u32(message.newVersion).u32(message.oldVersion);
      break;
    case "duplicate":
      w.u64(message.newChunkId).u32(message.newVersion).u64(message.oldChunkId).u32(message.oldVersion);
      break;
    case "truncate":
      w.u64(message.chunkId).u32(message.length).u32(message.newVersion).u32(message.oldVersion);
      break;
    case "duptrunc":
      w.u64(message.newChunkId).u32(message.newVersion).u64(message.oldChunkId).u32(message.oldVersion).u32(message.length);
      break;
    case "replicate":
      w.u64(message.chunkId).u32(message.version).u32(message.sourceIp).u16(message.sourcePort);
      break;
  }
  const payload = w.finish();
  assert(payload.length <= limits.masterToChunkserverPacketBytesMax, `master→chunkserver payload of ${payload.length} bytes exceeds the chunkserver's limit`);
  return payload;
}

export function encodeMasterToChunkserver(message: MasterToChunkserver): Uint8Array {
  return encodeFrame(masterToChunkserverTypeOf(message), encodeMasterToChunkserverPayload(message));
}

/** Decodes what a master sends, as a 3.0.117 chunkserver reads it (tests, fake chunkservers). */
export function decodeMasterToChunkserver(frame: Frame): MasterToChunkserver {
  const r = new Reader(frame.payload);
  const length = frame.payload.length;
  let message: MasterToChunkserver;
  switch (frame.type) {
    case cs.ANTOAN_NOP:
      return { kind: "nop" };
    case cs.MATOCS_MASTER_ACK: {
      const atype = r.u8("atype");
      if (atype !== ackAtypeAccepted) throw new DecodeError(`MATOCS_MASTER_ACK: atype ${atype} (redirect/wait/auth) is not supported`);
      if (length === 1) return { kind: "ack-next" };
      if (length === 5) return { kind: "ack-version", version: r.u32("version") };
      if (length !== 9 && length !== 17) throw new DecodeError(`MATOCS_MASTER_ACK: length ${length}, expected 1, 5, 9 or 17`);
      const version = r.u32("version");
      const timeoutSeconds = r.u16("timeout");
      const csid = r.u16("csid");
      const metaId = length === 17 ? r.u64("metaid") : null;
      return { kind: "ack-registered", version, timeoutSeconds, csid, metaId };
    }
    case cs.MATOCS_CREATE:
      message = { kind: "create", chunkId: r.u64("chunkid"), version: r.u32("version") };
      break;
    case cs.MATOCS_DELETE:
      message = { kind: "delete", chunkId: r.u64("chunkid"), version: r.u32("version") };
      break;
    case cs.MATOCS_SET_VERSION:
      message = { kind: "set-version", chunkId: r.u64("chunkid"), newVersion: r.u32("newversion"), oldVersion: r.u32("oldversion") };
      break;
    case cs.MATOCS_DUPLICATE:
      message = {
        kind: "duplicate",
        newChunkId: r.u64("newchunkid"),
        newVersion: r.u32("newversion"),
        oldChunkId: r.u64("oldchunkid"),
        oldVersion: r.u32("oldversion"),
      };
      break;
    case cs.MATOCS_TRUNCATE:
      message = { kind: "truncate", chunkId: r.u64("chunkid"), length: r.u32("length"), newVersion: r.u32("newversion"), oldVersion: r.u32("oldversion") };
      break;
    case cs.MATOCS_DUPTRUNC:
      message = {
        kind: "duptrunc",
        newChunkId: r.u64("newchunkid"),
        newVersion: r.u32("newversion"),
        oldChunkId: r.u64("oldchunkid"),
        oldVersion: r.u32("oldversion"),
        length: r.u32("length"),
      };
      break;
    case cs.MATOCS_REPLICATE:
      message = { kind: "replicate", chunkId: r.u64("chunkid"), version: r.u32("version"), sourceIp: r.u32("srcip"), sourcePort: r.u16("srcport") };
      break;
    default:
      throw new DecodeError(`unknown master→chunkserver message type ${frame.type} (length ${length})`);
  }
  r.end(message.kind);
  return message;
}
