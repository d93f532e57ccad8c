/**
 * A transaction whose parts are all on one shard must leave exactly the state the local command
 * leaves: two identical machines, one runs the command, the other the transaction (its commit at
 * the same moment), and every node, entry order, tombstone, trash and open file must match.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isFailure, nameFromText, NodeType, Status, type Command, type Result, type TxPart, type TxPartOutput } from "@antler/ops";
import { Harness, rootCtx } from "../test-kit.ts";
import { decodeSnapshot, okOutputs } from "./tx-test-kit.ts";

const n = nameFromText;

interface Tree {
  readonly a: number;
  readonly b: number;
  readonly moved: number;
  readonly victim: number;
  readonly file: number;
  readonly linked: number;
  readonly target: number;
  readonly empty: number;
}

/** The same small tree on a machine: directories with contents (so stats move), links, a symlink. */
function build(h: Harness): Tree {
  const a = h.mkdir(1, "a");
  const b = h.mkdir(1, "b");
  const moved = h.mkdir(a, "moved");
  h.create(moved, "inner");
  h.ok({ kind: "symlink", parent: moved, name: n("sl"), target: n("somewhere/else") });
  const victim = h.mkdir(b, "victim");
  const file = h.create(a, "file");
  h.ok({ kind: "truncate", inode: file, flags: 0, length: 1000 });
  const linked = h.create(b, "linked");
  h.ok({ kind: "link", inode: linked, parentDst: a, nameDst: n("second") });
  const target = h.create(b, "target");
  const empty = h.mkdir(a, "empty");
  return { a, b, moved, victim, file, linked, target, empty };
}

function pair(): { plain: Harness; txn: Harness; tree: Tree } {
  const plain = new Harness();
  const txn = new Harness();
  const tree = build(plain);
  assert.deepEqual(build(txn), tree);
  assert.deepEqual(txn.m.exportState(), plain.m.exportState());
  return { plain, txn, tree };
}

/** Runs `cmd` on `plain` and the transaction of `parts` on `txn`, the commit at the command's time. */
function compare(plain: Harness, txn: Harness, cmd: Command, parts: readonly TxPart[], txid: string): { result: Result; outputs: readonly TxPartOutput[] } {
  okOutputs(txn.exec({ kind: "txprepare", slot: 0, txid, parts, clientRequestId: txid }, { ...rootCtx, requestId: `${txid}/1` }), "prepare");
  plain.run({ kind: "getattr", inode: 1, opened: false }); // keeps the clocks in step
  const result = plain.run(cmd);
  assert.ok(!isFailure(result), `${cmd.kind} failed with ${result.status}`);
  const outputs = okOutputs(txn.exec({ kind: "txcommit", slot: 0, txid }, { ...rootCtx, requestId: `${txid}/2` }), "commit");
  assertSameState(plain, txn);
  return { result, outputs };
}

function assertSameState(plain: Harness, txn: Harness): void {
  const mine = decodeSnapshot(plain.m.exportState());
  const theirs = decodeSnapshot(txn.m.exportState());
  assert.deepEqual(theirs.nodes, mine.nodes);
  // Entry order (readdir order) and field order are part of the state too.
  for (const node of mine.nodes) {
    const other = theirs.nodes.find((x) => x.inode === node.inode)!;
    assert.equal(JSON.stringify(other.dir), JSON.stringify(node.dir), `entries of ${node.inode}`);
    assert.equal(JSON.stringify(other.parents), JSON.stringify(node.parents), `parents of ${node.inode}`);
  }
  const ignored = ["applied", "clock", "requests", "decidedTxns", "txRequests"];
  const strip = (header: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(header).filter(([key]) => !ignored.includes(key)));
  assert.deepEqual(strip(theirs.header), strip(mine.header));
  assert.equal(JSON.stringify(theirs.header.tombstones), JSON.stringify(mine.header.tombstones));
  assert.deepEqual(theirs.header.preparedTxns, []);
}

