/**
 * READDIR, GETATTR and STATFS as mfsmaster answers them (fs_readdir_*, fs_getattr, fs_statfs),
 * including sessions rooted in a subfolder: "." and ".." first, newest entries next, ".." of the
 * session root is the root itself, nodes outside the subtree are ENOENT.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodeType, Status } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

test("readdir lists '.', '..', then entries newest first, with or without attributes", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d");
  h.create(d, "first");
  h.mkdir(d, "second");
  h.ok({ kind: "symlink", parent: d, name: "third", target: "x" });
  const plain = h.ok({ kind: "readdir", inode: d, withAttr: false, maxEntries: 0xffffffff });
  assert.deepEqual(plain.entries.map((e) => [e.name, e.type]), [
    [".", NodeType.DIRECTORY], ["..", NodeType.DIRECTORY], ["third", NodeType.SYMLINK], ["second", NodeType.DIRECTORY], ["first", NodeType.FILE],
  ]);
  assert.equal(plain.entries[0]!.inode, d);
  assert.equal(plain.entries[1]!.inode, 1);
  assert.equal(plain.entries[0]!.attr, undefined);
  const full = h.ok({ kind: "readdir", inode: d, withAttr: true, maxEntries: 0xffffffff });
  assert.equal(full.entries[0]!.attr!.nlink, 3);
  assert.equal(full.entries[1]!.attr!.nlink, 3, "'..' carries the parent's attributes");
  assert.equal(full.entries[2]!.attr!.length, 1);
  const two = h.ok({ kind: "readdir", inode: d, withAttr: false, maxEntries: 3 });
  assert.deepEqual(two.entries.map((e) => e.name), [".", "..", "third"]);
});

test("readdir needs read permission (and search with attributes); files are ENOTDIR", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d", rootCtx, 0o711);
  const f = h.create(1, "f");
  const user = ctxOf(1000);
  assert.equal(h.status({ kind: "readdir", inode: d, withAttr: false, maxEntries: 10 }, user), Status.EACCES);
  assert.equal(h.status({ kind: "readdir", inode: f, withAttr: false, maxEntries: 10 }), Status.ENOTDIR);
  assert.equal(h.status({ kind: "readdir", inode: 999, withAttr: false, maxEntries: 10 }), Status.ENOENT);
  const w = h.mkdir(1, "w", rootCtx, 0o744);
  assert.equal(h.status({ kind: "readdir", inode: w, withAttr: false, maxEntries: 10 }, user), Status.OK);
  assert.equal(h.status({ kind: "readdir", inode: w, withAttr: true, maxEntries: 10 }, user), Status.EACCES);
});

test("a session rooted in a subfolder sees only its subtree; '..' of its root is the root", () => {
  const h = new Harness();
  const outside = h.create(1, "outside");
  const sub = h.mkdir(1, "sub");
  const inner = h.mkdir(sub, "inner");
  const ctx = ctxOf(0, [0], 1, { rootInode: sub });
  const listing = h.ok({ kind: "readdir", inode: sub, withAttr: false, maxEntries: 100 }, ctx);
  assert.equal(listing.entries[1]!.inode, sub);
  assert.equal((h.lookup(sub, "..", ctx) as { inode: number }).inode, sub);
  assert.equal((h.lookup(inner, "..", ctx) as { inode: number }).inode, sub);
  assert.equal(h.status({ kind: "getattr", inode: outside, opened: false }, ctx), Status.ENOENT);
  assert.equal(h.status({ kind: "getattr", inode: 1, opened: false }, ctx), Status.ENOENT);
  assert.equal(h.status({ kind: "getattr", inode: inner, opened: false }, ctx), Status.OK);
  assert.equal(h.status({ kind: "create", parent: 1, name: "x", mode: 0o644, umask: 0 }, ctx), Status.ENOENT);
  const statfs = h.ok({ kind: "statfs" }, ctx);
  assert.equal(statfs.inodes, 2);
});

test("getattr reports uid/gid, times and the directory size", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d", ctxOf(0, [0]), 0o750);
  const a = h.attr(d);
  assert.equal(a.mode, 0o750);
  assert.equal(a.length, 1);
  assert.equal(a.atime, a.mtime);
  assert.equal(h.status({ kind: "getattr", inode: 12345, opened: false }), Status.ENOENT);
});
