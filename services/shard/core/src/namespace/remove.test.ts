/**
 * UNLINK / RMDIR / LINK and what happens to removed nodes (fs_univ_unlink, fs_univ_link,
 * fsnodes_unlink, fs_univ_emptytrash): status codes, hard-link counts, the trash (files with a
 * trash time), "sustained" files (unlinked while open, no trash time) that stay reachable for
 * requests on open files until the last session lets go, and trash expiry by maintain().
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Status, nameFromText } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const n = nameFromText;
/** Requests of session 0 (the system) hold no files open. */
const sys = ctxOf(0, [0], 0);

test("unlink of a directory is EPERM, rmdir of a file ENOTDIR, of a non-empty directory ENOTEMPTY", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d");
  h.create(d, "f");
  assert.equal(h.status({ kind: "unlink", parent: 1, name: n("d") }), Status.EPERM);
  assert.equal(h.status({ kind: "rmdir", parent: d, name: n("f") }), Status.ENOTDIR);
  assert.equal(h.status({ kind: "rmdir", parent: 1, name: n("d") }), Status.ENOTEMPTY);
  assert.equal(h.status({ kind: "unlink", parent: 1, name: n("nothing") }), Status.ENOENT);
  assert.equal(h.status({ kind: "unlink", parent: 1, name: n("..") }), Status.EINVAL);
  const r = h.ok({ kind: "unlink", parent: d, name: n("f") });
  assert.ok(r.inode > 0);
  assert.equal(h.ok({ kind: "rmdir", parent: 1, name: n("d") }).inode, d);
  assert.equal(h.attr(1).nlink, 2);
  assert.deepEqual(h.names(1), [".", ".."]);
});

test("unlink and rmdir update the parent's mtime and ctime", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d");
  h.create(d, "f");
  const before = h.attr(d);
  h.ok({ kind: "unlink", parent: d, name: n("f") });
  const after = h.attr(d);
  assert.ok(after.mtime > before.mtime);
  assert.equal(after.ctime, after.mtime);
});

test("hard links: nlink counts links, directories cannot be linked, detached nodes are ENOENT", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  const d = h.mkdir(1, "d");
  const f = h.create(1, "f", sys);
  const l = h.ok({ kind: "link", inode: f, parentDst: d, nameDst: n("g") });
  assert.equal(l.inode, f);
  assert.equal(l.attr.nlink, 2);
  assert.equal(h.status({ kind: "link", inode: d, parentDst: 1, nameDst: n("dd") }), Status.EPERM);
  assert.equal(h.status({ kind: "link", inode: f, parentDst: d, nameDst: n("g") }), Status.EEXIST);
  assert.equal(h.status({ kind: "link", inode: f, parentDst: f, nameDst: n("x") }), Status.ENOTDIR);
  h.ok({ kind: "unlink", parent: 1, name: n("f") });
  assert.equal(h.attr(f).nlink, 1, "the node lives on through its other link");
  h.ok({ kind: "unlink", parent: d, name: n("g") });
  assert.equal(h.status({ kind: "getattr", inode: f, opened: false }), Status.ENOENT, "freed after the last link");
});

test("files with a trash time go to the trash and expire when the trash time has passed", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 3600 });
  const f = h.create(1, "f", sys);
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 5000 });
  h.ok({ kind: "unlink", parent: 1, name: n("f") });
  const stat = h.ok({ kind: "statfs" });
  assert.equal(stat.trashSpace, 5000);
  assert.equal(h.attr(f).nlink, 0, "trash files have no links");
  assert.equal(h.m.maintain(h.nowMs + 1000), null, "not expired yet");
  assert.equal(h.m.stats().files, 1);
  const entry = h.m.maintain(h.nowMs + 3602 * 1000);
  assert.ok(entry !== null);
  assert.equal(h.m.stats().files, 0);
  assert.equal(h.ok({ kind: "statfs" }).trashSpace, 0);
});

test("a file unlinked while open and without trash time is sustained until the session lets go", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  const session = ctxOf(1000, [1000], 7);
  const f = h.create(1, "f", session);
  h.ok({ kind: "unlink", parent: 1, name: n("f") }, session);
  const limited = ctxOf(1000, [1000], 7, { rootInode: h.mkdir(1, "sub") });
  assert.equal(h.status({ kind: "getattr", inode: f, opened: false }, limited), Status.ENOENT, "not under the session root");
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }, limited), Status.OK, "reachable as an open file");
  h.ok({ kind: "truncate", inode: f, flags: 0x01, length: 10 }, session);
  assert.equal(h.ok({ kind: "statfs" }).sustainedSpace, 10);
  h.ok({ kind: "sustained", inodes: [f] }, session);
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }), Status.OK);
  h.ok({ kind: "sustained", inodes: [] }, session);
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }), Status.ENOENT, "freed once nobody holds it");
});

test("closesession releases open files (freeing sustained ones) and every lock of the session", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  const a = ctxOf(1000, [1000], 7);
  const f = h.create(1, "f", a);
  h.ok({ kind: "flock", inode: f, reqid: 1, owner: 9n, cmd: 3 }, a);
  h.ok({ kind: "unlink", parent: 1, name: n("f") }, a);
  h.ok({ kind: "closesession" }, a);
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }), Status.ENOENT);
  assert.equal(h.exec({ kind: "closesession" }, a).entry, null, "nothing left to release");
});

test("an expired trash file that is still open moves to sustained instead of being freed", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 3600 });
  const s = ctxOf(1000, [1000], 3);
  const f = h.create(1, "f", s);
  h.ok({ kind: "unlink", parent: 1, name: n("f") }, s);
  h.m.maintain(h.nowMs + 7200 * 1000);
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }), Status.OK);
  assert.equal(h.ok({ kind: "statfs" }).trashSpace, 0);
  h.ok({ kind: "closesession" }, s);
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }), Status.ENOENT);
});

test("undeletable nodes and append-only directories refuse removal", () => {
  const admin = ctxOf(0, [0], 1, { sesflags: 0x08 });
  const h = new Harness();
  const d = h.mkdir(1, "d");
  h.create(d, "f");
  h.ok({ kind: "seteattr", inode: d, uid: 0, eattr: 0x40, smode: 0 }, admin);
  assert.equal(h.status({ kind: "unlink", parent: d, name: n("f") }, rootCtx), Status.EPERM);
  h.ok({ kind: "seteattr", inode: d, uid: 0, eattr: 0x20, smode: 0 }, admin);
  assert.equal(h.status({ kind: "unlink", parent: d, name: n("f") }, rootCtx), Status.OK);
  assert.equal(h.status({ kind: "rmdir", parent: 1, name: n("d") }, rootCtx), Status.EPERM);
});
