/**
 * Replays the client side of the traffic captured from a real mfsmount 3.0.117
 * (libs/mfs-wire/test/fixtures/captured-session.json) into a connection, with a metadata tier
 * that fails every call with EIO. Every captured request must be accepted (no close until the
 * final CLOSESESSION), every request with a msgid must get exactly one reply of the type mfsmount
 * expects, and the REGISTER reply must have the layout of the captured one. The capture spans a
 * master restart, so the mount's second connection resumes the session with RECONNECT.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decodeReply, decodeRequest, replyTypeOf, type ClientRequest } from "@antler/mfs-wire";
import { Status } from "@antler/ops";
import type { SessionRecord } from "./api.ts";
import { Driver, options, recordFrom } from "./harness.test.ts";

interface FixtureFrame {
  readonly connection: number;
  readonly dir: "c2m" | "m2c";
  readonly type: number;
  readonly payload: string;
}

const frames = (JSON.parse(readFileSync(new URL("../../../../libs/mfs-wire/test/fixtures/captured-session.json", import.meta.url), "utf8")) as {
  frames: FixtureFrame[];
}).frames;

function fromHex(text: string): Uint8Array {
  return Uint8Array.from({ length: text.length / 2 }, (_, i) => parseInt(text.slice(2 * i, 2 * i + 2), 16));
}

/** The capture's own metaid (from its NEWSESSION reply): RECONNECT and CLOSESESSION carry it. */
const capturedMetaId = new DataView(fromHex(frames.find((f) => f.dir === "m2c" && f.type === 401)!.payload).buffer).getBigUint64(8);

function captureOptions() {
  return { ...options("* / rw,alldirs,admin,maproot=0:0"), metaId: capturedMetaId };
}

function frameBytes(frame: FixtureFrame): Uint8Array {
  const payload = fromHex(frame.payload);
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, frame.type);
  view.setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

test("the captured mount session is served: one reply per msgid, no close before CLOSESESSION", () => {
  const drivers = new Map<number, Driver>();
  let record: SessionRecord | null = null;
  const expected = new Map<number, number>(); // msgid → reply type still owed
  let reconnected = false;
  let closeSessionSeen = false;
  for (const frame of frames.filter((f) => f.dir === "c2m")) {
    const request: ClientRequest = decodeRequest({ type: frame.type, payload: fromHex(frame.payload) });
    let driver = drivers.get(frame.connection);
    if (driver === undefined) {
      // A new TCP connection: whatever the previous one still owed is lost with it (the mount
      // re-sends those requests after RECONNECT).
      expected.clear();
      driver = new Driver(captureOptions());
      drivers.set(frame.connection, driver);
    }
    assert.equal(driver.closedWith, null, `closed before ${frame.type}`);
    const before = driver.sent.length;
    const actions = driver.feed(frameBytes(frame), 7);
    for (const action of actions) {
      if (action.kind === "session-create") {
        record = recordFrom(action.draft, 1);
        driver.created(action.token, record);
      }
      if (action.kind === "session-load") {
        driver.loaded(action.token, record);
        reconnected = true;
      }
      if (action.kind === "call") driver.result(action.token, { status: Status.IO });
    }
    if (request.kind === "register" && request.rcode === 6) closeSessionSeen = true;
    if ("msgid" in request && request.msgid !== null && request.kind !== "nop" && request.kind !== "timesync") {
      const replyType = replyTypeOf(frame.type);
      assert.ok(replyType !== null);
      expected.set(request.msgid, replyType);
    }
    for (const sent of driver.sent.slice(before)) {
      if (sent.type === 0 || sent.type === 705) continue;
      if (sent.type === 401) {
        assert.ok([1, 5, 49].includes(sent.payload.length), "a REGISTER reply mfsmount accepts");
        assert.equal(sent.payload.at(-1) === 0 || sent.payload.length === 49, true, "registration succeeded");
        continue;
      }
      const msgid = new DataView(sent.payload.buffer, sent.payload.byteOffset).getUint32(0);
      assert.equal(expected.get(msgid), sent.type, `reply ${sent.type} for msgid ${msgid}`);
      expected.delete(msgid);
    }
  }
  assert.equal(expected.size, 0, `unanswered msgids: ${[...expected.keys()]}`);
  assert.ok(reconnected, "the capture contains the RECONNECT after the master restart");
  assert.ok(closeSessionSeen);
  assert.equal([...drivers.values()].at(-1)!.closedWith, "session closed by the client");
});

test("our NEWSESSION reply to the captured REGISTER has the captured reply's layout", () => {
  const register = frames.find((f) => f.dir === "c2m" && f.type === 400)!;
  const captured = frames.find((f) => f.dir === "m2c" && f.type === 401)!;
  const driver = new Driver(options("* / rw,alldirs,admin,maproot=0:0"));
  const create = driver.feed(frameBytes(register), 1).find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  driver.created(create.token, recordFrom(create.draft, 1));
  const ours = decodeReply(driver.sent[0]!, null);
  const theirs = decodeReply({ type: 401, payload: fromHex(captured.payload) }, null);
  assert.ok(ours.kind === "register-session" && theirs.kind === "register-session");
  assert.deepEqual({ ...ours, metaId: 0n }, { ...theirs, metaId: 0n });
});
