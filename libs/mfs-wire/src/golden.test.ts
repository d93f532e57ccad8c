/**
 * Golden tests on traffic captured from the real MooseFS 3.0.117 master and mfsmount
 * (tools/capture/capture.sh → test/fixtures/captured-session.json): every client request decodes
 * and re-encodes to the identical bytes, and so does every master reply, decoded with the request
 * it answers (paired by msgid, as mfsmount pairs them).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decodeReply, encodeReplyPayload } from "./replies.ts";
import { decodeRequest, encodeRequestPayload, type ClientRequest } from "./requests.ts";

interface FixtureFrame {
  readonly connection: number;
  readonly dir: "c2m" | "m2c";
  readonly type: number;
  readonly command: string;
  readonly payload: string;
}

const fixture = JSON.parse(readFileSync(new URL("../test/fixtures/captured-session.json", import.meta.url), "utf8")) as {
  frames: FixtureFrame[];
};

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

test("the fixture covers the namespace operations of the capture script", () => {
  const types = new Set(fixture.frames.filter((f) => f.dir === "c2m").map((f) => f.type));
  for (const type of [400, 402, 404, 406, 408, 410, 412, 414, 416, 418, 420, 422, 424, 426, 428, 430, 432, 434, 436, 464, 478, 480, 482, 488, 490, 492, 494, 704]) {
    assert.ok(types.has(type), `no captured request of type ${type}`);
  }
});

test("every captured client request decodes and re-encodes to the same bytes", () => {
  let count = 0;
  for (const frame of fixture.frames.filter((f) => f.dir === "c2m")) {
    const request = decodeRequest({ type: frame.type, payload: fromHex(frame.payload) });
    assert.equal(toHex(encodeRequestPayload(request)), frame.payload, `type ${frame.type} (${frame.command})`);
    count++;
  }
  assert.ok(count > 100);
});

test("every captured master reply decodes (with its request) and re-encodes to the same bytes", () => {
  const pending = new Map<string, ClientRequest>();
  let lastRegister: ClientRequest | null = null;
  let count = 0;
  for (const frame of fixture.frames) {
    const payload = fromHex(frame.payload);
    if (frame.dir === "c2m") {
      const request = decodeRequest({ type: frame.type, payload });
      if (request.kind === "register") lastRegister = request;
      else if ("msgid" in request && request.msgid !== null) pending.set(`${frame.connection}:${request.msgid}`, request);
      continue;
    }
    let request: ClientRequest | null = null;
    if (frame.type === 401) {
      request = lastRegister;
    } else if (frame.type !== 0 && payload.length >= 4) {
      const msgid = new DataView(payload.buffer).getUint32(0);
      request = pending.get(`${frame.connection}:${msgid}`) ?? null;
      pending.delete(`${frame.connection}:${msgid}`);
    }
    const reply = decodeReply({ type: frame.type, payload }, request);
    assert.equal(toHex(encodeReplyPayload(reply)), frame.payload, `type ${frame.type} (${frame.command})`);
    count++;
  }
  assert.ok(count > 100);
});

test("the captured NEWSESSION reply is the 49-byte layout of protocol §2.3", () => {
  const frame = fixture.frames.find((f) => f.dir === "m2c" && f.type === 401)!;
  const reply = decodeReply({ type: 401, payload: fromHex(frame.payload) }, null);
  assert.equal(reply.kind, "register-session");
  if (reply.kind !== "register-session") return;
  assert.equal(reply.version, 0x000300ea);
  assert.equal(reply.sessionId, 1);
  assert.equal(reply.maxTrashTime, 0xffffffff);
  assert.equal(reply.mapAllUid, 999);
});
