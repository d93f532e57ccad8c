/** The internal message codec: exact round trips of the types JSON lacks, strict rejection. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { base64Decode, base64Encode, CodecError, decodeMessage, encodeMessage } from "./codec.ts";
import { nameFromBytes, nameToBytes } from "./names.ts";

test("base64 round-trips every length and byte value", () => {
  for (let n = 0; n < 300; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    assert.deepEqual(base64Decode(base64Encode(bytes)), bytes);
  }
  assert.equal(base64Encode(new TextEncoder().encode("hi\n")), "aGkK");
});

test("messages keep bigint, Uint8Array and byte-string names exact", () => {
  const name = nameFromBytes(Uint8Array.of(0xff, 0x00, 0x80, 0x41));
  const msg = { owner: 18446744073709551615n, value: Uint8Array.of(0, 1, 255), name, n: 5, nested: [{ x: -3n }] };
  const back = decodeMessage(encodeMessage(msg)) as typeof msg;
  assert.equal(back.owner, 18446744073709551615n);
  assert.deepEqual(back.value, Uint8Array.of(0, 1, 255));
  assert.deepEqual(nameToBytes(back.name), Uint8Array.of(0xff, 0x00, 0x80, 0x41));
  assert.equal(back.nested[0]!.x, -3n);
});

test("malformed input is a CodecError, never another exception", () => {
  for (const bad of ["{", "\u0000", '{"$n":"12a"}', '{"$b":"abc"}', '{"$b":"ab!="}']) {
    assert.throws(() => decodeMessage(new TextEncoder().encode(bad)), CodecError, bad);
  }
  assert.throws(() => decodeMessage(Uint8Array.of(0xc3, 0x28)), CodecError);
});
