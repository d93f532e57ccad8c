import assert from "node:assert/strict";
import { test } from "node:test";
import { nameFromText, NodeType, Status, type TxPart } from "@antler/ops";
import { ctxOf, rootCtx } from "../test-kit.ts";
import { decodeSnapshot, okOutputs, Shards } from "./tx-test-kit.ts";

const n = nameFromText;

function nodeJson(shards: Shards, k: number, inode: number): Record<string, unknown> | undefined {
  return decodeSnapshot(shards.at(k).m.exportState()).nodes.find((node) => node.inode === inode);
}

function parentsOf(shards: Shards, k: number, inode: number): [number, string][] | undefined {
  return nodeJson(shards, k, inode)?.parents as [number, string][] | undefined;
}

test("mkdir across shards: the parent's shard gets a remote entry, the node's shard the node with its edge", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const b = s.at(1);
  a.ok({ kind: "setgoal", inode: 1, uid: 0, goal: 3, smode: 0 });
  const user = ctxOf(1000, [100]);
  const dir = s.mkdir("r1#1", 0, 1, 1, "home", user, 0o750);
  assert.equal(s.shardOf(dir), 1);
  assert.deepEqual(a.names(1), [".", "..", "home"]);
  const attr = b.attr(dir);
  assert.equal(attr.type, NodeType.DIRECTORY);
  assert.equal(attr.mode, 0o750);
  assert.equal(attr.uid, 1000);
  assert.equal(attr.gid, 100);
  assert.equal(attr.nlink, 2);
  assert.equal(b.ok({ kind: "getgoal", inode: dir, gmode: 0 }).dirs[0]?.value, 3, "inherited from the parent on the other shard");
  assert.deepEqual(parentsOf(s, 1, dir), [[1, "home"]]);
  assert.equal(a.attr(1).nlink, 3, "the remote subdirectory counts in the parent's nlink");
  // The new directory is an ordinary local directory of its shard.
  const file = b.create(dir, "f", user);
  assert.equal(s.shardOf(file), 1);
  assert.deepEqual(b.names(dir), [".", "..", "f"]);
  // A second mkdir of the same name is refused by the parent's shard as mkdir would refuse it.
  const again = s.prepare(0, "r2#1", [{ op: "entry-new", cmd: { kind: "mkdir", parent: 1, name: n("home"), mode: 0o755, umask: 0, copysgid: false } }]);
  assert.equal(again.result.status, Status.EEXIST);
  assert.equal(again.entry, null);
});

test("entry-new checks as the command would: permissions, read-only session", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const locked = a.mkdir(1, "locked", rootCtx, 0o755);
  const mkdir = { kind: "mkdir", parent: locked, name: n("x"), mode: 0o755, umask: 0, copysgid: false } as const;
  assert.equal(s.prepare(0, "t1#1", [{ op: "entry-new", cmd: mkdir }], ctxOf(1000)).result.status, Status.EACCES);
  assert.equal(s.prepare(0, "t2#1", [{ op: "entry-new", cmd: mkdir }], { ...rootCtx, sesflags: 1 }).result.status, Status.EROFS);
  assert.equal(s.prepare(0, "t3#1", [{ op: "entry-new", cmd: { ...mkdir, parent: 0x7fff } }]).result.status, Status.ENOENT);
});

test("a spilled create: the file is made on another shard and opened for the caller's session", () => {
  const s = new Shards(2);
  const user = ctxOf(1000, [100], 7);
  const { inode, nodeOutput } = s.newNode("c#1", 0, 1, { kind: "create", parent: 1, name: n("big"), mode: 0o640, umask: 0o022 }, user);
  assert.equal(nodeOutput.op, "node-new");
  if (nodeOutput.op !== "node-new") return;
  assert.equal(nodeOutput.inode, inode);
  assert.equal(nodeOutput.attr?.type, NodeType.FILE);
  assert.equal(nodeOutput.attr?.mode, 0o640);
  assert.equal(typeof nodeOutput.oflags, "number");
  const open = decodeSnapshot(s.at(1).m.exportState()).header.openFiles as [number, number[]][];
  assert.deepEqual(open, [[7, [inode]]]);
  assert.deepEqual(s.at(0).names(1), [".", "..", "big"]);
  assert.equal(s.at(0).attr(1).nlink, 2, "a remote file does not count in nlink");
});

