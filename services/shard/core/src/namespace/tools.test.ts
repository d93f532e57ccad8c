/**
 * The tool requests (mfsgetgoal/mfssetgoal, mfsgettrashtime/mfssettrashtime, mfsgeteattr/
 * mfsseteattr, mfsdirinfo) against fs_getsclass, fs_gettrashtime_*, fs_geteattr, fs_univ_set*
 * and fs_get_dir_stats: counts files first, recursion, smode variants, permissions, STATFS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionFlag, Status } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const user = ctxOf(1000, [1000]);
const admin = ctxOf(0, [0], 1, { sesflags: SessionFlag.ADMIN });

function tree(h: Harness): { d: number; e: number } {
  const d = h.mkdir(1, "d", rootCtx, 0o777);
  h.create(d, "f1");
  h.create(d, "f2");
  const e = h.mkdir(d, "e", user);
  h.create(e, "g", user);
  return { d, e };
}

test("getgoal counts files first, recursively on request", () => {
  const h = new Harness({ defaultGoal: 2 });
  const { d } = tree(h);
  assert.deepEqual(h.ok({ kind: "getgoal", inode: d, gmode: 0 }), { status: 0, files: [], dirs: [{ value: 2, count: 1 }] });
  assert.deepEqual(h.ok({ kind: "getgoal", inode: d, gmode: 1 }), { status: 0, files: [{ value: 2, count: 3 }], dirs: [{ value: 2, count: 2 }] });
  assert.equal(h.status({ kind: "getgoal", inode: d, gmode: 2 }), Status.EINVAL);
  const link = h.ok({ kind: "symlink", parent: 1, name: "l", target: "x" }).inode;
  assert.equal(h.status({ kind: "getgoal", inode: link, gmode: 0 }), Status.EPERM);
});

test("setgoal: set, increase, decrease, recursion and counts", () => {
  const h = new Harness({ defaultGoal: 2 });
  const { d } = tree(h);
  assert.deepEqual(h.ok({ kind: "setgoal", inode: d, uid: 0, goal: 3, smode: 4 }), { status: 0, changed: 5, notChanged: 0, notPermitted: 0 });
  assert.deepEqual(h.ok({ kind: "setgoal", inode: d, uid: 0, goal: 2, smode: 4 | 1 }), { status: 0, changed: 0, notChanged: 5, notPermitted: 0 });
  assert.deepEqual(h.ok({ kind: "setgoal", inode: d, uid: 0, goal: 2, smode: 4 | 2 }), { status: 0, changed: 5, notChanged: 0, notPermitted: 0 });
  assert.equal(h.status({ kind: "setgoal", inode: d, uid: 0, goal: 10, smode: 0 }), Status.EINVAL);
  assert.equal(h.status({ kind: "setgoal", inode: d, uid: 0, goal: 0, smode: 0 }), Status.EINVAL);
  assert.equal(h.status({ kind: "setgoal", inode: d, uid: 0, goal: 2, smode: 8 }), Status.EINVAL);
});

test("set requests only change the caller's nodes; a plain refusal is EPERM", () => {
  const h = new Harness();
  const { d, e } = tree(h);
  assert.deepEqual(h.ok({ kind: "settrashtime", inode: d, uid: 1000, trashtime: 7200, smode: 4 }, user), { status: 0, changed: 2, notChanged: 0, notPermitted: 3 });
  assert.equal(h.status({ kind: "settrashtime", inode: d, uid: 1000, trashtime: 7200, smode: 0 }, user), Status.EPERM);
  const times = h.ok({ kind: "gettrashtime", inode: d, gmode: 1 });
  assert.deepEqual(times.files, [{ value: 7200, count: 1 }, { value: 86400, count: 2 }]);
  assert.deepEqual(times.dirs, [{ value: 7200, count: 1 }, { value: 86400, count: 1 }]);
  h.ok({ kind: "settrashtime", inode: e, uid: 1000, trashtime: 1, smode: 0 }, user);
  assert.deepEqual(h.ok({ kind: "gettrashtime", inode: e, gmode: 0 }).dirs, [{ value: 3600, count: 1 }], "seconds round up to hours");
});

test("seteattr: admin-only bits, increase/decrease, files never keep NOECACHE", () => {
  const h = new Harness();
  const { d } = tree(h);
  assert.equal(h.status({ kind: "seteattr", inode: d, uid: 0, eattr: 0x20, smode: 0 }, rootCtx), Status.EPERM);
  assert.deepEqual(h.ok({ kind: "seteattr", inode: d, uid: 0, eattr: 0x04 | 0x01, smode: 4 | 1 }, admin), { status: 0, changed: 5, notChanged: 0, notPermitted: 0 });
  const got = h.ok({ kind: "geteattr", inode: d, gmode: 1 });
  assert.deepEqual(got.files, [{ value: 0x01, count: 3 }]);
  assert.deepEqual(got.dirs, [{ value: 0x05, count: 2 }]);
  h.ok({ kind: "seteattr", inode: d, uid: 0, eattr: 0x01, smode: 4 | 2 }, admin);
  assert.deepEqual(h.ok({ kind: "geteattr", inode: d, gmode: 1 }).files, [{ value: 0, count: 3 }]);
  assert.equal(h.status({ kind: "seteattr", inode: d, uid: 0, eattr: 0x100, smode: 0 }, admin), Status.EINVAL);
});

test("getdirstats and statfs count inodes, directories, files and length", () => {
  const h = new Harness();
  const { d } = tree(h);
  const f = h.create(d, "sized");
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 777 });
  const stats = h.ok({ kind: "getdirstats", inode: d });
  assert.deepEqual(stats, { status: 0, inodes: 6, dirs: 2, files: 4, chunks: 0, length: 777, size: 0, realSize: 0 });
  assert.equal(h.ok({ kind: "statfs" }).inodes, 7);
  assert.equal(h.attr(d).length, 77_700);
});
