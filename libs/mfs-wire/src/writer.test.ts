/** The payload writer: exact big-endian fields, range checks, and the length patch of a frame. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AssertionError } from "@antler/base";
import { Writer } from "./writer.ts";

test("u64 from a number writes the same bytes as from a bigint, up to 2^64 - 2^11", () => {
  for (const value of [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, 2 ** 60, 2 ** 64 - 2 ** 11]) {
    const fromNumber = new Writer(8).u64(value).finish();
    const fromBigint = new Writer(8).u64(BigInt(value)).finish();
    assert.deepEqual(fromNumber, fromBigint, String(value));
    assert.equal(new DataView(fromNumber.buffer).getBigUint64(0), BigInt(value));
  }
});

test("values out of their field's range are assertion failures", () => {
  const w = new Writer();
  for (const bad of [-1, 0.5, 256, Number.NaN]) assert.throws(() => w.u8(bad), AssertionError, String(bad));
  for (const bad of [-1, 65536]) assert.throws(() => w.u16(bad), AssertionError, String(bad));
  for (const bad of [-1, 2 ** 32, 1.5]) assert.throws(() => w.u32(bad), AssertionError, String(bad));
  for (const bad of [-1, 2 ** 64, 0.5, Number.POSITIVE_INFINITY]) assert.throws(() => w.u64(bad), AssertionError, String(bad));
  for (const bad of [-1n, 2n ** 64n]) assert.throws(() => w.u64(bad), AssertionError, String(bad));
  assert.throws(() => w.name(new Uint8Array(256)), AssertionError);
  assert.equal(w.length, 0, "a refused value writes nothing");
});

test("u32At patches a length written earlier; finish returns exactly the bytes written", () => {
  const w = new Writer(2);
  w.u32(7).u32(0).bytes(Uint8Array.of(1, 2, 3));
  w.u32At(4, w.length - 8);
  assert.deepEqual(w.finish(), Uint8Array.of(0, 0, 0, 7, 0, 0, 0, 3, 1, 2, 3));
  assert.throws(() => w.u32At(8, 1), AssertionError, "past the end");
  const exact = new Writer(4).u32(0x01020304).finish();
  assert.deepEqual(exact, Uint8Array.of(1, 2, 3, 4));
});
