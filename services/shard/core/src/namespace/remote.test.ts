/**
 * The namespace commands on a shard whose directories hold entries naming nodes of another shard
 * (remote entries) and whose nodes hang below parents of another shard: listings, nlink, stats,
 * LOOKUP/READDIR answered through remote attributes, the per-shard tools, snapshots, and sessions
 * rooted on another shard. Two real machines owning alternate slots (tx-test-kit Shards).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AttrFlag, NodeType, Status, nameFromText, type Attr, type Result } from "@antler/ops";
import type { Execution } from "../api.ts";
import { ctxOf, Harness, rootCtx } from "../test-kit.ts";
import { decodeSnapshot, Shards } from "../txn/tx-test-kit.ts";
import { LookupFlag } from "../eattr.ts";

const n = nameFromText;

/** Shard 0 holds the root with a local directory "local" and a remote directory "far@1" (on shard 1). */
function twoShards(): { s: Shards; far: number; local: number } {
  const s = new Shards(2);
  const local = s.at(0).mkdir(1, "local");
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  assert.equal(s.shardOf(far), 1);
  return { s, far, local };
}

function remoteOf(execution: Execution): NonNullable<Execution["remote"]> {
  assert.equal(execution.entry, null);
  assert.ok(execution.remote !== undefined, "the answer needs remote attributes");
  return execution.remote;
}

function attrLike(base: Attr, changes: Partial<Attr> = {}): Attr {
  return { ...base, ...changes };
}

test("readdir without attributes lists remote entries with their type; nlink counts remote subdirectories", () => {
  const { s, far, local } = twoShards();
  const a = s.at(0);
  const listing = a.ok({ kind: "readdir", inode: 1, withAttr: false, maxEntries: 100 });
  assert.deepEqual(listing.entries.map((e) => [e.name, e.inode, e.type]), [
    [".", 1, NodeType.DIRECTORY], ["..", 1, NodeType.DIRECTORY], ["far@1", far, NodeType.DIRECTORY], ["local", local, NodeType.DIRECTORY],
  ]);
  assert.equal(a.attr(1).nlink, 4, "2 + the local and the remote subdirectory");
  // A snapshot keeps remote entries as they are.
  const restored = Harness.machine({ slots: Array.from({ length: 1024 }, (_, i) => 2 * i) });
  restored.importState(a.m.exportState());
  const again = restored.execute({ kind: "readdir", inode: 1, withAttr: false, maxEntries: 100 }, rootCtx, a.nowMs + 1000).result;
  assert.deepEqual(again, listing);
});

test("stats stay per shard: a remote subtree adds nothing to its parent, and stops at a remote parent", () => {
  const { s, far } = twoShards();
  const a = s.at(0);
  const b = s.at(1);
  const before = a.ok({ kind: "getdirstats", inode: 1 });
  b.create(far, "f1");
  b.mkdir(far, "sub");
  assert.deepEqual(a.ok({ kind: "getdirstats", inode: 1 }), before, "the root's shard does not see the remote subtree");
  const farStats = b.ok({ kind: "getdirstats", inode: far });
  assert.equal(farStats.inodes, 3);
  assert.equal(farStats.files, 1);
  assert.equal(farStats.dirs, 2);
});

test("rmdir of a directory that holds only remote entries is ENOTEMPTY", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const d = a.mkdir(1, "d");
  s.mkdir("x#1", 0, 1, d, "x@1");
  assert.equal(a.status({ kind: "rmdir", parent: 1, name: n("d") }), Status.ENOTEMPTY);
});

test("LOOKUP of a remote entry checks the parent first, then completes from the node's attributes", () => {
  const { s, far } = twoShards();
  const a = s.at(0);
  const b = s.at(1);
  const user = ctxOf(1000);
  const closed = a.mkdir(1, "closed", rootCtx, 0o700);
  s.mkdir("y#1", 0, 1, closed, "y@1");
  assert.equal(a.status({ kind: "lookup", parent: closed, name: n("y@1") }, user), Status.EACCES, "no search permission: no remote call");
  assert.equal(a.status({ kind: "lookup", parent: 1, name: n("nothing") }), Status.ENOENT);

  const remote = remoteOf(a.exec({ kind: "lookup", parent: 1, name: n("far@1") }, user));
  assert.deepEqual(remote.inodes, [far]);
  const attr = b.attr(far, user);
  const found = remote.complete(new Map([[far, attr]]));
  assert.equal(found.status, Status.OK);
  const ok = found as Extract<Result, { lflags: number }>;
  assert.equal(ok.inode, far);
  assert.deepEqual(ok.attr, attr);
  // The same lflags a local lookup computes for a directory like it (0755, root's).
  const localLookup = a.lookup(1, "local", user) as Extract<Result, { lflags: number }>;
  assert.equal(ok.lflags, localLookup.lflags);
  assert.equal(ok.lflags, 0x33);
  assert.equal(remote.complete(new Map([[far, null]])).status, Status.ENOENT, "the node vanished meanwhile");
  assert.equal(remote.complete(new Map()).status, Status.ENOENT);
});

