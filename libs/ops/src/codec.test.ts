/** The internal message codec: exact round trips of the types JSON lacks, strict rejection. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { base64Decode, base64Encode, CodecError, decodeMessage, encodeMessage } from "./codec.ts";
import { nameFromBytes, nameToBytes } from "./names.ts";
import { seededRandom } from "@antler/testkit";

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

// The fast walks of encodeMessage/decodeMessage must give exactly what JSON.stringify/JSON.parse
// with a replacer/reviver give (the codec's definition, ADR 0002). These are that reference.
function referenceEncode(message: unknown): Uint8Array {
  const text = JSON.stringify(message, (_key, value: unknown) => {
    if (typeof value === "bigint") return { $n: value.toString() };
    if (value instanceof Uint8Array) return { $b: base64Encode(value) };
    return value;
  });
  return new TextEncoder().encode(text);
}

function referenceDecode(bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes), (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1) {
      const v = value as { $n?: unknown; $b?: unknown };
      if (typeof v.$n === "string") {
        if (!/^-?\d+$/.test(v.$n)) throw new CodecError("invalid bigint");
        return BigInt(v.$n);
      }
      if (typeof v.$b === "string") return base64Decode(v.$b);
    }
    return value;
  });
}

function randomMessage(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 4 ? 7 : 10));
  switch (pick) {
    case 0:
      return Math.floor(next() * 2 ** 32) - 2 ** 31;
    case 1:
      return BigInt(Math.floor(next() * 2 ** 53)) * (next() < 0.5 ? -1n : 1n) * 4096n;
    case 2:
      return Uint8Array.from({ length: Math.floor(next() * 7) }, () => Math.floor(next() * 256));
    case 3:
      return nameFromBytes(Uint8Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * 256)));
    case 4:
      return next() < 0.5 ? null : next() < 0.5;
    case 5:
      return "$n";
    case 6:
      return next() * 1e6;
    case 7:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomMessage(next, depth + 1));
    default: {
      // Keys that look like tags, are spelled oddly or are special to JS objects.
      const keys = ["kind", "$n", "$b", "$x", "__proto__", "0", "attr", nameFromBytes(Uint8Array.of(0xff, 0x01))];
      const out: Record<string, unknown> = {};
      const count = Math.floor(next() * 4);
      for (let i = 0; i < count; i++) {
        const key = keys[Math.floor(next() * keys.length)]!;
        Object.defineProperty(out, key, { value: randomMessage(next, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
}

test("the fast paths match JSON with a replacer and reviver on random messages", () => {
  const seed = Number(process.env.CODEC_TEST_SEED ?? Date.now() % 100000);
  const next = seededRandom(seed);
  for (let i = 0; i < 3000; i++) {
    const message = randomMessage(next, 0);
    const before = referenceEncode(message);
    const bytes = encodeMessage(message);
    assert.deepEqual(bytes, before, `encode differs (CODEC_TEST_SEED=${seed}, message ${i})`);
    // Encoding must not have changed the message it was given.
    assert.deepEqual(referenceEncode(message), before, `encode mutated its input (CODEC_TEST_SEED=${seed})`);
    let expected: unknown;
    try {
      expected = referenceDecode(bytes);
    } catch {
      // e.g. {"$b": "$n"}: the reference refuses it too, as a CodecError here.
      assert.throws(() => decodeMessage(bytes), CodecError, `CODEC_TEST_SEED=${seed}, message ${i}`);
      continue;
    }
    assert.deepEqual(decodeMessage(bytes), expected, `decode differs (CODEC_TEST_SEED=${seed}, message ${i})`);
  }
});

test("a 100-entry READDIR result round-trips without tags and with them", () => {
  const attr = { type: 1, mode: 0o644, uid: 0, gid: 0, atime: 1, mtime: 2, ctime: 3, nlink: 1, length: 2 ** 40, rdev: 0, flags: 8, winattr: 0 };
  const entries = Array.from({ length: 100 }, (_, i) => ({ name: nameFromBytes(Uint8Array.of(0x80 + (i % 100), 0x41)), inode: i + 2, type: 1, attr }));
  const result = { status: 0, entries };
  assert.deepEqual(decodeMessage(encodeMessage(result)), result);
  const tagged = { ...result, cookie: 7n, entries: [...entries, { name: "x", inode: 1, type: 2, value: Uint8Array.of(1) }] };
  assert.deepEqual(decodeMessage(encodeMessage(tagged)), tagged);
});

test("tags spelled with escapes, keys named __proto__ and deep nesting decode as JSON defines", () => {
  const escaped = new TextEncoder().encode('{"a":{"\\u0024n":"12"},"b":[{"\\u0024b":"AAE="}]}');
  assert.deepEqual(decodeMessage(escaped), { a: 12n, b: [Uint8Array.of(0, 1)] });

  const proto = decodeMessage(new TextEncoder().encode('{"__proto__":{"$n":"1"},"x":1}')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(proto, "__proto__")?.value, 1n);

  let deep: unknown = { $n: "5" };
  let expected: unknown = 5n;
  for (let i = 0; i < 1000; i++) {
    deep = [deep];
    expected = [expected];
  }
  const deepBytes = new TextEncoder().encode(JSON.stringify(deep));
  assert.deepEqual(decodeMessage(deepBytes), expected);
  assert.deepEqual(decodeMessage(encodeMessage(expected)), expected);
});

test("values with toJSON and cycles are left to JSON.stringify", () => {
  const message = { when: new Date(0), custom: { toJSON: () => ({ id: 3n }) } };
  assert.deepEqual(encodeMessage(message), referenceEncode(message));
  assert.deepEqual(decodeMessage(encodeMessage(message)), { when: "1970-01-01T00:00:00.000Z", custom: { id: 3n } });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(() => encodeMessage(cyclic), TypeError);
});
