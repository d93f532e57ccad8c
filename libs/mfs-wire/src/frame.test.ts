/**
 * FrameDecoder tests: a stream split anywhere (down to single bytes) yields the same frames as one
 * chunk; oversized headers are FrameErrors and poison the stream (it cannot be resynchronised).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameError } from "./errors.ts";
import { FrameDecoder, encodeFrame, type Frame } from "./frame.ts";

const frames: Frame[] = [
  { type: 0, payload: new Uint8Array(0) },
  { type: 406, payload: Uint8Array.from({ length: 22 }, (_, i) => i) },
  { type: 0, payload: new Uint8Array(4) },
  { type: 701, payload: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff) },
];
const stream = new Uint8Array(frames.reduce((n, f) => n + 8 + f.payload.length, 0));
{
  let at = 0;
  for (const f of frames) {
    const bytes = encodeFrame(f.type, f.payload);
    stream.set(bytes, at);
    at += bytes.length;
  }
}

test("frames fed byte by byte come out whole and in order", () => {
  const decoder = new FrameDecoder(1000);
  const out: Frame[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
  assert.deepEqual(out, frames);
  assert.equal(decoder.pendingBytes, 0);
});

test("every split point of the stream gives the same frames", () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new FrameDecoder(1000);
    const out = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
    assert.deepEqual(out, frames, `cut at ${cut}`);
  }
});

test("a partial frame is held back until its last byte arrives", () => {
  const decoder = new FrameDecoder(1000);
  assert.deepEqual(decoder.push(stream.subarray(0, 8 + 5)), [frames[0]]);
  assert.equal(decoder.pendingBytes, 5);
});

test("a header announcing more than the maximum payload is a FrameError, and stays one", () => {
  const decoder = new FrameDecoder(100);
  const header = encodeFrame(406, new Uint8Array(0));
  header[4] = 0xff; // length 0xff000000
  assert.throws(() => decoder.push(header), FrameError);
  assert.throws(() => decoder.push(new Uint8Array(1)), FrameError);
});

test("the maximum payload itself is accepted", () => {
  const decoder = new FrameDecoder(100);
  const out = decoder.push(encodeFrame(1, new Uint8Array(100)));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.payload.length, 100);
});

test("a large frame arriving in pieces is reassembled exactly", () => {
  const payload = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
  const bytes = encodeFrame(701, payload);
  const decoder = new FrameDecoder(1_000_000);
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; at += 9_999) out.push(...decoder.push(bytes.subarray(at, at + 9_999)));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.payload, payload);
});
