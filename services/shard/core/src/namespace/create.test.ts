/**
 * MKDIR / MKNOD / CREATE / SYMLINK against mfsmaster 3.0.117's fs_univ_create and
 * fsnodes_create_node: status codes in mfsmaster's check order, umask, setgid inheritance,
 * inherited goal/trashtime, nlink and the encoded directory size, and inode placement.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodeType, SessionFlag, Status, nameFromText } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { Harness, ctxOf, rootCtx, testSlotOfNewDirectory } from "../test-kit.ts";

const n = nameFromText;

test("mkdir applies the umask, gives nlink 2 and raises the parent's nlink", () => {
  const h = new Harness();
  const r = h.ok({ kind: "mkdir", parent: 1, name: n("d"), mode: 0o777, umask: 0o022, copysgid: true });
  assert.equal(r.attr.mode, 0o755);
  assert.equal(r.attr.type, NodeType.DIRECTORY);
  assert.equal(r.attr.nlink, 2);
  assert.equal(r.attr.length, 1, "an empty directory reports size 1, never 0");
  assert.equal(r.attr.flags, 0x0c, "ALLOWDATACACHE | NOXATTR as mfsmaster sends for directories");
  assert.equal(h.attr(1).nlink, 3);
  h.mkdir(r.inode, "sub");
  assert.equal(h.attr(r.inode).nlink, 3);
  h.create(r.inode, "file");
  assert.equal(h.attr(r.inode).nlink, 3, "files do not count in a directory's nlink");
});

test("create returns oflags and a file without ALLOWDATACACHE; mknod makes fifos and devices", () => {
  const h = new Harness();
  const c = h.ok({ kind: "create", parent: 1, name: n("f"), mode: 0o666, umask: 0o022 });
  assert.equal(c.attr.mode, 0o644);
  assert.equal(c.oflags, 0);
  assert.equal(c.attr.flags, 0x08);
  const fifo = h.ok({ kind: "mknod", parent: 1, name: n("p"), type: NodeType.FIFO, mode: 0o640, umask: 0, rdev: 7 });
  assert.equal(fifo.attr.type, NodeType.FIFO);
  assert.equal(fifo.attr.rdev, 0);
  const dev = h.ok({ kind: "mknod", parent: 1, name: n("b"), type: NodeType.BLOCKDEV, mode: 0o600, umask: 0, rdev: 0x0801 });
  assert.equal(dev.attr.rdev, 0x0801);
  assert.equal(dev.attr.nlink, 1);
  assert.equal(h.status({ kind: "mknod", parent: 1, name: n("s"), type: NodeType.SYMLINK, mode: 0o777, umask: 0, rdev: 0 }), Status.EINVAL);
});

test("symlink: length is the target length, bad targets are EINVAL", () => {
  const h = new Harness();
  const s = h.ok({ kind: "symlink", parent: 1, name: n("l"), target: n("some/where") });
  assert.equal(s.attr.type, NodeType.SYMLINK);
  assert.equal(s.attr.mode, 0o777);
  assert.equal(s.attr.length, 10);
  assert.deepEqual(h.ok({ kind: "readlink", inode: s.inode }).target, n("some/where"));
  assert.equal(h.status({ kind: "readlink", inode: 1 }), Status.EINVAL);
  assert.equal(h.status({ kind: "symlink", parent: 1, name: n("e"), target: "" }), Status.EINVAL);
  assert.equal(h.status({ kind: "symlink", parent: 1, name: n("z"), target: "a\0b" }), Status.EINVAL);
  assert.equal(h.status({ kind: "symlink", parent: 1, name: n("x"), target: "x".repeat(4097) }), Status.EINVAL);
  assert.equal(h.attr(1).length, 1000, "the root's recursive size counts the 10-byte target (10 B → 1000)");
});

test("names: empty, '.', '..', '/', NUL and 256 bytes are EINVAL; duplicates EEXIST", () => {
  const h = new Harness();
  for (const bad of ["", ".", "..", "a/b", "a\0b", "x".repeat(256)]) {
    assert.equal(h.status({ kind: "mkdir", parent: 1, name: bad, mode: 0o755, umask: 0, copysgid: false }), Status.EINVAL, JSON.stringify(bad));
  }
  h.mkdir(1, "x".repeat(255));
  h.create(1, "f");
  assert.equal(h.status({ kind: "create", parent: 1, name: n("f"), mode: 0o644, umask: 0 }), Status.EEXIST);
  assert.equal(h.status({ kind: "mkdir", parent: 1, name: n("f"), mode: 0o755, umask: 0, copysgid: false }), Status.EEXIST);
});

test("parent checks: ENOENT, ENOTDIR, EACCES without write or search, EROFS on read-only sessions", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  const d = h.mkdir(1, "d", rootCtx, 0o755);
  assert.equal(h.status({ kind: "create", parent: 999, name: n("x"), mode: 0o644, umask: 0 }), Status.ENOENT);
  assert.equal(h.status({ kind: "create", parent: f, name: n("x"), mode: 0o644, umask: 0 }), Status.ENOTDIR);
  assert.equal(h.status({ kind: "create", parent: d, name: n("x"), mode: 0o644, umask: 0 }, ctxOf(1000)), Status.EACCES);
  const ro = ctxOf(0, [0], 1, { sesflags: SessionFlag.READONLY });
  assert.equal(h.status({ kind: "create", parent: 1, name: n("x"), mode: 0o644, umask: 0 }, ro), Status.EROFS);
});

test("setgid directories pass their group on, and the bit to subdirectories when copysgid", () => {
  const h = new Harness();
  const d = h.mkdir(1, "shared", rootCtx, 0o2777);
  h.ok({ kind: "setattr", inode: d, opened: false, setmask: 0x08, mode: 0, uid: 0, gid: 50, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  const user = ctxOf(1000, [1000]);
  const f = h.ok({ kind: "create", parent: d, name: n("f"), mode: 0o644, umask: 0 }, user);
  assert.equal(f.attr.gid, 50);
  assert.equal(f.attr.uid, 1000);
  assert.equal(f.attr.mode & 0o2000, 0);
  const sub = h.ok({ kind: "mkdir", parent: d, name: n("sub"), mode: 0o755, umask: 0, copysgid: true }, user);
  assert.equal(sub.attr.gid, 50);
  assert.equal(sub.attr.mode, 0o2755);
  const plain = h.ok({ kind: "mkdir", parent: d, name: n("plain"), mode: 0o755, umask: 0, copysgid: false }, user);
  assert.equal(plain.attr.mode, 0o755);
  const elsewhere = h.ok({ kind: "create", parent: 1, name: n("g"), mode: 0o644, umask: 0 }, user);
  assert.equal(elsewhere.attr.gid, 1000, "without setgid the caller's primary group");
});

test("inodes: directories go to the slot of their name, files to their parent's slot", () => {
  const h = new Harness();
  const d = h.mkdir(1, "alpha");
  assert.equal(slotOfInode(d), testSlotOfNewDirectory(1, n("alpha")));
  const f = h.create(d, "f");
  assert.equal(slotOfInode(f), slotOfInode(d));
  const g = h.create(d, "g");
  assert.ok(g > f, "inodes of a slot are handed out in increasing order");
});

test("inodes: a directory whose slot another shard owns is made by the coordinator (forward)", () => {
  const h = new Harness({ slots: [0, 100, 200], slotOfNewDirectory: (_parent, name) => (name === "x" ? 150 : 100) });
  const forwarded = h.exec({ kind: "mkdir", parent: 1, name: n("x"), mode: 0o755, umask: 0, copysgid: false });
  assert.deepEqual(forwarded, { result: { status: Status.OK }, entry: null, forward: "coordinator" });
  assert.deepEqual(h.names(1), [".", ".."]);
  const d = h.mkdir(1, "y");
  assert.equal(slotOfInode(d), 100);
});

test("freed inodes are never handed out again", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  const f = h.create(1, "f");
  h.ok({ kind: "unlink", parent: 1, name: n("f") });
  const g = h.create(1, "f");
  assert.notEqual(g, f);
  assert.ok(g > f);
});

test("new files inherit goal and trashtime from the directory; symlinks get the defaults", () => {
  const h = new Harness({ defaultGoal: 2 });
  const d = h.mkdir(1, "d");
  h.ok({ kind: "setgoal", inode: d, uid: 0, goal: 3, smode: 0 });
  h.ok({ kind: "settrashtime", inode: d, uid: 0, trashtime: 7200, smode: 0 });
  const f = h.create(d, "f");
  const goal = h.ok({ kind: "getgoal", inode: f, gmode: 0 });
  assert.deepEqual(goal.files, [{ value: 3, count: 1 }]);
  const trash = h.ok({ kind: "gettrashtime", inode: f, gmode: 0 });
  assert.deepEqual(trash.files, [{ value: 7200, count: 1 }]);
  const root = h.ok({ kind: "getgoal", inode: 1, gmode: 0 });
  assert.deepEqual(root.dirs, [{ value: 2, count: 1 }]);
});
