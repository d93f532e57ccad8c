/**
 * What execute() does in a sharded namespace before and instead of a local change: MOVED for a
 * slot of another shard, forward to the coordinator once the local checks passed, TXLOCKED for
 * what a prepared transaction holds, retries of a transaction's client request, and the
 * read-only txinspect and fsckdump. Real machines owning alternate slots (tx-test-kit Shards).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodeType, Status, nameFromText, type Command, type FsckNode, type Result } from "@antler/ops";
import { limits } from "@antler/base";
import type { Execution } from "./api.ts";
import { ctxOf, Harness, rootCtx } from "./test-kit.ts";
import { decodeSnapshot, okOutputs, Shards } from "./txn/tx-test-kit.ts";
import { encodeMessage } from "@antler/ops";
import { makeInode } from "@antler/slots";

const n = nameFromText;
/** An inode of shard 1 (slot 1) that a coordinator's node-new could have made. */
const remoteInode = makeInode(1, 5);
const forwarded: Execution = { result: { status: Status.OK }, entry: null, forward: "coordinator" };

test("MOVED: a command routed by a slot of another shard; 'all' commands never are", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const b = s.at(1);
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  assert.deepEqual(b.exec({ kind: "getattr", inode: 1, opened: false }), { result: { status: Status.MOVED }, entry: null });
  assert.equal(a.status({ kind: "getattr", inode: far, opened: false }), Status.MOVED);
  assert.equal(a.status({ kind: "create", parent: far, name: n("x"), mode: 0o644, umask: 0 }), Status.MOVED);
  assert.equal(b.status({ kind: "rename", parentSrc: 1, nameSrc: n("far@1"), parentDst: far, nameDst: n("y") }), Status.MOVED);
  assert.equal(b.status({ kind: "link", inode: far, parentDst: 1, nameDst: n("y") }), Status.MOVED, "link goes by its target directory");
  assert.equal(b.status({ kind: "fsckdump", slot: 0, afterInode: 0, max: 10 }), Status.MOVED);
  assert.equal(b.status({ kind: "txabort", slot: 2, txid: "t#1" }), Status.MOVED);
  assert.equal(b.status({ kind: "txinspect", inode: 1 }), Status.MOVED);
  assert.equal(b.status({ kind: "statfs" }), Status.OK);
  assert.equal(b.status({ kind: "closesession" }), Status.OK);
  assert.equal(a.status({ kind: "txabort", slot: 2, txid: "t#1" }), Status.OK);
});

test("MKDIR whose slot another shard owns is forwarded after every local check", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const mkdir = (parent: number, name: string): Command => ({ kind: "mkdir", parent, name: n(name), mode: 0o755, umask: 0, copysgid: false });
  assert.deepEqual(a.exec(mkdir(1, "d@1")), forwarded);
  const closed = a.mkdir(1, "closed", rootCtx, 0o755);
  assert.equal(a.status(mkdir(closed, "d@1"), ctxOf(1000)), Status.EACCES);
  assert.equal(a.status(mkdir(1, "closed")), Status.EEXIST);
  assert.equal(a.status(mkdir(1, "bad/name@1")), Status.EINVAL);
  assert.equal(a.status(mkdir(0x7ffe, "d@1")), Status.ENOENT);
  assert.equal(a.status(mkdir(1, "d@1"), ctxOf(0, [0], 1, { sesflags: 1 })), Status.EROFS);
  const file = a.create(1, "file");
  assert.equal(a.status(mkdir(file, "d@1")), Status.ENOTDIR);
  // Slot owned: made here as always.
  assert.equal(a.status(mkdir(1, "d@2")), Status.OK);
});