test("rmdir of a remote entry: entry side first, then the node goes; a non-empty directory is ENOTEMPTY", () => {
  const s = new Shards(2);
  const dir = s.mkdir("m#1", 0, 1, 1, "d");
  const file = s.at(1).create(dir, "f");
  const rmdir: readonly (readonly [number, readonly TxPart[]])[] = [
    [0, [{ op: "entry-remove", parent: 1, name: n("d"), inode: dir, kind: "rmdir", nodeUid: 0 }]],
    [1, [{ op: "edge-remove", inode: dir, parent: 1, name: n("d"), kind: "rmdir" }]],
  ];
  okOutputs(s.prepare(0, "rm#1", rmdir[0]![1]), "entry side");
  assert.equal(s.prepare(1, "rm#1", rmdir[1]![1]).result.status, Status.ENOTEMPTY);
  assert.equal(s.abort(0, "rm#1").result.status, Status.OK);
  s.at(1).ok({ kind: "unlink", parent: dir, name: n("f") });
  assert.equal(s.at(1).status({ kind: "getattr", inode: file, opened: false }), Status.OK, "kept in the trash");
  s.run("rm#2", rmdir);
  assert.deepEqual(s.at(0).names(1), [".", ".."]);
  assert.equal(s.at(0).attr(1).nlink, 2);
  assert.equal(nodeJson(s, 1, dir), undefined, "the directory is freed");
  // unlink of a directory entry is EPERM on the entry's side, as UNLINK of a directory.
  const other = s.mkdir("m#2", 0, 1, 1, "e");
  assert.equal(s.prepare(0, "u#1", [{ op: "entry-remove", parent: 1, name: n("e"), inode: other, kind: "unlink", nodeUid: 0 }]).result.status, Status.EPERM);
});

test("link across shards, then unlink of both names: nlink, trash on the last one", () => {
  const s = new Shards(2);
  const dir = s.mkdir("m#1", 0, 1, 1, "d");
  const file = s.at(1).create(dir, "f");
  const outputs = s.run("l#1", [
    [0, [{ op: "entry-add", parent: 1, name: n("hard"), inode: file, type: NodeType.FILE, kind: "link", replace: null, replaceUid: 0 }]],
    [1, [{ op: "edge-add", inode: file, parent: 1, name: n("hard") }]],
  ]);
  const edgeOut = outputs.get(1)![0]!;
  assert.equal(edgeOut.op === "edge-add" ? edgeOut.attr?.nlink : -1, 2);
  assert.equal(s.at(1).attr(file).nlink, 2);
  assert.deepEqual(parentsOf(s, 1, file), [[dir, "f"], [1, "hard"]]);
  assert.deepEqual(s.at(0).names(1).sort(), [".", "..", "d", "hard"]);
  // Linking the same name again: EEXIST from the entry side.
  assert.equal(s.prepare(0, "l#2", [{ op: "entry-add", parent: 1, name: n("hard"), inode: file, type: NodeType.FILE, kind: "link", replace: null, replaceUid: 0 }]).result.status, Status.EEXIST);
  // Remove the remote name: the node keeps its other link.
  s.run("u#1", [
    [0, [{ op: "entry-remove", parent: 1, name: n("hard"), inode: file, kind: "unlink", nodeUid: 0 }]],
    [1, [{ op: "edge-remove", inode: file, parent: 1, name: n("hard"), kind: "unlink" }]],
  ]);
  assert.equal(s.at(1).attr(file).nlink, 1);
  assert.ok(!s.at(0).names(1).includes("hard"));
  // A directory cannot get another link (EPERM on the node's side).
  assert.equal(s.prepare(1, "l#3", [{ op: "edge-add", inode: dir, parent: 1, name: n("x") }]).result.status, Status.EPERM);
  // Move the last link to the root through a rename, then unlink it remotely: the file goes to the trash.
  s.run("mv#1", [
    [1, [
      { op: "entry-remove", parent: dir, name: n("f"), inode: file, kind: "rename", nodeUid: 0 },
      { op: "edge-move", inode: file, from: { parent: dir, name: n("f") }, to: { parent: 1, name: n("g") } },
    ]],
    [0, [{ op: "entry-add", parent: 1, name: n("g"), inode: file, type: NodeType.FILE, kind: "rename", replace: null, replaceUid: 0 }]],
  ]);
  s.run("u#2", [
    [0, [{ op: "entry-remove", parent: 1, name: n("g"), inode: file, kind: "unlink", nodeUid: 0 }]],
    [1, [{ op: "edge-remove", inode: file, parent: 1, name: n("g"), kind: "unlink" }]],
  ]);
  const header = decodeSnapshot(s.at(1).m.exportState()).header;
  assert.deepEqual(header.trash, [file]);
  assert.deepEqual((nodeJson(s, 1, file)?.detached as { path: string }).path, "g");
});

