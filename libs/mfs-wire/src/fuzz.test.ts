/**
 * Seeded fuzzing of the decoders: random frames of every known type, and truncated or mutated
 * versions of valid ones (samples and captured traffic), must decode or fail with DecodeError —
 * never another exception. Decoding a payload that sits inside a larger buffer must give the same
 * result as decoding a copy, which shows decoders never read past their frame.
 *
 * Reproduce a failure with: FUZZ_SEED=<seed> node --test src/fuzz.test.ts
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DecodeError } from "./errors.ts";
import { decodeReply, encodeReplyPayload, replyTypeOfReply } from "./replies.ts";
import { decodeRequest, encodeRequestPayload, requestTypeOf, type ClientRequest } from "./requests.ts";
import { requestForReply, sampleReplies, sampleRequests } from "./samples.test.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const iterations = Number(process.env["FUZZ_ITERATIONS"] ?? 20_000);

const captured = (JSON.parse(readFileSync(new URL("../test/fixtures/captured-session.json", import.meta.url), "utf8")) as {
  frames: { dir: string; type: number; payload: string }[];
}).frames.filter((f) => f.dir === "c2m").map((f) => ({ type: f.type, payload: Uint8Array.from(Buffer.from(f.payload, "hex")) }));

const seeds: { type: number; payload: Uint8Array }[] = [
  ...sampleRequests.map((r) => ({ type: requestTypeOf(r), payload: encodeRequestPayload(r) })),
  ...captured,
];
const requestTypes = [...new Set(seeds.map((s) => s.type))];

function mutate(rand: () => number, payload: Uint8Array): Uint8Array {
  const choice = rand();
  if (choice < 0.3) return payload.subarray(0, Math.floor(rand() * payload.length)); // truncated
  if (choice < 0.4) return Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)); // random
  const out = Uint8Array.from(payload);
  const flips = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < flips && out.length > 0; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  if (choice > 0.9) return Uint8Array.from([...out, ...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256))]);
  return out;
}

function decodeGuarded<T>(decode: () => T, context: () => string): T | null {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) return null;
    assert.fail(`seed ${seed}: ${context()} threw ${String(error)}`);
  }
}

test(`fuzzed requests decode or throw DecodeError only (seed ${seed})`, () => {
  const rand = seededRandom(seed);
  for (let i = 0; i < iterations; i++) {
    const base = seeds[Math.floor(rand() * seeds.length)]!;
    const type = rand() < 0.1 ? requestTypes[Math.floor(rand() * requestTypes.length)]! : base.type;
    const payload = mutate(rand, base.payload);
    // Embed the payload in a larger buffer full of 0xAA: a decoder reading past its end would
    // decode something different from the copy.
    const backing = new Uint8Array(payload.length + 64).fill(0xaa);
    backing.set(payload, 16);
    const embedded = backing.subarray(16, 16 + payload.length);
    const context = (): string => `type ${type} payload ${Buffer.from(payload).toString("hex")}`;
    const fromCopy = decodeGuarded(() => decodeRequest({ type, payload: Uint8Array.from(payload) }), context);
    const fromEmbedded = decodeGuarded(() => decodeRequest({ type, payload: embedded }), context);
    assert.deepEqual(fromEmbedded, fromCopy, `seed ${seed}: ${context()}`);
    if (fromCopy !== null) {
      // What decodes must encode back to the same bytes.
      assert.deepEqual(encodeRequestPayload(fromCopy as ClientRequest), payload, `seed ${seed}: ${context()}`);
    }
  }
});

test(`fuzzed replies decode or throw DecodeError only (seed ${seed})`, () => {
  const rand = seededRandom(seed ^ 0x5eed);
  for (let i = 0; i < iterations / 4; i++) {
    const reply = sampleReplies[Math.floor(rand() * sampleReplies.length)]!;
    const payload = mutate(rand, encodeReplyPayload(reply));
    const type = replyTypeOfReply(reply);
    decodeGuarded(() => decodeReply({ type, payload }, requestForReply(reply)), () => `reply type ${type} ${Buffer.from(payload).toString("hex")}`);
  }
});