test("LOOKUP lflags of a remote node: unknown (0xFFFF) when an ACL or immutable/append-only may apply", () => {
  const { s, far } = twoShards();
  const a = s.at(0);
  const user = ctxOf(1000);
  const attr = s.at(1).attr(far, user);
  const lflagsOf = (changes: Partial<Attr>, ctx = user): number => {
    const done = remoteOf(a.exec({ kind: "lookup", parent: 1, name: n("far@1") }, ctx)).complete(new Map([[far, attrLike(attr, changes)]]));
    return (done as Extract<Result, { lflags: number }>).lflags;
  };
  assert.equal(lflagsOf({ flags: attr.flags & ~AttrFlag.NOXATTR }), 0xffff, "maybe an ACL: the client must ask");
  assert.equal(lflagsOf({ flags: attr.flags & ~AttrFlag.NOXATTR, uid: 1000 }), 0xff, "the owner's rights do not depend on an ACL");
  assert.equal(lflagsOf({ flags: attr.flags | AttrFlag.UNDELETABLE }), 0xffff);
  assert.equal(lflagsOf({}, rootCtx), 0xff);
  assert.equal(lflagsOf({ flags: attr.flags | AttrFlag.DIRECTMODE }) & LookupFlag.DIRECTMODE, LookupFlag.DIRECTMODE);
  const readOnly = ctxOf(1000, [1000], 1, { sesflags: 1 });
  assert.equal(lflagsOf({}, readOnly) & LookupFlag.RO_FILESYSTEM, LookupFlag.RO_FILESYSTEM);
});

test("LOOKUP '..' of a directory whose parent is remote asks the parent's shard; '.' is local", () => {
  const { s, far } = twoShards();
  const b = s.at(1);
  const dot = b.lookup(far, ".") as Extract<Result, { inode: number }>;
  assert.equal(dot.inode, far);
  const remote = remoteOf(b.exec({ kind: "lookup", parent: far, name: n("..") }));
  assert.deepEqual(remote.inodes, [1]);
  const rootAttr = s.at(0).attr(1);
  const up = remote.complete(new Map([[1, rootAttr]])) as Extract<Result, { inode: number }>;
  assert.equal(up.inode, 1);
  // A local directory below the remote one resolves '..' locally.
  const inner = b.mkdir(far, "inner");
  assert.equal((b.lookup(inner, "..") as Extract<Result, { inode: number }>).inode, far);
});

test("READDIR with attributes fills remote entries from their shards; a vanished node is left out", () => {
  const { s, far, local } = twoShards();
  const a = s.at(0);
  const b = s.at(1);
  const file = s.newNode("f#1", 0, 1, { kind: "create", parent: 1, name: n("spilled"), mode: 0o644, umask: 0 }).inode;
  const remote = remoteOf(a.exec({ kind: "readdir", inode: 1, withAttr: true, maxEntries: 100 }));
  assert.deepEqual([...remote.inodes].sort((x, y) => x - y), [far, file].sort((x, y) => x - y));
  const farAttr = b.attr(far);
  const done = remote.complete(new Map([[far, farAttr], [file, null]]));
  assert.equal(done.status, Status.OK);
  const entries = (done as Extract<Result, { entries: unknown }>).entries;
  assert.deepEqual(entries.map((e) => e.name), [".", "..", "far@1", "local"]);
  assert.deepEqual(entries.find((e) => e.name === "far@1")?.attr, farAttr);
  assert.equal(entries.find((e) => e.name === "local")?.attr?.type, NodeType.DIRECTORY);
  assert.equal(entries.find((e) => e.name === "local")?.inode, local);
  // Nothing remote in the page: answered at once.
  const page = a.exec({ kind: "readdir", inode: 1, withAttr: true, maxEntries: 2 });
  assert.equal(page.remote, undefined);
  assert.equal(page.result.status, Status.OK);
  // On the other shard, '..' of a directory whose parent is remote is a remote attribute too.
  const below = remoteOf(b.exec({ kind: "readdir", inode: far, withAttr: true, maxEntries: 100 }));
  assert.deepEqual(below.inodes, [1]);
  const plain = b.ok({ kind: "readdir", inode: far, withAttr: false, maxEntries: 100 });
  assert.deepEqual(plain.entries.map((e) => [e.name, e.inode, e.type]), [[".", far, NodeType.DIRECTORY], ["..", 1, NodeType.DIRECTORY]]);
});

