/**
 * Request codec tests: every kind round-trips (encode → decode → same object, same bytes), the
 * bytes match the layouts captured in protocol §6, and malformed payloads are DecodeErrors.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DecodeError } from "./errors.ts";
import { decodeRequest, encodeRequest, encodeRequestPayload, requestTypeOf } from "./requests.ts";
import { sampleRequests } from "./samples.test.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
}

test("every sample request round-trips through encode and decode", () => {
  for (const request of sampleRequests) {
    const payload = encodeRequestPayload(request);
    const decoded = decodeRequest({ type: requestTypeOf(request), payload });
    assert.deepEqual(decoded, request, `${request.kind}`);
    assert.deepEqual(encodeRequestPayload(decoded), payload);
  }
});

test("LOOKUP layout matches the capture in protocol §6 C #16", () => {
  const payload = hex("00000002 00000001 01 64 00000000 00000001 00000000");
  const request = decodeRequest({ type: 406, payload });
  assert.deepEqual(request, { kind: "lookup", msgid: 2, parent: 1, name: new Uint8Array([0x64]), credentials: { uid: 0, gids: [0], form: "list" } });
});

test("the old single-gid credential form is chosen by length (protocol §3.1)", () => {
  const payload = hex("00000002 00000001 01 64 000003e8 ffffffff");
  const request = decodeRequest({ type: 406, payload });
  assert.equal(request.kind, "lookup");
  if (request.kind === "lookup") assert.deepEqual(request.credentials, { uid: 1000, gids: [0xffffffff], form: "single" });
});

test("ACCESS old 17-byte form carries an 8-bit modemask", () => {
  const request = decodeRequest({ type: 404, payload: hex("00000004 00000002 000003e8 000003e8 04") });
  assert.deepEqual(request, { kind: "access", msgid: 4, inode: 2, credentials: { uid: 1000, gids: [1000], form: "single" }, modemask: 4 });
});

test("encodeRequest prefixes the frame header", () => {
  const frame = encodeRequest({ kind: "statfs", msgid: 4 });
  assert.deepEqual(frame, hex("00000192 00000004 00000004"));
});

test("malformed payloads are DecodeErrors", () => {
  const cases: [number, string][] = [
    [406, "00000002 00000001 05 64"], // name longer than the payload
    [406, "00000002 00000001 01 64 00000000 00000002 00000000"], // gcnt 2 but one gid
    [406, "00000002 00000001 01 64 00000000 ffffffff 00000000"], // gcnt beyond groupsMax
    [402, "00000004 00"], // trailing byte
    [408, "00000001 00000001 00 00000000"], // GETATTR of 13 bytes
    [404, "00000004 00000002 000003e8 000003e8 0004 00"], // odd but not 17
    [400, "00".repeat(65)], // unknown blob
    [492, "00000001"], // short FLOCK
    [700, "000000"], // not a multiple of 4
    [999, ""], // unknown type
  ];
  for (const [type, payload] of cases) {
    assert.throws(() => decodeRequest({ type, payload: hex(payload) }), DecodeError, `type ${type} ${payload}`);
  }
});

test("REGISTER NEWSESSION with a path missing its NUL is refused, as mfsmaster does", () => {
  const good = sampleRequests[1]!;
  const bytes = encodeRequestPayload(good);
  bytes[bytes.length - 1] = 0x41;
  assert.throws(() => decodeRequest({ type: 400, payload: bytes }), DecodeError);
});