test("the sticky bit on the entry's side uses the remote node's owner", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const tmp = a.mkdir(1, "tmp", rootCtx, 0o1777);
  const owner = ctxOf(1000);
  const stranger = ctxOf(2000);
  const dir = s.mkdir("m#1", 0, 1, tmp, "mine", owner);
  const remove = (ctx: typeof owner, txid: string): number =>
    s.prepare(0, txid, [{ op: "entry-remove", parent: tmp, name: n("mine"), inode: dir, kind: "rmdir", nodeUid: 1000 }], ctx).result.status;
  assert.equal(remove(stranger, "x#1"), Status.EPERM);
  assert.equal(remove(owner, "x#2"), Status.OK);
});

test("rename across two shards: a directory moves under a directory of the other shard", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const src = a.mkdir(1, "src");
  const moved = a.mkdir(src, "moved");
  a.create(moved, "inner");
  const dst = s.mkdir("m#1", 0, 1, 1, "dst@1");
  const before = a.attr(1).length;
  const outputs = s.run("mv#1", [
    [0, [
      { op: "entry-remove", parent: src, name: n("moved"), inode: moved, kind: "rename", nodeUid: 0 },
      { op: "edge-move", inode: moved, from: { parent: src, name: n("moved") }, to: { parent: dst, name: n("here") } },
    ]],
    [1, [{ op: "entry-add", parent: dst, name: n("here"), inode: moved, type: NodeType.DIRECTORY, kind: "rename", replace: null, replaceUid: 0 }]],
  ]);
  const moveOut = outputs.get(0)![1]!;
  assert.equal(moveOut.op === "edge-move" ? moveOut.attr?.type : -1, NodeType.DIRECTORY);
  assert.deepEqual(a.names(src), [".", ".."]);
  assert.equal(a.attr(src).nlink, 2);
  assert.deepEqual(s.at(1).names(dst), [".", "..", "here"]);
  assert.equal(s.at(1).attr(dst).nlink, 3);
  assert.deepEqual(parentsOf(s, 0, moved), [[dst, "here"]]);
  assert.ok(a.attr(1).length <= before, "the moved subtree no longer counts on the source side");
  // The moved directory still works locally on its own shard.
  assert.deepEqual(a.names(moved), [".", "..", "inner"]);
});

