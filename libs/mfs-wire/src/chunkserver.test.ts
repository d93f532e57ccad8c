/**
 * Chunkserver-link codec: every message kind round-trips in both directions, captured bytes from a
 * real 3.0.117 chunkserver decode to the values we expect, every length mfsmaster refuses is a
 * DecodeError, a stream of chunkserver frames fed byte by byte decodes the same as in one piece,
 * and the master→CS size limit is enforced.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import * as cs from "./chunkserver-codes.ts";
import {
  decodeChunkserverMessage,
  encodeChunkserverMessage,
  encodeChunkserverMessagePayload,
  chunkserverMessageTypeOf,
  type ChunkserverMessage,
} from "./chunkserver-messages.ts";
import { sampleChunkserverMessages, sampleMasterToChunkserver } from "./chunkserver-samples.test.ts";
import { DecodeError, FrameError } from "./errors.ts";
import { FrameDecoder, encodeFrame } from "./frame.ts";
import {
  decodeMasterToChunkserver,
  encodeMasterToChunkserver,
  encodeMasterToChunkserverPayload,
  masterToChunkserverTypeOf,
} from "./master-to-chunkserver.ts";

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

test("every chunkserver→master message round-trips", () => {
  for (const message of sampleChunkserverMessages) {
    const frame = { type: chunkserverMessageTypeOf(message), payload: encodeChunkserverMessagePayload(message) };
    assert.deepEqual(decodeChunkserverMessage(frame), message, message.kind);
  }
});

test("every master→chunkserver message round-trips", () => {
  for (const message of sampleMasterToChunkserver) {
    const frame = { type: masterToChunkserverTypeOf(message), payload: encodeMasterToChunkserverPayload(message) };
    assert.deepEqual(decodeMasterToChunkserver(frame), message, message.kind);
  }
});

test("captured chunkserver bytes decode as a real 3.0.117 CS meant them (protocol §4)", () => {
  // First start of a CS: BEGIN with space still 0 while its disk scan runs.
  const begin = decodeChunkserverMessage({ type: cs.CSTOMA_REGISTER, payload: hex(`3c 000300ea 0a4e0001 24ce 0000 0000 ${"00".repeat(40)}`) });
  assert.deepEqual(begin, {
    kind: "register-begin",
    form: 6,
    passcode: null,
    version: 0x000300ea,
    ip: 0x0a4e0001,
    port: 9422,
    timeoutSeconds: 0,
    csid: 0,
    space: { usedSpace: 0n, totalSpace: 0n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 },
  });
  assert.deepEqual(decodeChunkserverMessage({ type: cs.CSTOMA_CURRENT_LOAD, payload: hex("00000000 01") }), { kind: "current-load", load: 0, hlStatus: 1 });
  assert.deepEqual(decodeChunkserverMessage({ type: cs.CSTOMA_REGISTER, payload: hex("3e") }), { kind: "register-end", form: 6, space: null });
  assert.deepEqual(decodeChunkserverMessage({ type: cs.CSTOMA_CREATE, payload: hex("0000000000000001 00") }), {
    kind: "chunk-op-status",
    op: "create",
    chunkId: 1n,
    status: 0,
  });
});

test("the master's messages have the captured bytes (protocol §4)", () => {
  const ack = encodeMasterToChunkserver({ kind: "ack-registered", version: 0x000300ea, timeoutSeconds: 10, csid: 1, metaId: 0x6b07d0ed6a9c537an });
  assert.equal(toHex(ack), "00000068" + "00000011" + "00000300ea000a00016b07d0ed6a9c537a");
  assert.equal(toHex(encodeMasterToChunkserver({ kind: "ack-next" })), "00000068" + "00000001" + "00");
  assert.equal(toHex(encodeMasterToChunkserver({ kind: "nop" })), "0000000000000000", "the NOP on this link has length 0");
  assert.equal(toHex(encodeMasterToChunkserverPayload({ kind: "create", chunkId: 1n, version: 1 })), "000000000000000100000001");
  assert.equal(
    toHex(encodeMasterToChunkserverPayload({ kind: "truncate", chunkId: 2n, length: 100_000, newVersion: 2, oldVersion: 1 })),
    "0000000000000002000186a00000000200000001",
  );
  assert.equal(
    toHex(encodeMasterToChunkserverPayload({ kind: "duptrunc", newChunkId: 5n, newVersion: 1, oldChunkId: 4n, oldVersion: 1, length: 1000 })),
    "000000000000000500000001000000000000000400000001000003e8",
  );
});

test("lengths mfsmaster refuses are DecodeErrors", () => {
  const refused: [number, string, string][] = [
    [cs.CSTOMA_REGISTER, "", "empty REGISTER"],
    [cs.CSTOMA_REGISTER, "3c" + "00".repeat(53), "BEGIN of 54 bytes"],
    [cs.CSTOMA_REGISTER, "3c" + "00".repeat(56), "BEGIN of 57 bytes"],
    [cs.CSTOMA_REGISTER, "32" + "00".repeat(14), "v5 BEGIN of 15 bytes"],
    [cs.CSTOMA_REGISTER, "3d" + "00".repeat(12), "CHUNKS of 13 bytes is odd but fine"],
    [cs.CSTOMA_REGISTER, "3d" + "00".repeat(13), "CHUNKS with a partial copy"],
    [cs.CSTOMA_REGISTER, "3e00", "END with a trailing byte"],
    [cs.CSTOMA_REGISTER, "3f" + "0000", "BYE with trailing bytes"],
    [cs.CSTOMA_REGISTER, "34" + "00".repeat(38), "v5 END too short"],
    [cs.CSTOMA_REGISTER, "01" + "00".repeat(38), "rver 1 (pre-1.6)"],
    [cs.CSTOMA_REGISTER, "40", "unknown rver 64"],
    [cs.CSTOMA_SPACE, "00".repeat(24), "SPACE of 24 bytes"],
    [cs.CSTOMA_CURRENT_LOAD, "000000", "LOAD of 3 bytes"],
    [cs.CSTOMA_CURRENT_LOAD, "000000000000", "LOAD of 6 bytes"],
    [cs.CSTOMA_CHUNK_LOST, "00".repeat(9), "LOST not a multiple of 8"],
    [cs.CSTOMA_CHUNK_DAMAGED, "00".repeat(4), "DAMAGED not a multiple of 8"],
    [cs.CSTOMA_CHUNK_NEW, "00".repeat(8), "NEW not a multiple of 12"],
    [cs.CSTOMA_ERROR_OCCURRED, "00", "ERROR_OCCURRED with a payload"],
    [cs.CSTOMA_LABELS, "000000", "LABELS of 3 bytes"],
    [cs.CSTOMA_CREATE, "00".repeat(10), "CREATE status of 10 bytes"],
    [cs.CSTOMA_REPLICATE, "00".repeat(9), "REPLICATE status of 9 bytes"],
    [cs.MATOCS_CREATE, "00".repeat(12), "a master message sent to the master"],
    [999, "", "unknown type"],
  ];
  for (const [type, payloadHex, what] of refused) {
    if (what.endsWith("but fine")) {
      assert.doesNotThrow(() => decodeChunkserverMessage({ type, payload: hex(payloadHex) }), what);
      continue;
    }
    assert.throws(() => decodeChunkserverMessage({ type, payload: hex(payloadHex) }), DecodeError, what);
  }
  assert.throws(() => decodeMasterToChunkserver({ type: cs.MATOCS_MASTER_ACK, payload: hex("01 0a000001") }), DecodeError, "redirect atype");
  assert.throws(() => decodeMasterToChunkserver({ type: cs.MATOCS_MASTER_ACK, payload: hex("00 000300ea 00") }), DecodeError, "ACK of 6 bytes");
});

test("a chunkserver's stream fed byte by byte gives the same messages as in one piece", () => {
  const messages = sampleChunkserverMessages;
  const stream = Buffer.concat(messages.map((m) => encodeChunkserverMessage(m)));
  const decoder = new FrameDecoder(limits.chunkserverPacketBytesMax);
  const decoded: ChunkserverMessage[] = [];
  for (let i = 0; i < stream.length; i++) {
    for (const frame of decoder.push(stream.subarray(i, i + 1))) decoded.push(decodeChunkserverMessage(frame));
  }
  assert.deepEqual(decoded, messages);
  assert.equal(decoder.pendingBytes, 0);
});

test("inbound frames over chunkserverPacketBytesMax are FrameErrors; outbound over the CS limit cannot be built", () => {
  const decoder = new FrameDecoder(limits.chunkserverPacketBytesMax);
  const header = encodeFrame(cs.CSTOMA_REGISTER, new Uint8Array(0));
  new DataView(header.buffer).setUint32(4, limits.chunkserverPacketBytesMax + 1);
  assert.throws(() => decoder.push(header), FrameError);
  // Every master→CS message we build is far below the chunkserver's 10 000-byte limit.
  for (const message of sampleMasterToChunkserver) {
    assert.ok(encodeMasterToChunkserverPayload(message).length <= limits.masterToChunkserverPacketBytesMax);
  }
});
