/**
 * Blocking locks (lock-waiters.ts): the TRY variant is retried every lockRetryIntervalMs while the
 * metadata tier says EAGAIN, the client gets one reply with its original msgid when the lock is
 * granted, and INTERRUPT (matched by inode, owner and reqid) turns a wait into EINTR.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { FlockCmd, PosixLockCmd, Status } from "@antler/ops";
import { Driver, hex } from "./harness.test.ts";

const owner = 0xe3067c71dcb5f4d8n;

test("FLOCK LOCK_EXCLUSIVE waits with TRY_EXCLUSIVE retries and answers once granted", () => {
  const driver = new Driver();
  driver.register();
  const first = Driver.call(driver.request({ kind: "flock", msgid: 11, inode: 3, reqid: 1, owner, cmd: FlockCmd.LOCK_EXCLUSIVE }));
  assert.deepEqual(first.request.cmd, { kind: "flock", inode: 3, reqid: 1, owner, cmd: FlockCmd.TRY_EXCLUSIVE });
  driver.result(first.token, { status: Status.EAGAIN });
  assert.equal(driver.sent.length, 0, "no reply while waiting");
  driver.now += limits.lockRetryIntervalMs - 1;
  assert.equal(driver.tick().filter((a) => a.kind === "call").length, 0, "not before the interval");
  driver.now += 1;
  const second = Driver.call(driver.tick());
  assert.notEqual(second.request.ctx.requestId, first.request.ctx.requestId, "each attempt is a new request");
  driver.result(second.token, { status: 0 });
  assert.equal(driver.sent.length, 1);
  assert.equal(driver.sent[0]!.type, 493);
  assert.equal(hex(driver.sent[0]!.payload), "0000000b00");
  driver.now += 1000;
  assert.equal(driver.tick().filter((a) => a.kind === "call").length, 0, "no retries after the grant");
});

test("INTERRUPT of a waiting FLOCK: the wait ends with EINTR, the interrupt with OK", () => {
  const driver = new Driver();
  driver.register();
  const first = Driver.call(driver.request({ kind: "flock", msgid: 11, inode: 3, reqid: 7, owner, cmd: FlockCmd.LOCK_SHARED }));
  driver.result(first.token, { status: Status.EAGAIN });
  // Another reqid or owner does not match.
  driver.request({ kind: "flock", msgid: 12, inode: 3, reqid: 8, owner, cmd: FlockCmd.INTERRUPT });
  assert.deepEqual(driver.sent.map((f) => hex(f.payload)), ["0000000c00"]);
  const actions = driver.request({ kind: "flock", msgid: 13, inode: 3, reqid: 7, owner, cmd: FlockCmd.INTERRUPT });
  assert.equal(actions.filter((a) => a.kind === "call").length, 0);
  assert.deepEqual(driver.sent.map((f) => hex(f.payload)), ["0000000c00", "0000000b2e", "0000000d00"]);
  driver.now += 1000;
  assert.equal(driver.tick().filter((a) => a.kind === "call").length, 0);
});

test("INTERRUPT while the TRY is in flight: a grant still wins, a refusal becomes EINTR", () => {
  const driver = new Driver();
  driver.register();
  const granted = Driver.call(driver.request({ kind: "flock", msgid: 1, inode: 3, reqid: 1, owner, cmd: FlockCmd.LOCK_EXCLUSIVE }));
  driver.request({ kind: "flock", msgid: 2, inode: 3, reqid: 1, owner, cmd: FlockCmd.INTERRUPT });
  driver.result(granted.token, { status: 0 });
  const refused = Driver.call(driver.request({ kind: "flock", msgid: 3, inode: 4, reqid: 2, owner, cmd: FlockCmd.LOCK_EXCLUSIVE }));
  driver.request({ kind: "flock", msgid: 4, inode: 4, reqid: 2, owner, cmd: FlockCmd.INTERRUPT });
  driver.result(refused.token, { status: Status.EAGAIN });
  assert.deepEqual(driver.sent.map((f) => hex(f.payload)), ["0000000200", "0000000100", "0000000400", "000000032e"]);
});

test("POSIX_LOCK SET waits as TRY; GET answers the 21-byte conflict record; UNLCK is not blocking", () => {
  const driver = new Driver();
  driver.register();
  const base = { kind: "posixlock", inode: 3, reqid: 1, owner, pid: 99, type: 2, start: 0n, end: 10n } as const;
  const set = Driver.call(driver.request({ ...base, msgid: 1, cmd: PosixLockCmd.SET }));
  assert.equal(set.request.cmd.kind === "posixlock" && set.request.cmd.cmd, PosixLockCmd.TRY);
  driver.result(set.token, { status: Status.EAGAIN });
  driver.now += limits.lockRetryIntervalMs;
  const retry = Driver.call(driver.tick());
  driver.result(retry.token, { status: 0 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000100");
  const get = Driver.call(driver.request({ ...base, msgid: 2, cmd: PosixLockCmd.GET }));
  driver.result(get.token, { status: 0, lock: { pid: 42, type: 1, start: 0n, end: 5n } });
  assert.equal(hex(driver.sent.at(-1)!.payload), "00000002" + "0000002a" + "01" + "0000000000000000" + "0000000000000005");
  const none = Driver.call(driver.request({ ...base, msgid: 3, cmd: PosixLockCmd.GET }));
  driver.result(none.token, { status: 0 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "00000003" + "00".repeat(21));
  const unlock = Driver.call(driver.request({ ...base, msgid: 4, cmd: PosixLockCmd.SET, type: 0 }));
  assert.equal(unlock.request.cmd.kind === "posixlock" && unlock.request.cmd.cmd, PosixLockCmd.SET);
});

test("a waiting lock that fails otherwise ends with that status", () => {
  const driver = new Driver();
  driver.register();
  const call = Driver.call(driver.request({ kind: "flock", msgid: 5, inode: 3, reqid: 1, owner, cmd: FlockCmd.LOCK_SHARED }));
  driver.result(call.token, { status: Status.NOTOPENED });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000511");
});
