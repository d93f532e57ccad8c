/**
 * Re-sent requests: every mutating request of a mount session is recorded as its msgid's
 * unanswered request (action unanswered-put, before the call) until the thread's next packet
 * replaces or drops it, or its reply has surely arrived (unanswered-clear once the connection
 * stayed open limits.replyReceivedAfterMs after the reply). After a RECONNECT (or a NEWSESSION that got its old id
 * back) the connection inherits the stored records; the first packet with an inherited msgid and
 * the same content is mfsmount's re-send and goes out with the original request id.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { FlockCmd, Status, commandFingerprint } from "@antler/ops";
import type { ConnectionAction, SessionRecord, UnansweredRequest } from "./api.ts";
import { Driver, dirAttr, enc, metaId, options, rootCred } from "./harness.test.ts";

/** NEWSESSION asking to keep its old session id (mfsmount after RECONNECT answered EPERM). */
const newSessionKeeping = (sessionId: number) => ({ kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt/antler\0"), path: enc.encode("/\0"), sessionId, metaId }) as const;

const mkdir = (msgid: number, name = "d") =>
  ({ kind: "mkdir", msgid, parent: 1, name: enc.encode(name), mode: 0o755, umask: 0, credentials: rootCred, copysgid: 0 }) as const;

/** The fingerprint of the command a fresh mount session sends for `packet`. */
function fingerprintOf(packet: Parameters<Driver["request"]>[0]): string {
  const probe = new Driver();
  probe.register("/", 7);
  return commandFingerprint(Driver.call(probe.request(packet)).request.cmd);
}

/** A second connection that RECONNECTs the session `record`, inheriting `unanswered`. */
function reconnected(record: SessionRecord, unanswered: ReadonlyMap<number, UnansweredRequest>, exportsText?: string, rcode: 3 | 4 = 3): Driver {
  const driver = new Driver(options(exportsText));
  const load = driver.request({ kind: "register", rcode, sessionId: record.sessionId, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record, unanswered);
  assert.equal(driver.sent.length, 1, "the RECONNECT reply");
  return driver;
}

const ofKind = <K extends ConnectionAction["kind"]>(actions: ConnectionAction[], kind: K) =>
  actions.filter((a): a is Extract<ConnectionAction, { kind: K }> => a.kind === kind);

test("a mutating request is recorded before its call and cleared once its reply has surely arrived; reads are not recorded", () => {
  const driver = new Driver();
  driver.register("/", 42);
  const actions = driver.request(mkdir(0x1234));
  assert.deepEqual(actions.map((a) => a.kind), ["unanswered-put", "call"]);
  const put = ofKind(actions, "unanswered-put")[0]!;
  const call = Driver.call(actions);
  assert.equal(put.sessionId, 42);
  assert.equal(put.msgid, 0x1234);
  assert.equal(put.request.requestId, call.request.ctx.requestId);
  assert.equal(put.request.fingerprint, commandFingerprint(call.request.cmd));
  // Written is not received (a gateway killed now, or a reset, loses the reply): the record stays...
  assert.deepEqual(driver.result(call.token, { status: Status.EEXIST }).map((a) => a.kind), ["send"]);
  driver.now += limits.replyReceivedAfterMs - 1;
  assert.deepEqual(ofKind(driver.tick(), "unanswered-clear"), []);
  // ...until the connection stayed open long enough after it.
  driver.now += 1;
  assert.deepEqual(ofKind(driver.tick(), "unanswered-clear"), [{ kind: "unanswered-clear", sessionId: 42, msgid: 0x1234, requestId: call.request.ctx.requestId }]);
  assert.deepEqual(ofKind(driver.tick(), "unanswered-clear"), [], "cleared once");
  // The thread's next packet: a mutation replaces the record (no clear), a read drops it.
  const next = driver.request(mkdir(0x1234, "e"));
  assert.deepEqual(next.map((a) => a.kind), ["unanswered-put", "call"]);
  driver.result(Driver.call(next).token, { status: Status.OK, inode: 5, attr: dirAttr });
  const read = driver.request({ kind: "getattr", msgid: 0x1234, inode: 1, opened: 0, uid: 0, gid: 0 });
  assert.deepEqual(read.map((a) => a.kind), ["unanswered-clear", "call"]);
  // Reads and packets without msgid (never re-sent) are not recorded.
  assert.deepEqual(driver.request({ kind: "lookup", msgid: 7, parent: 1, name: enc.encode("d"), credentials: rootCred }).map((a) => a.kind), ["call"]);
  assert.deepEqual(driver.request({ kind: "sustained", deprecatedCode: false, inodes: [3] }).map((a) => a.kind), ["call"]);
});

test("after RECONNECT, the same content on an inherited msgid keeps the original request id; anything else is new", () => {
  const record = new Driver().register("/", 7);
  const unanswered = new Map<number, UnansweredRequest>([
    [5, { requestId: "old/7:5:3", fingerprint: fingerprintOf(mkdir(5, "d")) }],
    [6, { requestId: "old/7:6:4", fingerprint: fingerprintOf(mkdir(6, "e")) }],
    [8, { requestId: "old/7:8:5", fingerprint: fingerprintOf(mkdir(8, "f")) }],
  ]);
  const driver = reconnected(record, unanswered);
  // The re-send: its record is cleared and put back with the same id.
  const resend = driver.request(mkdir(5, "d"));
  assert.deepEqual(resend.map((a) => a.kind), ["unanswered-clear", "unanswered-put", "call"]);
  assert.equal(Driver.call(resend).request.ctx.requestId, "old/7:5:3");
  // Another command on msgid 6: the thread moved on, a new request.
  const other = Driver.call(driver.request(mkdir(6, "x")));
  assert.notEqual(other.request.ctx.requestId, "old/7:6:4");
  // Only the first packet of a msgid can be the re-send: a second identical one is new.
  const again = Driver.call(driver.request(mkdir(5, "d")));
  assert.notEqual(again.request.ctx.requestId, "old/7:5:3");
  // A read on msgid 8 drops its record (cleared in the store), and a later identical mkdir is new.
  const read = driver.request({ kind: "getattr", msgid: 8, inode: 1, opened: 0, uid: 0, gid: 0 });
  assert.deepEqual(read.map((a) => a.kind), ["unanswered-clear", "call"]);
  assert.notEqual(Driver.call(driver.request(mkdir(8, "f"))).request.ctx.requestId, "old/7:8:5");
});

test("TOOLS (rcode 4) resumes a session without inheriting, and records nothing", () => {
  const record = new Driver().register("/", 7);
  const inherited = new Map([[3, { requestId: "old/7:3:1", fingerprint: fingerprintOf({ kind: "settrashtime", msgid: 3, inode: 3, uid: 0, trashtime: 60, smode: 0 }) }]]);
  const driver = reconnected(record, inherited, undefined, 4);
  const actions = driver.request({ kind: "settrashtime", msgid: 3, inode: 3, uid: 0, trashtime: 60, smode: 0 });
  assert.deepEqual(actions.map((a) => a.kind), ["call"]);
  assert.notEqual(Driver.call(actions).request.ctx.requestId, "old/7:3:1");
});

test("NEWSESSION that gets its old session back (after RECONNECT said EPERM) inherits too; a new session does not", () => {
  const record = new Driver().register("/", 7);
  const unanswered = new Map([[5, { requestId: "old/7:5:1", fingerprint: fingerprintOf(mkdir(5)) }]]);
  const driver = new Driver();
  const load = driver.request(newSessionKeeping(7)).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record, unanswered);
  assert.equal(Driver.call(driver.request(mkdir(5))).request.ctx.requestId, "old/7:5:1");

  const fresh = new Driver();
  const reuse = fresh.request(newSessionKeeping(7)).find((a) => a.kind === "session-load");
  assert.ok(reuse?.kind === "session-load");
  const create = fresh.loaded(reuse.token, null, unanswered).find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  fresh.created(create.token, { ...create.draft, sessionId: 8 });
  assert.notEqual(Driver.call(fresh.request(mkdir(5))).request.ctx.requestId, "old/7:5:1");
});

test("a blocking lock re-sent after RECONNECT: its first attempt keeps the original id, each retry is new and recorded", () => {
  const record = new Driver().register("/", 7);
  const flock = { kind: "flock", msgid: 4, inode: 3, reqid: 1, owner: 9n, cmd: FlockCmd.LOCK_EXCLUSIVE } as const;
  const driver = reconnected(record, new Map([[4, { requestId: "old/7:4:2", fingerprint: fingerprintOf(flock) }]]));
  const first = Driver.call(driver.request(flock));
  assert.equal(first.request.ctx.requestId, "old/7:4:2");
  driver.result(first.token, { status: Status.EAGAIN });
  driver.now += limits.lockRetryIntervalMs;
  const retryActions = driver.tick();
  const retry = Driver.call(retryActions);
  assert.notEqual(retry.request.ctx.requestId, "old/7:4:2");
  assert.equal(ofKind(retryActions, "unanswered-put")[0]?.request.requestId, retry.request.ctx.requestId);
  // Granted: answered, and the record cleared once the reply has surely arrived.
  assert.deepEqual(driver.result(retry.token, { status: Status.OK }).map((a) => a.kind), ["send"]);
  driver.now += limits.replyReceivedAfterMs;
  assert.equal(ofKind(driver.tick(), "unanswered-clear")[0]?.requestId, retry.request.ctx.requestId);
});

test("file data: WRITE_CHUNK, WRITE_CHUNK_END and SNAPSHOT are recorded, READ_CHUNK and CHECK are not", () => {
  const driver = new Driver({ ...options(), chunkserverLocator: () => undefined });
  driver.register("/", 7);
  const recorded = [
    driver.request({ kind: "readchunk", msgid: 1, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "check", msgid: 2, inode: 3, chunkIndex: null }),
    driver.request({ kind: "writechunk", msgid: 3, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "writechunkend", msgid: 4, chunkId: 1n, inode: 3, chunkIndex: 0, length: 0n, chunkOpFlags: 0 }),
    driver.request({ kind: "snapshot", msgid: 5, inode: 3, parentDst: 1, nameDst: enc.encode("s"), credentials: rootCred, smode: 0, umask: 0 }),
  ].map((actions) => actions.some((a) => a.kind === "unanswered-put"));
  assert.deepEqual(recorded, [false, false, true, true, true]);
});