test("rename across three shards (source parent, target parent, node) and four (a replaced target)", () => {
  const s = new Shards(4);
  const from = s.mkdir("m#1", 0, 1, 1, "from@1");
  const to = s.mkdir("m#2", 0, 2, 1, "to@2");
  const node = s.mkdir("m#3", 1, 3, from, "n@3");
  const old = s.mkdir("m#4", 2, 0, to, "old@0");
  // Three shards: from (1) → to (2), the node on 3.
  s.run("mv#1", [
    [1, [{ op: "entry-remove", parent: from, name: n("n@3"), inode: node, kind: "rename", nodeUid: 0 }]],
    [2, [{ op: "entry-add", parent: to, name: n("moved"), inode: node, type: NodeType.DIRECTORY, kind: "rename", replace: null, replaceUid: 0 }]],
    [3, [{ op: "edge-move", inode: node, from: { parent: from, name: n("n@3") }, to: { parent: to, name: n("moved") } }]],
  ]);
  assert.deepEqual(s.at(1).names(from), [".", ".."]);
  assert.deepEqual(s.at(2).names(to).sort(), [".", "..", "moved", "old@0"]);
  assert.deepEqual(parentsOf(s, 3, node), [[to, "moved"]]);
  // Four shards: the node (3) moves from `to` (2) back into `from` (1), replacing the empty
  // directory from/x@0, whose node is on shard 0.
  const victim = s.mkdir("m#5", 1, 0, from, "x@0");
  assert.equal(s.at(1).attr(from).nlink, 3);
  const outputs = s.run("mv#2", [
    [2, [{ op: "entry-remove", parent: to, name: n("moved"), inode: node, kind: "rename", nodeUid: 0 }]],
    [1, [{ op: "entry-add", parent: from, name: n("x@0"), inode: node, type: NodeType.DIRECTORY, kind: "rename", replace: victim, replaceUid: 0 }]],
    [3, [{ op: "edge-move", inode: node, from: { parent: to, name: n("moved") }, to: { parent: from, name: n("x@0") } }]],
    [0, [{ op: "edge-remove", inode: victim, parent: from, name: n("x@0"), kind: "replaced" }]],
  ]);
  assert.deepEqual(outputs.get(0), [{ op: "edge-remove" }]);
  assert.deepEqual(s.at(1).names(from), [".", "..", "x@0"]);
  assert.equal(s.at(1).attr(from).nlink, 3);
  assert.deepEqual(s.at(2).names(to), [".", "..", "old@0"]);
  assert.equal(s.at(2).attr(to).nlink, 3);
  assert.equal(nodeJson(s, 0, victim), undefined, "the replaced directory is freed");
  assert.ok(nodeJson(s, 0, old) !== undefined);
  assert.deepEqual(parentsOf(s, 3, node), [[from, "x@0"]]);
  // A replaced directory that is not empty: ENOTEMPTY from its shard.
  const full = s.mkdir("m#6", 2, 0, to, "full@0");
  s.at(0).create(full, "f");
  const refused = s.prepare(0, "mv#3", [{ op: "edge-remove", inode: full, parent: to, name: n("full@0"), kind: "replaced" }]);
  assert.equal(refused.result.status, Status.ENOTEMPTY);
});

test("stale facts (the entry names another inode, the name was taken) are TXLOCKED: the coordinator plans again", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const f = a.create(1, "f");
  const g = a.create(1, "g");
  const unlinkG: TxPart[] = [
    { op: "entry-remove", parent: 1, name: n("f"), inode: g, kind: "unlink", nodeUid: 0 },
    { op: "edge-remove", inode: g, parent: 1, name: n("f"), kind: "unlink" },
  ];
  assert.equal(s.prepare(0, "x#1", unlinkG).result.status, Status.TXLOCKED);
  const renameOnto = (to: string): TxPart[] => [
    { op: "entry-add", parent: 1, name: n(to), inode: f, type: NodeType.FILE, kind: "rename", replace: null, replaceUid: 0 },
    { op: "entry-remove", parent: 1, name: n("f"), inode: f, kind: "rename", nodeUid: 0 },
    { op: "edge-move", inode: f, from: { parent: 1, name: n("f") }, to: { parent: 1, name: n(to) } },
  ];
  assert.equal(s.prepare(0, "x#2", renameOnto("g")).result.status, Status.TXLOCKED, "g was free when planned");
  assert.equal(s.prepare(0, "x#3", [
    { op: "edge-move", inode: f, from: { parent: 1, name: n("nope") }, to: { parent: 1, name: n("h") } },
    { op: "entry-remove", parent: 1, name: n("nope"), inode: f, kind: "rename", nodeUid: 0 },
    { op: "entry-add", parent: 1, name: n("h"), inode: f, type: NodeType.FILE, kind: "rename", replace: null, replaceUid: 0 },
  ]).result.status, Status.TXLOCKED);
  assert.equal(s.prepare(0, "x#4", renameOnto("h")).result.status, Status.OK);
});