test("a directory renamed to another parent over an empty directory, parts in any order", () => {
  const { plain, txn, tree } = pair();
  const { result, outputs } = compare(plain, txn, { kind: "rename", parentSrc: tree.a, nameSrc: n("moved"), parentDst: tree.b, nameDst: n("victim") }, [
    { op: "edge-remove", inode: tree.victim, parent: tree.b, name: n("victim"), kind: "replaced" },
    { op: "edge-move", inode: tree.moved, from: { parent: tree.a, name: n("moved") }, to: { parent: tree.b, name: n("victim") } },
    { op: "entry-add", parent: tree.b, name: n("victim"), inode: tree.moved, type: NodeType.DIRECTORY, kind: "rename", replace: tree.victim, replaceUid: 0 },
    { op: "entry-remove", parent: tree.a, name: n("moved"), inode: tree.moved, kind: "rename", nodeUid: 0 },
  ], "mv#1");
  assert.deepEqual(outputs.map((o) => o.op), ["edge-remove", "edge-move", "entry-add", "entry-remove"]);
  assert.deepEqual(outputs[1], { op: "edge-move", attr: (result as { attr: unknown }).attr });
  assert.equal(plain.status({ kind: "getattr", inode: tree.victim, opened: false }), Status.ENOENT);
});

test("a file renamed over a file that has another link, and over one that goes to the trash", () => {
  const { plain, txn, tree } = pair();
  // b/linked (also a/second) is replaced by a/file: it keeps its other link.
  const first = compare(plain, txn, { kind: "rename", parentSrc: tree.a, nameSrc: n("file"), parentDst: tree.b, nameDst: n("linked") }, [
    { op: "entry-remove", parent: tree.a, name: n("file"), inode: tree.file, kind: "rename", nodeUid: 0 },
    { op: "entry-add", parent: tree.b, name: n("linked"), inode: tree.file, type: NodeType.FILE, kind: "rename", replace: tree.linked, replaceUid: 0 },
    { op: "edge-move", inode: tree.file, from: { parent: tree.a, name: n("file") }, to: { parent: tree.b, name: n("linked") } },
    { op: "edge-remove", inode: tree.linked, parent: tree.b, name: n("linked"), kind: "replaced" },
  ], "mv#1");
  assert.deepEqual(first.outputs[2], { op: "edge-move", attr: (first.result as { attr: unknown }).attr });
  assert.equal(plain.attr(tree.linked).nlink, 1);
  assert.equal(txn.attr(tree.linked).nlink, 1); // both clocks move on alike
  // b/target is replaced by b/linked (the file): the target goes to the trash.
  compare(plain, txn, { kind: "rename", parentSrc: tree.b, nameSrc: n("linked"), parentDst: tree.b, nameDst: n("target") }, [
    { op: "entry-remove", parent: tree.b, name: n("linked"), inode: tree.file, kind: "rename", nodeUid: 0 },
    { op: "entry-add", parent: tree.b, name: n("target"), inode: tree.file, type: NodeType.FILE, kind: "rename", replace: tree.target, replaceUid: 0 },
    { op: "edge-move", inode: tree.file, from: { parent: tree.b, name: n("linked") }, to: { parent: tree.b, name: n("target") } },
    { op: "edge-remove", inode: tree.target, parent: tree.b, name: n("target"), kind: "replaced" },
  ], "mv#2");
  assert.deepEqual(decodeSnapshot(plain.m.exportState()).header.trash, [tree.target]);
});

test("unlink, rmdir and link as transactions", () => {
  const { plain, txn, tree } = pair();
  compare(plain, txn, { kind: "unlink", parent: tree.a, name: n("second") }, [
    { op: "edge-remove", inode: tree.linked, parent: tree.a, name: n("second"), kind: "unlink" },
    { op: "entry-remove", parent: tree.a, name: n("second"), inode: tree.linked, kind: "unlink", nodeUid: 0 },
  ], "u#1");
  compare(plain, txn, { kind: "unlink", parent: tree.a, name: n("file") }, [
    { op: "entry-remove", parent: tree.a, name: n("file"), inode: tree.file, kind: "unlink", nodeUid: 0 },
    { op: "edge-remove", inode: tree.file, parent: tree.a, name: n("file"), kind: "unlink" },
  ], "u#2");
  compare(plain, txn, { kind: "rmdir", parent: tree.a, name: n("empty") }, [
    { op: "entry-remove", parent: tree.a, name: n("empty"), inode: tree.empty, kind: "rmdir", nodeUid: 0 },
    { op: "edge-remove", inode: tree.empty, parent: tree.a, name: n("empty"), kind: "rmdir" },
  ], "r#1");
  const { result, outputs } = compare(plain, txn, { kind: "link", inode: tree.target, parentDst: tree.moved, nameDst: n("hard") }, [
    { op: "edge-add", inode: tree.target, parent: tree.moved, name: n("hard") },
    { op: "entry-add", parent: tree.moved, name: n("hard"), inode: tree.target, type: NodeType.FILE, kind: "link", replace: null, replaceUid: 0 },
  ], "l#1");
  assert.deepEqual(outputs[0], { op: "edge-add", attr: (result as { attr: unknown }).attr });
});