test("CREATE spills to the coordinator when no owned slot has room; an unsharded full shard is NOSPACE", () => {
  const full = (slots: readonly number[] | undefined): Harness => {
    const h = new Harness(slots === undefined ? {} : { slots });
    const snapshot = decodeSnapshot(h.m.exportState());
    const owned = slots ?? Array.from({ length: limits.slotCount }, (_, i) => i);
    const header = { ...snapshot.header, nextLocal: owned.map((slot) => [slot, limits.inodesPerSlot]) };
    const lines = [encodeMessage(header), ...snapshot.nodes.map((node) => encodeMessage(node))];
    const bytes = new Uint8Array(lines.reduce((sum, line) => sum + line.length + 1, 0));
    let at = 0;
    for (const line of lines) {
      bytes.set(line, at);
      bytes[at + line.length] = 10;
      at += line.length + 1;
    }
    h.m.importState(bytes);
    return h;
  };
  const sharded = full([0, 5]);
  assert.deepEqual(sharded.exec({ kind: "create", parent: 1, name: n("f"), mode: 0o644, umask: 0 }), forwarded);
  assert.deepEqual(sharded.exec({ kind: "symlink", parent: 1, name: n("l"), target: n("t") }), forwarded);
  assert.equal(sharded.status({ kind: "create", parent: 1, name: n("f"), mode: 0o644, umask: 0 }, ctxOf(1000, [1000], 1, { sesflags: 1 })), Status.EROFS);
  const whole = full(undefined);
  assert.equal(whole.status({ kind: "create", parent: 1, name: n("f"), mode: 0o644, umask: 0 }), Status.NOSPACE);
});

test("UNLINK/RMDIR of a remote entry are forwarded once the parent's checks passed", () => {
  const s = new Shards(2);
  const a = s.at(0);
  s.mkdir("d#1", 0, 1, 1, "d@1");
  const file = s.newNode("f#1", 0, 1, { kind: "create", parent: 1, name: n("f"), mode: 0o644, umask: 0 }).inode;
  assert.equal(s.shardOf(file), 1);
  assert.deepEqual(a.exec({ kind: "rmdir", parent: 1, name: n("d@1") }), forwarded);
  assert.deepEqual(a.exec({ kind: "unlink", parent: 1, name: n("f") }), forwarded);
  assert.equal(a.status({ kind: "unlink", parent: 1, name: n("missing") }), Status.ENOENT);
  const user = ctxOf(1000);
  const closed = a.mkdir(1, "closed", rootCtx, 0o755);
  s.mkdir("e#1", 0, 1, closed, "e@1");
  assert.equal(a.status({ kind: "rmdir", parent: closed, name: n("e@1") }, user), Status.EACCES);
});

test("RENAME: forwarded when the target parent, the moved node or the replaced node is elsewhere, or a directory changes parent", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  const local = a.mkdir(1, "local");
  const other = a.mkdir(1, "other");
  a.create(1, "file");
  const rename = (parentSrc: number, nameSrc: string, parentDst: number, nameDst: string): Command =>
    ({ kind: "rename", parentSrc, nameSrc: n(nameSrc), parentDst, nameDst: n(nameDst) });
  assert.deepEqual(a.exec(rename(1, "file", far, "file")), forwarded, "target parent on another shard");
  assert.equal(a.status(rename(0x7ffe, "file", far, "file")), Status.ENOENT, "a missing source parent is ENOENT first");
  assert.deepEqual(a.exec(rename(1, "far@1", local, "x")), forwarded, "the moved node is remote");
  assert.deepEqual(a.exec(rename(1, "file", 1, "far@1")), forwarded, "the replaced node is remote");
  assert.deepEqual(a.exec(rename(1, "local", other, "local")), forwarded, "a directory changes parent in a sharded cluster");
  assert.equal(a.status(rename(1, "local", local, "x")), Status.EINVAL, "a cycle seen locally is refused here");
  assert.equal(a.status(rename(1, "local", 1, "renamed")), Status.OK, "a directory renamed in its parent stays local");
  assert.equal(a.status(rename(1, "file", other, "file")), Status.OK, "a file moving between local parents stays local");
  assert.equal(a.status(rename(1, "nothing", other, "x")), Status.ENOENT);
  // Unsharded: a directory changes parent locally, as always.
  const h = new Harness();
  const d = h.mkdir(1, "d");
  const e = h.mkdir(1, "e");
  assert.equal(h.status(rename(1, "d", e, "d")), Status.OK);
  assert.deepEqual(h.names(e), [".", "..", "d"]);
  assert.equal(d > 0, true);
});

test("LINK of a node of another shard is forwarded once the target directory exists", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const b = s.at(1);
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  const remoteFile = b.create(far, "f");
  assert.deepEqual(a.exec({ kind: "link", inode: remoteFile, parentDst: 1, nameDst: n("l") }), forwarded);
  assert.equal(a.status({ kind: "link", inode: remoteFile, parentDst: 0x7ffe, nameDst: n("l") }), Status.ENOENT);
  const localFile = a.create(1, "g");
  assert.equal(a.status({ kind: "link", inode: localFile, parentDst: 1, nameDst: n("g2") }), Status.OK);
});

