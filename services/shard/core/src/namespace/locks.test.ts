/**
 * FLOCK and POSIX_LOCK in their non-blocking form (flocklocks.c, posixlocks.c): shared and
 * exclusive conflicts between owners and sessions, upgrade/downgrade, NOTOPENED, release on
 * RELEASE and when the session lets go of the file; POSIX range splitting and merging, GET.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FlockCmd, PosixLockCmd, PosixLockType, Status, type CommandOf } from "@antler/ops";
import { Harness, ctxOf } from "../test-kit.ts";
import { applyRange } from "./locks.ts";

const a = ctxOf(1000, [1000], 1);
const b = ctxOf(1000, [1000], 2);

function flock(h: Harness, inode: number, owner: bigint, cmd: number, ctx = a): number {
  return h.status({ kind: "flock", inode, reqid: 1, owner, cmd }, ctx);
}

function plock(inode: number, owner: bigint, cmd: number, type: number, start: bigint, end: bigint, pid = 11): CommandOf<"posixlock"> {
  return { kind: "posixlock", inode, reqid: 1, owner, pid, cmd, type, start, end };
}

function openedBoth(h: Harness): number {
  const f = h.create(1, "f", a, 0o666);
  h.ok({ kind: "open", inode: f, flags: 0x01 }, b);
  return f;
}

test("flock: shared locks coexist, exclusive conflicts answer EAGAIN", () => {
  const h = new Harness();
  const f = openedBoth(h);
  assert.equal(flock(h, f, 1n, FlockCmd.TRY_SHARED, a), Status.OK);
  assert.equal(flock(h, f, 2n, FlockCmd.TRY_SHARED, b), Status.OK);
  assert.equal(flock(h, f, 2n, FlockCmd.TRY_EXCLUSIVE, b), Status.EAGAIN, "upgrade while another shares");
  assert.equal(flock(h, f, 1n, FlockCmd.UNLOCK, a), Status.OK);
  assert.equal(flock(h, f, 2n, FlockCmd.LOCK_EXCLUSIVE, b), Status.OK, "the only holder upgrades");
  assert.equal(flock(h, f, 1n, FlockCmd.TRY_SHARED, a), Status.EAGAIN);
  assert.equal(flock(h, f, 2n, FlockCmd.TRY_SHARED, a), Status.EAGAIN, "same owner number, other session");
  assert.equal(flock(h, f, 2n, FlockCmd.TRY_SHARED, b), Status.OK, "downgrade");
  assert.equal(flock(h, f, 1n, FlockCmd.TRY_SHARED, a), Status.OK);
  assert.equal(flock(h, f, 1n, FlockCmd.INTERRUPT, a), Status.OK);
  assert.equal(flock(h, f, 9n, 17, a), Status.EINVAL);
});

test("flock needs the file open (except RELEASE); RELEASE and closing the file drop locks", () => {
  const h = new Harness();
  const f = openedBoth(h);
  const c = ctxOf(1000, [1000], 3);
  assert.equal(flock(h, f, 5n, FlockCmd.TRY_EXCLUSIVE, c), Status.NOTOPENED);
  assert.equal(flock(h, f, 5n, FlockCmd.RELEASE, c), Status.OK);
  assert.equal(flock(h, f, 1n, FlockCmd.TRY_EXCLUSIVE, a), Status.OK);
  assert.equal(flock(h, f, 1n, FlockCmd.RELEASE, a), Status.OK);
  assert.equal(flock(h, f, 2n, FlockCmd.TRY_EXCLUSIVE, b), Status.OK);
  h.ok({ kind: "sustained", inodes: [] }, b);
  assert.equal(flock(h, f, 1n, FlockCmd.TRY_EXCLUSIVE, a), Status.OK, "b's lock went with its open file");
});

test("posix ranges split, merge and unlock", () => {
  const R = PosixLockType.RDLCK;
  const W = PosixLockType.WRLCK;
  let ranges = applyRange([], W, 0n, 100n);
  ranges = applyRange(ranges, R, 40n, 60n);
  assert.deepEqual(ranges, [{ start: 0n, end: 40n, type: W }, { start: 40n, end: 60n, type: R }, { start: 60n, end: 100n, type: W }]);
  ranges = applyRange(ranges, W, 40n, 60n);
  assert.deepEqual(ranges, [{ start: 0n, end: 100n, type: W }]);
  ranges = applyRange(ranges, PosixLockType.UNLCK, 10n, 20n);
  assert.deepEqual(ranges, [{ start: 0n, end: 10n, type: W }, { start: 20n, end: 100n, type: W }]);
  ranges = applyRange(ranges, W, 100n, 200n);
  assert.deepEqual(ranges.at(-1), { start: 20n, end: 200n, type: W }, "touching ranges of one type merge");
});

test("posix locks: conflicts between owners, GET reports the conflict, SET and TRY never wait", () => {
  const h = new Harness();
  const f = openedBoth(h);
  const { GET, SET, TRY } = PosixLockCmd;
  const { RDLCK, WRLCK, UNLCK } = PosixLockType;
  h.ok(plock(f, 1n, SET, WRLCK, 0n, 100n, 11), a);
  assert.equal(h.status(plock(f, 2n, TRY, RDLCK, 50n, 60n), b), Status.EAGAIN);
  assert.equal(h.status(plock(f, 2n, SET, RDLCK, 50n, 60n), b), Status.EAGAIN);
  h.ok(plock(f, 2n, TRY, RDLCK, 100n, 200n), b);
  const got = h.ok(plock(f, 3n, GET, WRLCK, 90n, 95n), a);
  assert.deepEqual(got.lock, { pid: 11, type: WRLCK, start: 0n, end: 100n });
  const otherSession = h.ok(plock(f, 3n, GET, RDLCK, 90n, 95n), b);
  assert.equal(otherSession.lock!.pid, 0, "pids of other sessions are not reported");
  const free = h.ok(plock(f, 3n, GET, WRLCK, 300n, 400n), a);
  assert.deepEqual(free.lock, { pid: 0, type: UNLCK, start: 0n, end: 0n });
  h.ok(plock(f, 1n, SET, UNLCK, 0n, 100n), a);
  h.ok(plock(f, 2n, TRY, WRLCK, 0n, 100n), b);
  const c = ctxOf(1, [1], 9);
  assert.equal(h.status(plock(f, 1n, SET, WRLCK, 0n, 1n), c), Status.NOTOPENED);
  assert.equal(h.status(plock(f, 1n, SET, UNLCK, 0n, 1n), c), Status.OK, "unlocking needs no open file");
  assert.equal(h.exec(plock(f, 1n, SET, UNLCK, 0n, 1n), c).entry, null);
  h.ok({ kind: "closesession" }, b);
  h.ok(plock(f, 1n, TRY, WRLCK, 0n, 1000n), a);
});