test("a node whose owner changed since the coordinator inspected it is stale facts: the sticky judgement is redone", () => {
  // Found by the sharded simulation (seed 801298): the entry's shard judged the sticky bit by the
  // owner the coordinator had inspected, a chown landed before the node's shard prepared (and
  // locked) the node, and a rename the sticky bit forbids was committed.
  const s = new Shards(2);
  const owner = ctxOf(1000);
  // A directory on shard 1 whose entry lives in the root on shard 0.
  const dir = s.mkdir("m#1", 0, 1, 1, "mine", owner);
  const move = (ownerUid: number | undefined): TxPart[] => [
    { op: "edge-move", inode: dir, from: { parent: 1, name: n("mine") }, to: { parent: 1, name: n("yours") }, ...(ownerUid === undefined ? {} : { ownerUid }) },
  ];
  const remove = (ownerUid: number): TxPart[] => [{ op: "edge-remove", inode: dir, parent: 1, name: n("mine"), kind: "rmdir", ownerUid }];
  assert.equal(s.prepare(1, "x#1", move(0)).result.status, Status.TXLOCKED, "the directory belongs to 1000, not root");
  assert.equal(s.prepare(1, "x#2", remove(0)).result.status, Status.TXLOCKED);
  assert.equal(s.prepare(1, "x#3", remove(1000)).result.status, Status.OK);
  s.abort(1, "x#3");
  assert.equal(s.prepare(1, "x#4", move(1000)).result.status, Status.OK);
  s.abort(1, "x#4");
  // Parts prepared before the field existed carry none: no check.
  assert.equal(s.prepare(1, "x#5", move(undefined)).result.status, Status.OK);
});

test("unlink of a remote entry naming an open file without trash time: the file is sustained", () => {
  const s = new Shards(2);
  const dir = s.mkdir("m#1", 0, 1, 1, "d");
  const b = s.at(1);
  const file = b.create(dir, "f", ctxOf(0, [0], 9));
  b.ok({ kind: "settrashtime", inode: file, uid: 0, trashtime: 0, smode: 0 });
  s.run("l#1", [
    [0, [{ op: "entry-add", parent: 1, name: n("l"), inode: file, type: NodeType.FILE, kind: "link", replace: null, replaceUid: 0 }]],
    [1, [{ op: "edge-add", inode: file, parent: 1, name: n("l") }]],
  ]);
  b.ok({ kind: "unlink", parent: dir, name: n("f") });
  assert.equal(b.attr(file).nlink, 1);
  s.run("u#1", [
    [0, [{ op: "entry-remove", parent: 1, name: n("l"), inode: file, kind: "unlink", nodeUid: 0 }]],
    [1, [{ op: "edge-remove", inode: file, parent: 1, name: n("l"), kind: "unlink" }]],
  ]);
  const header = decodeSnapshot(b.m.exportState()).header;
  assert.deepEqual(header.sustained, [file], "still open by session 9");
  assert.deepEqual(header.trash, []);
  // Checks on the node's side: an undeletable file is EPERM.
  const keep = b.create(dir, "keep");
  b.ok({ kind: "seteattr", inode: keep, uid: 0, eattr: 0x20, smode: 0 }, { ...rootCtx, sesflags: 0x08 });
  assert.equal(s.prepare(1, "u#2", [
    { op: "edge-remove", inode: keep, parent: dir, name: n("keep"), kind: "unlink" },
    { op: "entry-remove", parent: dir, name: n("keep"), inode: keep, kind: "unlink", nodeUid: 0 },
  ]).result.status, Status.EPERM);
});

test("a session rooted in a subfolder: nodes whose path leaves the shard count as visible, local ones are checked", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const home = a.mkdir(1, "home");
  const outside = a.mkdir(1, "outside");
  const sub = s.mkdir("m#1", 0, 1, home, "sub@1");
  const session = { ...rootCtx, rootInode: home };
  const mkdirIn = (parent: number, name: string): TxPart =>
    ({ op: "entry-new", cmd: { kind: "mkdir", parent, name: n(name), mode: 0o755, umask: 0, copysgid: false } });
  // On shard 1 the path of `sub` goes on to shard 0: this shard cannot tell, the coordinator checked.
  assert.equal(s.prepare(1, "v#1", [mkdirIn(sub, "x")], session).result.status, Status.OK);
  // On shard 0 the whole path is local: a directory outside the session's root is not there for it.
  assert.equal(s.prepare(0, "v#2", [mkdirIn(outside, "x")], session).result.status, Status.ENOENT);
  assert.equal(s.prepare(0, "v#3", [mkdirIn(home, "x")], session).result.status, Status.OK);
});