/** A prepared (undecided) transaction on shard 0 adding an entry "new@1" to the root. */
function preparedMkdir(s: Shards, clientRequestId = "client-1"): void {
  const cmd = { kind: "mkdir", parent: 1, name: n("new@1"), mode: 0o755, umask: 0, copysgid: false } as const;
  okOutputs(s.prepare(0, `${clientRequestId}#1`, [{ op: "entry-new", cmd }], rootCtx, clientRequestId), "prepare");
}

test("TXLOCKED: mutating commands touching what a prepared transaction holds wait; reads do not", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const d = a.mkdir(1, "d");
  const f = a.create(d, "f");
  preparedMkdir(s);
  assert.deepEqual(a.exec({ kind: "create", parent: 1, name: n("x"), mode: 0o644, umask: 0 }), { result: { status: Status.TXLOCKED }, entry: null });
  assert.equal(a.status({ kind: "setattr", inode: 1, opened: false, setmask: 2, mode: 0o700, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 }), Status.TXLOCKED);
  assert.equal(a.status({ kind: "rename", parentSrc: d, nameSrc: n("f"), parentDst: 1, nameDst: n("f") }), Status.TXLOCKED, "parentDst is locked");
  assert.equal(a.status({ kind: "lookup", parent: 1, name: n("d") }), Status.OK);
  assert.equal(a.status({ kind: "readdir", inode: 1, withAttr: false, maxEntries: 10 }), Status.OK);
  assert.equal(a.status({ kind: "unlink", parent: d, name: n("f") }), Status.OK, "nothing locked there");
  assert.equal(a.status({ kind: "lookup", parent: d, name: n("f") }), Status.ENOENT);
  assert.ok(f > 0);
  okOutputs(s.commit(0, "client-1#1", remoteInode), "commit");
  assert.equal(a.status({ kind: "create", parent: 1, name: n("x"), mode: 0o644, umask: 0 }), Status.OK);
});

test("TXLOCKED covers the node an unlink/rmdir/rename removes, not only the named directories", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const d = a.mkdir(1, "d");
  a.create(d, "f");
  // A prepared link of d/f's node elsewhere locks the node itself (edge-add on its shard).
  const f = (a.lookup(d, "f") as Extract<Result, { inode: number }>).inode;
  okOutputs(s.prepare(0, "l#1", [{ op: "edge-add", inode: f, parent: remoteInode, name: n("l") }], rootCtx, "l"), "prepare edge-add");
  assert.equal(a.status({ kind: "unlink", parent: d, name: n("f") }), Status.TXLOCKED);
  assert.equal(a.status({ kind: "rename", parentSrc: d, nameSrc: n("f"), parentDst: d, nameDst: n("g") }), Status.TXLOCKED);
  assert.equal(s.abort(0, "l#1").result.status, Status.OK);
  assert.equal(a.status({ kind: "unlink", parent: d, name: n("f") }), Status.OK);
});

test("a retry of a client request a transaction took is forwarded to the coordinator", () => {
  const s = new Shards(2);
  const a = s.at(0);
  preparedMkdir(s, "req-7");
  const retry = { kind: "mkdir", parent: 1, name: n("new@1"), mode: 0o755, umask: 0, copysgid: false } as const;
  assert.deepEqual(a.exec(retry, { ...rootCtx, requestId: "req-7" }), forwarded);
  okOutputs(s.commit(0, "req-7#1", remoteInode), "commit");
  assert.deepEqual(a.exec(retry, { ...rootCtx, requestId: "req-7" }), forwarded, "also after the commit");
  assert.equal(a.status(retry, { ...rootCtx, requestId: "req-8" }), Status.EEXIST);
});

