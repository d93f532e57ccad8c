import { test } from "node:test";
import assert from "node:assert/strict";
import { Status, nameFromText, type ChunkLocation, type Result } from "@antler/ops";
import { Eattr } from "../eattr.ts";
import { Harness, ctxOf, rootCtx, server } from "../test-kit.ts";

const n = nameFromText;

function location(result: Result): ChunkLocation {
  assert.equal(result.status, Status.OK, `expected OK, got ${result.status}`);
  return result as unknown as ChunkLocation;
}

function withData(h: Harness, file: number, length: number): bigint {
  const execution = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  const chunkId = location(h.finish(execution.chunkWork).result).chunkId;
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId, length, flags: 0 });
  return chunkId;
}

test("a directory tree is copied with its attributes; files share chunks; copies carry EATTR_SNAPSHOT", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const src = h.mkdir(1, "src");
  const sub = h.mkdir(src, "sub");
  const file = h.create(sub, "f", rootCtx, 0o640);
  const chunkId = withData(h, file, 1234);
  h.ok({ kind: "symlink", parent: src, name: n("l"), target: n("sub/f") });
  h.ok({ kind: "snapshot", inode: src, parentDst: 1, nameDst: n("copy"), smode: 0, umask: 0 });
  const copy = h.ok({ kind: "lookup", parent: 1, name: n("copy") }).inode;
  assert.deepEqual(h.names(copy).sort(), [".", "..", "l", "sub"]);
  const copiedSub = h.ok({ kind: "lookup", parent: copy, name: n("sub") }).inode;
  const copied = h.ok({ kind: "lookup", parent: copiedSub, name: n("f") }).inode;
  assert.notEqual(copied, file);
  assert.equal(h.attr(copied).length, 1234);
  assert.equal(h.attr(copied).mode & 0o7777, 0o640);
  assert.equal(location(h.run({ kind: "readchunk", inode: copied, index: 0 })).chunkId, chunkId);
  const eattr = h.ok({ kind: "geteattr", inode: copied, gmode: 0 });
  assert.deepEqual(eattr.files, [{ value: Eattr.SNAPSHOT, count: 1 }]);
  const stats = h.ok({ kind: "getdirstats", inode: 1 });
  assert.equal(stats.chunks, 2, "each file counts its chunk");
  assert.equal(stats.length, 2 * 1234 + 2 * "sub/f".length);
  assert.equal(stats.size, 2 * (64 * 1024 + 0x2000));
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("snapshot rules: EEXIST without overwrite, replace with it; into itself EINVAL; unreadable source EACCES", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const a = h.create(1, "a");
  withData(h, a, 10);
  const b = h.create(1, "b");
  assert.equal(h.status({ kind: "snapshot", inode: a, parentDst: 1, nameDst: n("b"), smode: 0, umask: 0 }), Status.EEXIST);
  h.ok({ kind: "snapshot", inode: a, parentDst: 1, nameDst: n("b"), smode: 1, umask: 0 });
  const replaced = h.ok({ kind: "lookup", parent: 1, name: n("b") }).inode;
  assert.notEqual(replaced, b);
  assert.equal(h.attr(replaced).length, 10);
  const dir = h.mkdir(1, "d");
  assert.equal(h.status({ kind: "snapshot", inode: dir, parentDst: dir, nameDst: n("x"), smode: 0, umask: 0 }), Status.EINVAL);
  assert.equal(h.status({ kind: "snapshot", inode: a, parentDst: 1, nameDst: n("a"), smode: 1, umask: 0 }), Status.EINVAL);
  assert.equal(h.status({ kind: "snapshot", inode: dir, parentDst: 1, nameDst: n("a"), smode: 1, umask: 0 }), Status.EPERM, "another type");
  const secret = h.create(1, "secret", rootCtx, 0o600);
  const user = ctxOf(1000, [1000], 2);
  h.ok({ kind: "setattr", inode: 1, opened: false, setmask: 2, mode: 0o777, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  assert.equal(h.status({ kind: "snapshot", inode: secret, parentDst: 1, nameDst: n("s2"), smode: 0, umask: 0 }, user), Status.EACCES);
  // cp-like: the caller owns the copy, mode minus umask.
  const mine = h.create(1, "mine", rootCtx, 0o644);
  h.ok({ kind: "snapshot", inode: mine, parentDst: 1, nameDst: n("m2"), smode: 2, umask: 0o022 }, user);
  const m2 = h.attr(h.ok({ kind: "lookup", parent: 1, name: n("m2") }).inode);
  assert.equal(m2.uid, 1000);
  assert.equal(m2.mode & 0o7777, 0o644);
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("a file whose chunk is still being created cannot be snapshotted yet (EAGAIN)", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const a = h.create(1, "a");
  const pending = h.exec({ kind: "writechunk", inode: a, index: 0, flags: 0 });
  assert.equal(h.status({ kind: "snapshot", inode: a, parentDst: 1, nameDst: n("b"), smode: 0, umask: 0 }), Status.EAGAIN);
  h.finish(pending.chunkWork);
  assert.equal(h.status({ kind: "snapshot", inode: a, parentDst: 1, nameDst: n("b"), smode: 0, umask: 0 }), Status.OK);
});

test("a snapshot onto an existing directory merges into it; same files stay, others are replaced only with CAN_OVERWRITE", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const src = h.mkdir(1, "src");
  const f = h.create(src, "f");
  withData(h, f, 100);
  h.ok({ kind: "snapshot", inode: src, parentDst: 1, nameDst: n("dst"), smode: 0, umask: 0 });
  const dst = h.ok({ kind: "lookup", parent: 1, name: n("dst") }).inode;
  const copiedF = h.ok({ kind: "lookup", parent: dst, name: n("f") }).inode;
  h.create(src, "g");
  // Again: an existing file needs CAN_OVERWRITE even when nothing changed (mfsmaster's test).
  assert.equal(h.status({ kind: "snapshot", inode: src, parentDst: 1, nameDst: n("dst"), smode: 0, umask: 0 }), Status.EEXIST);
  // With it "f" has the same chunks (kept as it is) and "g" is new.
  h.ok({ kind: "snapshot", inode: src, parentDst: 1, nameDst: n("dst"), smode: 1, umask: 0 });
  assert.equal(h.ok({ kind: "lookup", parent: 1, name: n("dst") }).inode, dst, "merged, not replaced");
  assert.equal(h.ok({ kind: "lookup", parent: dst, name: n("f") }).inode, copiedF);
  assert.equal(h.lookup(dst, "g").status, Status.OK);
  // "f" changes: now the copy differs and is replaced.
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 64 * 1024 * 1024 });
  h.ok({ kind: "snapshot", inode: src, parentDst: 1, nameDst: n("dst"), smode: 1, umask: 0 });
  const replacedF = h.ok({ kind: "lookup", parent: dst, name: n("f") }).inode;
  assert.notEqual(replacedF, copiedF);
  assert.equal(h.attr(replacedF).length, 64 * 1024 * 1024);
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});
