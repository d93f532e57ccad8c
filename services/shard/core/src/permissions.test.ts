/**
 * The permission matrix of mfsmaster (fsnodes_accessmode, fsnodes_sticky_access) seen through
 * ACCESS, LOOKUP lflags and namespace changes: root, owner, group member, other, the IGNOREGID
 * session flag, immutable nodes, read-only sessions and the sticky directory rule.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionFlag, Status, nameFromText } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "./test-kit.ts";

const n = nameFromText;
const owner = ctxOf(1000, [1000]);
const member = ctxOf(2000, [3000, 50]);
const other = ctxOf(3000, [3000]);

function fileWith(h: Harness, mode: number): number {
  const f = h.create(1, `f${mode.toString(8)}`, rootCtx, mode);
  h.ok({ kind: "setattr", inode: f, opened: false, setmask: 0x0c, mode: 0, uid: 1000, gid: 50, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  return f;
}

test("ACCESS: root passes, owner uses user bits, members group bits, others other bits", () => {
  const h = new Harness();
  const f = fileWith(h, 0o640);
  const access = (ctx: typeof owner, modemask: number) => h.status({ kind: "access", inode: f, modemask }, ctx);
  assert.equal(access(rootCtx, 7), Status.OK);
  assert.equal(access(owner, 6), Status.OK);
  assert.equal(access(owner, 1), Status.EACCES);
  assert.equal(access(member, 4), Status.OK);
  assert.equal(access(member, 2), Status.EACCES);
  assert.equal(access(other, 4), Status.EACCES);
  assert.equal(access(other, 0), Status.OK);
  const ignoreGid = ctxOf(3000, [3000], 1, { sesflags: SessionFlag.IGNOREGID });
  assert.equal(access(ignoreGid, 4), Status.OK, "IGNOREGID: group|other bits for non-owners");
  const ro = ctxOf(1000, [1000], 1, { sesflags: SessionFlag.READONLY });
  assert.equal(access(ro, 2), Status.EROFS);
  assert.equal(access(ro, 4), Status.OK);
  assert.equal(h.status({ kind: "access", inode: 4242, modemask: 4 }), Status.ENOENT);
});

test("the owner's bits apply even when the group or others would allow more", () => {
  const h = new Harness();
  const f = fileWith(h, 0o077);
  assert.equal(h.status({ kind: "access", inode: f, modemask: 4 }, owner), Status.EACCES);
  assert.equal(h.status({ kind: "access", inode: f, modemask: 4 }, member), Status.OK);
});

test("LOOKUP lflags: ACCESS_MODE bits from rwx via mfsmaster's table, 0xFF for root", () => {
  const h = new Harness();
  const f = fileWith(h, 0o754);
  const lflags = (ctx: typeof owner) => {
    const r = h.lookup(1, "f754", ctx);
    assert.equal(r.status, Status.OK);
    return (r as { lflags: number }).lflags;
  };
  assert.equal(lflags(rootCtx), 0xff);
  assert.equal(lflags(owner), 0xff);
  assert.equal(lflags(member), 0x33, "r-x");
  assert.equal(lflags(other), 0x11, "r--");
  const ro = ctxOf(3000, [3000], 1, { sesflags: SessionFlag.READONLY });
  assert.equal(lflags(ro), 0x11 | 0x200, "RO_FILESYSTEM on read-only sessions");
  void f;
});

test("LOOKUP needs search permission on the directory and resolves '.' and '..'", () => {
  const h = new Harness();
  const d = h.mkdir(1, "private", rootCtx, 0o700);
  const s = h.mkdir(d, "sub");
  assert.equal(h.lookup(d, "sub", other).status, Status.EACCES);
  assert.equal((h.lookup(s, "..") as { inode: number }).inode, d);
  assert.equal((h.lookup(s, ".") as { inode: number }).inode, s);
  assert.equal((h.lookup(1, "..") as { inode: number }).inode, 1, "the root is its own parent");
  assert.equal(h.lookup(1, "missing").status, Status.ENOENT);
  assert.equal(h.lookup(4242, "x").status, Status.ENOENT_NOCACHE);
  assert.equal(h.lookup(1, "a/b").status, Status.EINVAL);
});

test("sticky directories: only root, the directory owner or the file owner remove or rename", () => {
  const h = new Harness();
  const tmp = h.mkdir(1, "tmp", rootCtx, 0o1777);
  h.create(tmp, "mine", owner);
  h.create(tmp, "theirs", other);
  assert.equal(h.status({ kind: "unlink", parent: tmp, name: n("theirs") }, owner), Status.EPERM);
  assert.equal(h.status({ kind: "rename", parentSrc: tmp, nameSrc: n("theirs"), parentDst: tmp, nameDst: n("x") }, owner), Status.EPERM);
  assert.equal(h.status({ kind: "rename", parentSrc: tmp, nameSrc: n("mine"), parentDst: tmp, nameDst: n("theirs") }, owner), Status.EPERM, "replacing someone else's file");
  assert.equal(h.status({ kind: "unlink", parent: tmp, name: n("mine") }, owner), Status.OK);
  assert.equal(h.status({ kind: "unlink", parent: tmp, name: n("theirs") }, rootCtx), Status.OK);
});

test("without the sticky bit anyone with write and search on the directory removes anything", () => {
  const h = new Harness();
  const pub = h.mkdir(1, "pub", rootCtx, 0o777);
  h.create(pub, "theirs", other);
  assert.equal(h.status({ kind: "unlink", parent: pub, name: n("theirs") }, owner), Status.OK);
  const closed = h.mkdir(1, "closed", rootCtx, 0o755);
  h.create(closed, "f");
  assert.equal(h.status({ kind: "unlink", parent: closed, name: n("f") }, owner), Status.EACCES);
});

test("immutable nodes refuse writes even to root; ACCESS answers EPERM for W", () => {
  const admin = ctxOf(0, [0], 1, { sesflags: SessionFlag.ADMIN });
  const h = new Harness();
  const f = h.create(1, "f");
  h.ok({ kind: "seteattr", inode: f, uid: 0, eattr: 0x80, smode: 0 }, admin);
  assert.equal(h.status({ kind: "access", inode: f, modemask: 2 }), Status.EPERM);
  assert.equal(h.status({ kind: "access", inode: f, modemask: 4 }), Status.OK);
  assert.equal(h.status({ kind: "unlink", parent: 1, name: n("f") }), Status.EPERM);
  assert.equal(h.status({ kind: "setattr", inode: f, opened: false, setmask: 0x02, mode: 0o600, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 }), Status.EPERM);
  assert.equal(h.attr(f).flags & 0x20, 0x20, "UNDELETABLE attribute flag");
  const l = h.lookup(1, "f") as { lflags: number };
  assert.equal(l.lflags, (0xff & 0x33) | 0x0800, "write modes removed, IMMUTABLE set");
});