test("txinspect: facts of a node and of one of its entries (remote ones by their entry's type)", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const user = ctxOf(1000, [100]);
  a.ok({ kind: "setattr", inode: 1, opened: false, setmask: 2, mode: 0o1777, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  const d = a.mkdir(1, "d", user, 0o750);
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  const root = a.ok({ kind: "txinspect", inode: 1, name: n("far@1") });
  assert.deepEqual(root.node, {
    inode: 1, type: NodeType.DIRECTORY, uid: 0, gid: 0, mode: 0o1777, eattr: 0, parents: [], entryCount: 2, locked: false,
  });
  assert.deepEqual(root.entry, { inode: far, type: NodeType.DIRECTORY });
  assert.deepEqual(a.ok({ kind: "txinspect", inode: 1, name: n("d") }).entry, { inode: d, type: NodeType.DIRECTORY });
  assert.equal(a.ok({ kind: "txinspect", inode: 1, name: n("none") }).entry, null);
  const facts = a.ok({ kind: "txinspect", inode: d });
  assert.deepEqual(facts.node?.parents, [{ parent: 1, name: "d" }]);
  assert.equal(facts.node?.uid, 1000);
  assert.equal(facts.entry, undefined);
  assert.equal(a.ok({ kind: "txinspect", inode: 0x7ffe }).node, null);
  const remoteSide = s.at(1).ok({ kind: "txinspect", inode: far });
  assert.deepEqual(remoteSide.node?.parents, [{ parent: 1, name: "far@1" }]);
  preparedMkdir(s);
  assert.equal(a.ok({ kind: "txinspect", inode: 1 }).node?.locked, true);
  assert.equal(a.ok({ kind: "txinspect", inode: d }).node?.locked, false);
});

test("fsckdump pages nodes in inode order with remote entries marked; a sound shard has no problems", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const d = a.mkdir(1, "d");
  const files = [a.create(d, "f1"), a.create(d, "f2"), a.create(1, "g")];
  const far = s.mkdir("far#1", 0, 1, 1, "far@1");
  const pages: FsckNode[][] = [];
  let after = 0;
  for (let guard = 0; guard < 10; guard++) {
    const page = a.ok({ kind: "fsckdump", slot: 0, afterInode: after, max: 2 });
    if (after === 0) assert.deepEqual(page.problems, []);
    else assert.deepEqual(page.problems, [], "problems only on the first page");
    assert.deepEqual(page.prepared, []);
    pages.push([...page.nodes]);
    if (page.next === null) break;
    after = page.next;
  }
  const inodes = pages.flat().map((node) => node.inode);
  assert.deepEqual(inodes, [1, d, ...files].sort((x, y) => x - y));
  assert.ok(pages.every((page) => page.length <= 2));
  const root = pages.flat().find((node) => node.inode === 1)!;
  assert.deepEqual(root.entries?.find((e) => e.name === "far@1"), { name: "far@1", inode: far, type: NodeType.DIRECTORY, remote: true });
  assert.deepEqual(root.entries?.find((e) => e.name === "d"), { name: "d", inode: d, type: NodeType.DIRECTORY, remote: false });
  const b = s.at(1).ok({ kind: "fsckdump", slot: 1, afterInode: 0, max: 100 });
  assert.deepEqual(b.nodes.map((node) => [node.inode, node.parents, node.detached]), [[far, [{ parent: 1, name: "far@1" }], false]]);
  assert.deepEqual(b.problems, [], "an edge to a parent of another shard is no problem");
  assert.equal(b.next, null);
  preparedMkdir(s);
  assert.deepEqual(a.ok({ kind: "fsckdump", slot: 0, afterInode: 0, max: 1 }).prepared, ["client-1#1"]);
});

test("fsckdump reports broken local invariants", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d");
  h.create(d, "f");
  const snapshot = decodeSnapshot(h.m.exportState());
  // Break it: d's subdirs count and recursive stats are wrong, and the root's entry loses its edge.
  const nodes = snapshot.nodes.map((node) => {
    if (node.inode === d) return { ...node, parents: [], dir: { ...(node.dir as object), subdirs: 3 } };
    return node;
  });
  const lines = [encodeMessage(snapshot.header), ...nodes.map((node) => encodeMessage(node))];
  const bytes = new Uint8Array(lines.reduce((sum, line) => sum + line.length + 1, 0));
  let at = 0;
  for (const line of lines) {
    bytes.set(line, at);
    bytes[at + line.length] = 10;
    at += line.length + 1;
  }
  h.m.importState(bytes);
  const problems = h.ok({ kind: "fsckdump", slot: 0, afterInode: 0, max: 10 }).problems;
  assert.ok(problems.some((p) => p.includes(`directory ${d}: subdirs 3`)), problems.join("\n"));
  assert.ok(problems.some((p) => p.includes("the node lacks the parent edge")), problems.join("\n"));
  assert.ok(problems.some((p) => p.includes(`node ${d} has no parent`)), problems.join("\n"));
});

test("an inode no slot can hold is answered by the handler, not MOVED", () => {
  const s = new Shards(2);
  assert.equal(s.at(1).status({ kind: "getattr", inode: 0xfffffff0, opened: false }), Status.ENOENT);
});
