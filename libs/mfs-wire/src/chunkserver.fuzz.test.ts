/**
 * Seeded fuzzing of the chunkserver-link decoders: truncated, mutated and random payloads of every
 * chunkserver message type (and of master messages, as a fake chunkserver reads them) must decode
 * or fail with DecodeError — never another exception — and anything that decodes must encode back
 * to the same bytes. A random byte stream through the frame decoder yields only frames or a
 * FrameError.
 *
 * Reproduce a failure with: FUZZ_SEED=<seed> node --test src/chunkserver.fuzz.test.ts
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import {
  chunkserverMessageTypeOf,
  decodeChunkserverMessage,
  encodeChunkserverMessagePayload,
} from "./chunkserver-messages.ts";
import { sampleChunkserverMessages, sampleMasterToChunkserver } from "./chunkserver-samples.test.ts";
import { DecodeError, FrameError } from "./errors.ts";
import { FrameDecoder } from "./frame.ts";
import { decodeMasterToChunkserver, encodeMasterToChunkserverPayload, masterToChunkserverTypeOf } from "./master-to-chunkserver.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const iterations = Number(process.env["FUZZ_ITERATIONS"] ?? 20_000);

function mutate(rand: () => number, payload: Uint8Array): Uint8Array {
  const choice = rand();
  if (choice < 0.3) return payload.subarray(0, Math.floor(rand() * payload.length));
  if (choice < 0.4) return Uint8Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256));
  const out = Uint8Array.from(payload);
  const flips = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < flips && out.length > 0; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  if (choice > 0.9) return Uint8Array.from([...out, ...Array.from({ length: 1 + Math.floor(rand() * 13) }, () => Math.floor(rand() * 256))]);
  return out;
}

function guarded<T>(decode: () => T, context: () => string): T | null {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) return null;
    assert.fail(`seed ${seed}: ${context()} threw ${String(error)}`);
  }
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

test(`chunkserver decoders only ever throw DecodeError (seed ${seed})`, () => {
  const rand = seededRandom(seed);
  const inbound = sampleChunkserverMessages.map((m) => ({ type: chunkserverMessageTypeOf(m), payload: encodeChunkserverMessagePayload(m) }));
  const outbound = sampleMasterToChunkserver.map((m) => ({ type: masterToChunkserverTypeOf(m), payload: encodeMasterToChunkserverPayload(m) }));
  for (let i = 0; i < iterations; i++) {
    const toMaster = rand() < 0.7;
    const pool = toMaster ? inbound : outbound;
    const base = pool[Math.floor(rand() * pool.length)]!;
    // Sometimes a random type in the link's range, to reach the "unknown type" paths.
    const type = rand() < 0.1 ? Math.floor(rand() * 180) : base.type;
    const payload = mutate(rand, base.payload);
    const context = () => `type ${type} payload ${hexOf(payload)}`;
    if (toMaster) {
      const message = guarded(() => decodeChunkserverMessage({ type, payload }), context);
      // A NOP ignores its payload (as mfsmaster does), so it cannot re-encode the same bytes.
      if (message !== null && message.kind !== "nop" && message.kind !== "peer-complaint") {
        assert.equal(hexOf(encodeChunkserverMessagePayload(message)), hexOf(payload), `seed ${seed}: ${context()} does not re-encode`);
      }
    } else {
      const message = guarded(() => decodeMasterToChunkserver({ type, payload }), context);
      if (message !== null && message.kind !== "nop") {
        assert.equal(hexOf(encodeMasterToChunkserverPayload(message)), hexOf(payload), `seed ${seed}: ${context()} does not re-encode`);
      }
    }
  }
});

test(`random byte streams give frames or a FrameError, nothing else (seed ${seed})`, () => {
  const rand = seededRandom(seed ^ 0x5a5a5a5a);
  for (let i = 0; i < 500; i++) {
    const decoder = new FrameDecoder(limits.chunkserverPacketBytesMax);
    const stream = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * 256)));
    try {
      for (let at = 0; at < stream.length; ) {
        const step = 1 + Math.floor(rand() * 16);
        for (const frame of decoder.push(stream.subarray(at, at + step))) guarded(() => decodeChunkserverMessage(frame), () => `frame type ${frame.type}`);
        at += step;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) assert.fail(`seed ${seed}: stream ${hexOf(stream)} threw ${String(error)}`);
    }
  }
});