test("a parent with NOECACHE marks remote entries' attributes NOECACHE, as for local ones", () => {
  const { s, far } = twoShards();
  const a = s.at(0);
  a.ok({ kind: "seteattr", inode: 1, uid: 0, eattr: 0x04, smode: 0 });
  const attr = s.at(1).attr(far);
  assert.equal(attr.flags & AttrFlag.NOECACHE, 0);
  const done = remoteOf(a.exec({ kind: "lookup", parent: 1, name: n("far@1") })).complete(new Map([[far, attr]]));
  assert.equal((done as Extract<Result, { attr: Attr }>).attr.flags & AttrFlag.NOECACHE, AttrFlag.NOECACHE);
});

test("recursive tools work per shard: remote children are neither counted nor changed", () => {
  const { s, far } = twoShards();
  const a = s.at(0);
  const b = s.at(1);
  b.create(far, "f");
  const set = a.ok({ kind: "setgoal", inode: 1, uid: 0, goal: 5, smode: 4 });
  assert.deepEqual(set, { status: Status.OK, changed: 2, notChanged: 0, notPermitted: 0 }, "the root and 'local'");
  assert.deepEqual(b.ok({ kind: "getgoal", inode: far, gmode: 1 }).files, [{ value: 1, count: 1 }]);
  const counts = a.ok({ kind: "getgoal", inode: 1, gmode: 1 });
  assert.deepEqual(counts.dirs, [{ value: 5, count: 2 }]);
  assert.equal(a.ok({ kind: "settrashtime", inode: 1, uid: 0, trashtime: 7200, smode: 4 }).changed, 2);
  assert.equal(a.ok({ kind: "seteattr", inode: 1, uid: 0, eattr: 0x01, smode: 4 | 1 }).changed, 2);
});

test("a snapshot whose tree meets a remote node is ENOTSUP; a local tree still works", () => {
  const { s, local } = twoShards();
  const a = s.at(0);
  a.create(local, "f");
  assert.equal(a.status({ kind: "snapshot", inode: 1, parentDst: local, nameDst: n("copy"), smode: 0, umask: 0 }), Status.EINVAL, "into itself");
  const top = a.mkdir(1, "top");
  s.mkdir("z#1", 0, 1, top, "z@1");
  assert.equal(a.status({ kind: "snapshot", inode: top, parentDst: local, nameDst: n("copy"), smode: 0, umask: 0 }), Status.ENOTSUP);
  assert.equal(a.status({ kind: "snapshot", inode: local, parentDst: 1, nameDst: n("copy"), smode: 0, umask: 0 }), Status.OK);
  assert.deepEqual(a.names(local), [".", "..", "f"]);
});

test("a session rooted in a directory of another shard sees its subtree; this shard's other nodes stay hidden", () => {
  const { s, far, local } = twoShards();
  const a = s.at(0);
  const b = s.at(1);
  const inner = b.mkdir(far, "inner");
  const ctx = ctxOf(0, [0], 1, { rootInode: far });
  assert.equal(b.status({ kind: "getattr", inode: inner, opened: false }, ctx), Status.OK);
  assert.equal(b.status({ kind: "getattr", inode: far, opened: false }, ctx), Status.OK);
  // The root's shard can follow 'local' up to the root without passing the session root: hidden.
  assert.equal(a.status({ kind: "getattr", inode: local, opened: false }, ctx), Status.ENOENT);
  assert.equal(a.status({ kind: "getattr", inode: 1, opened: false }, ctx), Status.ENOENT);
  // '..' of the session root stays at the session root.
  assert.equal((b.lookup(far, "..", ctx) as Extract<Result, { inode: number }>).inode, far);
});

test("STATFS of the whole namespace: the shards' answers add up to what one shard would count", () => {
  const { s, far } = twoShards();
  s.at(1).create(far, "f1");
  s.at(1).mkdir(far, "sub");
  s.at(0).create(1, "g");
  const sum = s.shards.reduce((total, shard) => total + shard.ok({ kind: "statfs" }).inodes, 0);
  const single = new Harness();
  const farHere = single.mkdir(1, "far@1");
  single.mkdir(1, "local");
  single.create(farHere, "f1");
  single.mkdir(farHere, "sub");
  single.create(1, "g");
  assert.equal(sum, single.ok({ kind: "statfs" }).inodes);
  assert.equal(sum, 6);
});

test("a trashed file below a directory whose parent is remote keeps the path up to that parent's name", () => {
  const { s, far } = twoShards();
  const b = s.at(1);
  const inner = b.mkdir(far, "inner");
  const file = b.create(inner, "f");
  b.ok({ kind: "unlink", parent: inner, name: n("f") });
  const node = decodeSnapshot(b.m.exportState()).nodes.find((json) => json.inode === file);
  assert.deepEqual(node?.detached, { kind: "trash", path: "far@1/inner/f" });
});
