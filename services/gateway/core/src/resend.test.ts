/**
 * Re-sent requests (Ctx.resendKey / Ctx.maybeResend): every mutating request that expects a
 * reply carries `${sessionId}:${msgid}`; requests that arrive on a connection that continued an
 * existing session (RECONNECT, or NEWSESSION that got its old id back), before it answered any
 * request, are marked maybeResend, and nothing else is.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { FlockCmd, Status } from "@antler/ops";
import type { SessionRecord } from "./api.ts";
import { Driver, enc, metaId, options, rootCred } from "./harness.test.ts";

/** NEWSESSION asking to keep its old session id (mfsmount after RECONNECT answered EPERM). */
const newSessionKeeping = (sessionId: number) => ({ kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt/antler\0"), path: enc.encode("/\0"), sessionId, metaId }) as const;

const mkdir = (msgid: number, name = "d") =>
  ({ kind: "mkdir", msgid, parent: 1, name: enc.encode(name), mode: 0o755, umask: 0, credentials: rootCred, copysgid: 0 }) as const;

/** A second connection that RECONNECTs the session `record`. */
function reconnected(record: SessionRecord, exportsText?: string): Driver {
  const driver = new Driver(options(exportsText));
  const load = driver.request({ kind: "register", rcode: 3, sessionId: record.sessionId, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  assert.equal(driver.sent.length, 1, "the RECONNECT reply");
  return driver;
}

test("a mutating request carries resendKey `${sessionId}:${msgid}` next to its unchanged requestId; reads carry none", () => {
  const driver = new Driver();
  driver.register("/", 42);
  const call = Driver.call(driver.request(mkdir(0x1234)));
  assert.equal(call.request.ctx.resendKey, "42:4660");
  assert.equal(call.request.ctx.maybeResend, undefined, "a new session has nothing to re-send");
  assert.match(call.request.ctx.requestId ?? "", /^42:4660:\d+$/);
  const lookup = Driver.call(driver.request({ kind: "lookup", msgid: 7, parent: 1, name: enc.encode("d"), credentials: rootCred }));
  assert.equal(lookup.request.ctx.resendKey, undefined);
  // Packets without msgid share msgid 0 and are never re-sent: no key.
  const sustained = Driver.call(driver.request({ kind: "sustained", deprecatedCode: false, inodes: [3] }));
  assert.equal(sustained.request.ctx.resendKey, undefined);
});

test("after RECONNECT, mutating requests are maybeResend until the connection sends its first reply", () => {
  const record = new Driver().register("/", 7);
  const driver = reconnected(record);
  const first = Driver.call(driver.request(mkdir(5)));
  assert.equal(first.request.ctx.resendKey, "7:5");
  assert.equal(first.request.ctx.maybeResend, true);
  // Reads are not remembered by the shard: no key, no mark, and they do not end the window.
  const read = Driver.call(driver.request({ kind: "getattr", msgid: 6, inode: 1, opened: 0, uid: 0, gid: 0 }));
  assert.equal(read.request.ctx.maybeResend, undefined);
  // TIME_SYNC is answered, but it is the keepalive thread's, not a request's: the window stays.
  driver.request({ kind: "timesync", msgid: 0 });
  const second = Driver.call(driver.request(mkdir(8, "e")));
  assert.equal(second.request.ctx.maybeResend, true);
  // The first reply to a request ends the window, also for requests answered later.
  driver.result(read.token, { status: Status.ENOENT });
  const after = Driver.call(driver.request(mkdir(9, "f")));
  assert.equal(after.request.ctx.resendKey, "7:9");
  assert.equal(after.request.ctx.maybeResend, undefined);
  driver.result(first.token, { status: Status.EEXIST });
  const later = Driver.call(driver.request(mkdir(5)));
  assert.equal(later.request.ctx.maybeResend, undefined);
});

test("a reply answered by the gateway itself also ends the window", () => {
  const record = new Driver(options("* / rw,alldirs,admin,maproot=0:0,disable=mkdir")).register("/", 7);
  const driver = reconnected(record, "* / rw,alldirs,admin,maproot=0:0,disable=mkdir");
  driver.request(mkdir(5));
  assert.equal(driver.sent.length, 2, "EPERM answered at once");
  const unlink = Driver.call(driver.request({ kind: "unlink", msgid: 6, parent: 1, name: enc.encode("x"), credentials: rootCred }));
  assert.equal(unlink.request.ctx.maybeResend, undefined);
});

test("TOOLS (rcode 4) resumes a session without a resend window", () => {
  const record = new Driver().register("/", 7);
  const driver = new Driver();
  const load = driver.request({ kind: "register", rcode: 4, sessionId: 7, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  const call = Driver.call(driver.request({ kind: "settrashtime", msgid: 3, inode: 3, uid: 0, trashtime: 60, smode: 0 }));
  assert.equal(call.request.ctx.resendKey, "7:3");
  assert.equal(call.request.ctx.maybeResend, undefined);
});

test("NEWSESSION that gets its old session back (after RECONNECT said EPERM) opens the window too", () => {
  const record = new Driver().register("/", 7);
  const driver = new Driver();
  const load = driver.request(newSessionKeeping(7)).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  const call = Driver.call(driver.request(mkdir(5)));
  assert.equal(call.request.ctx.maybeResend, true);

  // A new session instead (the old one is gone) has nothing to re-send.
  const fresh = new Driver();
  const reuse = fresh.request(newSessionKeeping(7)).find((a) => a.kind === "session-load");
  assert.ok(reuse?.kind === "session-load");
  const create = fresh.loaded(reuse.token, null).find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  fresh.created(create.token, { ...create.draft, sessionId: 8 });
  assert.equal(Driver.call(fresh.request(mkdir(5))).request.ctx.maybeResend, undefined);
});

test("a blocking lock re-sent after RECONNECT: only its first attempt is maybeResend, the retries are not", () => {
  const record = new Driver().register("/", 7);
  const driver = reconnected(record);
  const first = Driver.call(driver.request({ kind: "flock", msgid: 4, inode: 3, reqid: 1, owner: 9n, cmd: FlockCmd.LOCK_EXCLUSIVE }));
  assert.deepEqual({ key: first.request.ctx.resendKey, maybe: first.request.ctx.maybeResend }, { key: "7:4", maybe: true });
  driver.result(first.token, { status: Status.EAGAIN });
  driver.now += limits.lockRetryIntervalMs;
  const retry = Driver.call(driver.tick());
  assert.deepEqual({ key: retry.request.ctx.resendKey, maybe: retry.request.ctx.maybeResend }, { key: "7:4", maybe: undefined });
});

test("file data: WRITE_CHUNK and SNAPSHOT after RECONNECT are maybeResend, READ_CHUNK and CHECK are not", () => {
  const record = new Driver().register("/", 7);
  const driver = new Driver({ ...options(), chunkserverLocator: () => undefined });
  const load = driver.request({ kind: "register", rcode: 3, sessionId: 7, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  const marks = [
    driver.request({ kind: "readchunk", msgid: 1, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "check", msgid: 2, inode: 3, chunkIndex: null }),
    driver.request({ kind: "writechunk", msgid: 3, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "writechunkend", msgid: 4, chunkId: 1n, inode: 3, chunkIndex: 0, length: 0n, chunkOpFlags: 0 }),
    driver.request({ kind: "snapshot", msgid: 5, inode: 3, parentDst: 1, nameDst: enc.encode("s"), credentials: rootCred, smode: 0, umask: 0 }),
  ].map((actions) => Driver.call(actions).request.ctx.maybeResend ?? false);
  assert.deepEqual(marks, [false, false, true, true, true]);
});
