/**
 * RENAME edge cases against mfsmaster's fs_univ_move: moving into the own subtree (EINVAL),
 * replacing files and empty directories, non-empty targets (ENOTEMPTY), no type comparison of
 * source and target (the kernel does that, the master does not), a rename onto another link of
 * the same node (no-op), nlink and times of both parents, and ".." of a moved directory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Status, nameFromText } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const n = nameFromText;
const sys = ctxOf(0, [0], 0);

function rename(h: Harness, parentSrc: number, nameSrc: string, parentDst: number, nameDst: string, ctx = rootCtx) {
  return h.run({ kind: "rename", parentSrc, nameSrc: n(nameSrc), parentDst, nameDst: n(nameDst) }, ctx);
}

test("a directory cannot move into itself or below itself", () => {
  const h = new Harness();
  const a = h.mkdir(1, "a");
  const b = h.mkdir(a, "b");
  const c = h.mkdir(b, "c");
  assert.equal(rename(h, 1, "a", c, "a").status, Status.EINVAL);
  assert.equal(rename(h, 1, "a", a, "x").status, Status.EINVAL);
  assert.equal(rename(h, a, "b", c, "b").status, Status.EINVAL);
  assert.equal(rename(h, b, "c", 1, "c").status, Status.OK, "moving up is fine");
});

test("moving a directory updates nlink of both parents and its '..'", () => {
  const h = new Harness();
  const a = h.mkdir(1, "a");
  const b = h.mkdir(1, "b");
  const d = h.mkdir(a, "d");
  assert.equal(h.attr(a).nlink, 3);
  const r = rename(h, a, "d", b, "e");
  assert.equal(r.status, Status.OK);
  assert.equal((r as { inode: number }).inode, d);
  assert.equal(h.attr(a).nlink, 2);
  assert.equal(h.attr(b).nlink, 3);
  assert.equal((h.lookup(d, "..") as { inode: number }).inode, b);
  assert.deepEqual(h.names(b), [".", "..", "e"]);
  const readdir = h.ok({ kind: "readdir", inode: d, withAttr: false, maxEntries: 10 });
  assert.equal(readdir.entries[1]!.inode, b);
});

test("replacing: a file over a file, over an empty directory; ENOTEMPTY for a non-empty one", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  h.create(1, "f", sys);
  const g = h.create(1, "g", sys);
  const r = rename(h, 1, "f", 1, "g");
  assert.equal(r.status, Status.OK);
  assert.equal(h.status({ kind: "getattr", inode: g, opened: true }), Status.ENOENT, "the replaced file is gone");
  const full = h.mkdir(1, "full");
  h.create(full, "x", sys);
  assert.equal(rename(h, 1, "g", 1, "full").status, Status.ENOTEMPTY);
  h.mkdir(1, "empty");
  assert.equal(rename(h, 1, "g", 1, "empty").status, Status.OK, "mfsmaster does not compare types");
  const other = h.mkdir(1, "other");
  h.mkdir(1, "empty2");
  assert.equal(rename(h, 1, "other", 1, "empty2").status, Status.OK);
  assert.equal(h.attr(1).nlink, 4, "root keeps two subdirectories: full and empty2");
  void other;
});

test("renaming onto another link of the same node changes nothing", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  h.ok({ kind: "link", inode: f, parentDst: 1, nameDst: n("g") });
  const e = h.exec({ kind: "rename", parentSrc: 1, nameSrc: n("f"), parentDst: 1, nameDst: n("g") });
  assert.equal(e.result.status, Status.OK);
  assert.equal(e.entry, null);
  assert.deepEqual(h.names(1).sort(), [".", "..", "f", "g"]);
  assert.equal(rename(h, 1, "f", 1, "f").status, Status.OK);
  assert.equal(h.attr(f).nlink, 2);
});

test("status codes in mfsmaster's order", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  const ro = h.mkdir(1, "ro", rootCtx, 0o555);
  const user = ctxOf(1000, [1000]);
  assert.equal(rename(h, 999, "f", 1, "g").status, Status.ENOENT);
  assert.equal(rename(h, 1, "f", 999, "g").status, Status.ENOENT);
  assert.equal(rename(h, f, "x", 1, "g").status, Status.ENOTDIR);
  assert.equal(rename(h, 1, "nothing", 1, "g").status, Status.ENOENT);
  assert.equal(rename(h, 1, "f", f, "g").status, Status.ENOTDIR);
  assert.equal(rename(h, 1, "f", 1, "").status, Status.EINVAL);
  assert.equal(rename(h, 1, "f", ro, "g", user).status, Status.EACCES);
  const mine = h.mkdir(1, "mine", rootCtx, 0o777);
  const locked = h.mkdir(mine, "locked", rootCtx, 0o555);
  const target = h.mkdir(1, "target", rootCtx, 0o777);
  assert.equal(rename(h, mine, "locked", target, "x", user).status, Status.EACCES, "moving a directory needs W on it");
  assert.equal(rename(h, mine, "locked", mine, "y", user).status, Status.OK, "not when it stays in its parent");
  void locked;
});

test("rename sets the moved node's ctime and both parents' mtime", () => {
  const h = new Harness();
  const a = h.mkdir(1, "a");
  const b = h.mkdir(1, "b");
  const f = h.create(a, "f");
  const before = h.attr(f).ctime;
  rename(h, a, "f", b, "f");
  const ctime = h.attr(f).ctime;
  assert.ok(ctime > before);
  assert.equal(h.attr(a).mtime, ctime);
  assert.equal(h.attr(b).mtime, ctime);
});
