import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, encodeMessage, nameFromText, NodeType, Status, type Command, type TxPart } from "@antler/ops";
import { limits } from "@antler/base";
import { slotOfInode } from "@antler/slots";
import { LogDecodeError } from "../errors.ts";
import { newState } from "../state.ts";
import { Harness, rootCtx } from "../test-kit.ts";
import { applyTxOp, lockingTx, preparedTxids, preparedTxns, txOfRequest } from "./index.ts";
import { rememberDecided, rememberTxRequest } from "./memory.ts";
import { decodeSnapshot, okOutputs, Shards, slotOfNewDirectoryForTests } from "./tx-test-kit.ts";

const n = nameFromText;

const mkdirPart = (parent: number, name: string): TxPart =>
  ({ op: "entry-new", cmd: { kind: "mkdir", parent, name: n(name), mode: 0o755, umask: 0, copysgid: false } });

test("repeated txprepare, txcommit and txabort are answered without new entries", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const first = s.prepare(0, "r#1", [mkdirPart(1, "d")]);
  assert.notEqual(first.entry, null);
  const again = s.prepare(0, "r#1", [mkdirPart(1, "d")]);
  assert.equal(again.entry, null);
  assert.deepEqual(again.result, first.result);
  // Commit without the new inode the entry needs: EINVAL, nothing logged.
  const missing = s.commit(0, "r#1");
  assert.equal(missing.result.status, Status.EINVAL);
  assert.equal(missing.entry, null);
  const inode = (1 << 20) | 5;
  const committed = s.commit(0, "r#1", inode);
  assert.notEqual(committed.entry, null);
  assert.deepEqual(okOutputs(committed, "commit").map((o) => o.op), ["entry-new"]);
  const repeat = s.commit(0, "r#1", inode);
  assert.equal(repeat.entry, null);
  assert.deepEqual(repeat.result, { status: Status.OK, outputs: [] });
  assert.equal(s.prepare(0, "r#1", [mkdirPart(1, "d")]).result.status, Status.EINVAL, "prepare after the decision");
  assert.equal(s.abort(0, "r#1").result.status, Status.EINVAL, "abort of a committed transaction");
  assert.equal(s.commit(0, "never#1", inode).result.status, Status.EINVAL, "commit of a transaction never prepared here");
  const unknownAbort = s.abort(0, "never#2");
  assert.equal(unknownAbort.result.status, Status.OK);
  assert.equal(unknownAbort.entry, null);
  // Aborted: a second abort is OK and logs nothing; a commit is refused.
  okOutputs(s.prepare(0, "q#1", [mkdirPart(1, "e")]), "prepare");
  assert.notEqual(s.abort(0, "q#1").entry, null);
  const abortAgain = s.abort(0, "q#1");
  assert.equal(abortAgain.result.status, Status.OK);
  assert.equal(abortAgain.entry, null);
  assert.equal(s.commit(0, "q#1", inode).result.status, Status.EINVAL);
  assert.ok(!a.names(1).includes("e"));
});

test("one transaction per client request: another attempt of a request committed here is TXTAKEN, of an aborted one is not", () => {
  // Found by the sharded simulation with two routers (seed 900477): a stalled coordinator and its
  // successor ran different attempts of one link; both committed, the link was applied twice.
  const s = new Shards(2);
  const inode = (1 << 20) | 5;
  okOutputs(s.prepare(0, "r#1", [mkdirPart(1, "d")], undefined, "r"), "prepare");
  okOutputs(s.commit(0, "r#1", inode), "commit");
  // The name is free again (removed by someone), yet the request was carried out.
  const taken = s.prepare(0, "r#3", [mkdirPart(1, "x")], undefined, "r");
  assert.equal(taken.result.status, Status.TXTAKEN);
  assert.equal(taken.entry, null);
  // An aborted attempt carried nothing out: the next one prepares.
  okOutputs(s.prepare(0, "q#1", [mkdirPart(1, "e")], undefined, "q"), "prepare");
  s.abort(0, "q#1");
  okOutputs(s.prepare(0, "q#2", [mkdirPart(1, "e")], undefined, "q"), "prepare");
});

test("tx commands routed by a slot this shard does not own are MOVED", () => {
  const s = new Shards(2);
  const moved = s.at(0).exec({ kind: "txprepare", slot: 1, txid: "m#1", parts: [mkdirPart(1, "d")], clientRequestId: "m" }, rootCtx);
  assert.equal(moved.result.status, Status.MOVED);
  assert.equal(s.at(0).exec({ kind: "txcommit", slot: 3, txid: "m#1" }, rootCtx).result.status, Status.MOVED);
});

test("malformed or misdirected parts are EINVAL", () => {
  const s = new Shards(2);
  const bad = { op: "entry-add", parent: 1, name: n("x") } as unknown as TxPart;
  assert.equal(s.prepare(0, "b#1", [bad]).result.status, Status.EINVAL);
  assert.equal(s.prepare(0, "b#2", []).result.status, Status.EINVAL);
  // An edge part for a node of shard 1 sent to shard 0.
  const remote = (1 << 20) | 3;
  assert.equal(slotOfInode(remote) % 2, 1);
  assert.equal(s.prepare(0, "b#3", [{ op: "edge-add", inode: remote, parent: 1, name: n("l") }]).result.status, Status.EINVAL);
  // Both sides of a link on this shard, but only one half sent: the other would be left dangling.
  const file = s.at(0).create(1, "f");
  const entryOnly: TxPart = { op: "entry-remove", parent: 1, name: n("f"), inode: file, kind: "unlink", nodeUid: 0 };
  assert.equal(s.prepare(0, "b#4", [entryOnly]).result.status, Status.EINVAL);
  const edgeOnly: TxPart = { op: "edge-remove", inode: file, parent: 1, name: n("f"), kind: "unlink" };
  assert.equal(s.prepare(0, "b#5", [edgeOnly]).result.status, Status.EINVAL);
  assert.equal(s.prepare(0, "b#6", [entryOnly, edgeOnly]).result.status, Status.OK);
});

test("locks: a prepared transaction blocks other transactions and commands on what it touches, not reads", () => {
  const s = new Shards(2);
  const a = s.at(0);
  const dir = a.mkdir(1, "dir");
  const file = a.create(dir, "f");
  okOutputs(s.prepare(0, "l#1", [mkdirPart(dir, "new")], rootCtx, "client-1"), "prepare");
  assert.equal(s.prepare(0, "l2#1", [mkdirPart(dir, "other")]).result.status, Status.TXLOCKED);
  assert.equal(a.status({ kind: "create", parent: dir, name: n("g"), mode: 0o644, umask: 0 }), Status.TXLOCKED);
  assert.equal(a.status({ kind: "unlink", parent: dir, name: n("f") }), Status.TXLOCKED);
  assert.equal(a.status({ kind: "getattr", inode: dir, opened: false }), Status.OK, "reads never wait");
  assert.equal(a.status({ kind: "setattr", inode: file, opened: false, setmask: 2, mode: 0o600, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 }), Status.OK, "the file itself is not locked");
  assert.equal(a.status({ kind: "mkdir", parent: 1, name: n("elsewhere"), mode: 0o755, umask: 0, copysgid: false }), Status.OK);
  // The client's retry is recognised as carried out by the transaction.
  const retry = a.exec({ kind: "mkdir", parent: dir, name: n("new"), mode: 0o755, umask: 0, copysgid: false }, { ...rootCtx, requestId: "client-1" });
  assert.equal(retry.forward, "coordinator");
  assert.equal(s.abort(0, "l#1").result.status, Status.OK);
  assert.equal(a.status({ kind: "create", parent: dir, name: n("g"), mode: 0o644, umask: 0 }), Status.OK, "abort released the lock");
  const afterAbort = a.exec({ kind: "mkdir", parent: dir, name: n("new"), mode: 0o755, umask: 0, copysgid: false }, { ...rootCtx, requestId: "client-1" });
  assert.equal(afterAbort.forward, undefined, "an aborted attempt did not carry out the request");
});

test("a node-new part reserves its inode at prepare; an abort leaves it unused", () => {
  const s = new Shards(2);
  const b = s.at(1);
  const spec = {
    kind: "mkdir", type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 86400,
    eattr: 0, aclAccess: null, aclDefault: null,
  } as const;
  const [out] = okOutputs(s.prepare(1, "n#1", [{ op: "node-new", spec, slot: 1, parent: 1, name: n("d") }]), "prepare");
  const reserved = out?.op === "node-new" ? out.inode : -1;
  assert.equal(slotOfInode(reserved), 1);
  assert.equal(b.status({ kind: "getattr", inode: reserved, opened: false }), Status.ENOENT, "not made before the commit");
  // The coordinator must not take it for missing: the parent's shard may already name it.
  assert.equal(b.status({ kind: "txinspect", inode: reserved }), Status.TXLOCKED, "txinspect of a node being created");
  okOutputs(s.prepare(1, "n2#1", [{ op: "node-new", spec, slot: 1, parent: 1, name: n("e") }]), "a second reservation");
  assert.equal(s.abort(1, "n#1").result.status, Status.OK);
  const header = decodeSnapshot(b.m.exportState()).header;
  assert.deepEqual((header.preparedTxns as { txid: string }[]).map((t) => t.txid), ["n2#1"], "the aborted one is gone");
  assert.deepEqual(header.decidedTxns, [["n#1", "abort"]]);
  const later = s.mkdir("m#1", 0, 1, 1, "later@1");
  assert.equal(slotOfInode(later), 1);
  assert.ok(later > reserved + 1, "counters only grow: neither reservation is handed out again");
  assert.equal(b.status({ kind: "getattr", inode: reserved, opened: false }), Status.ENOENT);
  assert.equal(b.ok({ kind: "txinspect", inode: reserved }).node, null, "an aborted reservation is simply absent");
});

test("txprepare of a prepared txid: the same parts answer the first outputs; other parts (a restarted coordinator's new plan) are TXLOCKED, also under the same request id", () => {
  const s = new Shards(2);
  const b = s.at(1);
  const spec = {
    kind: "mkdir", type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 86400,
    eattr: 0, aclAccess: null, aclDefault: null,
  } as const;
  const prepare = (name: string): Command => ({ kind: "txprepare", slot: 1, txid: "r#1", parts: [{ op: "node-new", spec, slot: 1, parent: 1, name: n(name) }], clientRequestId: "r" });
  const ctx = { ...rootCtx, requestId: "r#1/prepare" };
  const outputs = okOutputs(b.exec(prepare("d"), ctx), "prepare");
  // Parts as restored from the log (another key order) are the same parts.
  const reordered: Command = { clientRequestId: "r", parts: [{ name: n("d"), parent: 1, slot: 1, spec: { ...spec }, op: "node-new" }], txid: "r#1", slot: 1, kind: "txprepare" };
  assert.deepEqual(b.exec(reordered, ctx), { result: { status: Status.OK, outputs }, entry: null }, "a repeat logs nothing");
  assert.equal(b.status(prepare("e"), ctx), Status.TXLOCKED, "not the outputs of the first plan");
  // Once aborted, a late repeat is refused: the transaction is over.
  assert.equal(s.abort(1, "r#1").result.status, Status.OK);
  assert.equal(b.status(prepare("d"), ctx), Status.EINVAL);
});

test("the resolver's view: prepared transactions with their age and request", () => {
  const st = newState({ shardId: 1, metaId: 1n, origin: 1, slots: [0], defaultGoal: 1, defaultTrashtime: 0 }, 0);
  const stamp = { wallMs: 1234, logical: 0, origin: 1 };
  const caller = { sessionId: 1, uid: 0, sesflags: 0 };
  applyTxOp({ st, caller, ts: 1, stamp }, {
    kind: "txprepare", txid: "t#1", clientRequestId: "t", parts: [mkdirPart(1, "d")],
    outputs: [{ op: "entry-new", spec: { kind: "mkdir", type: 2, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 0, eattr: 0, aclAccess: null, aclDefault: null } }],
    locks: [1],
  });
  assert.deepEqual(preparedTxids(st), ["t#1"]);
  assert.deepEqual(preparedTxns(st), [{ txid: "t#1", preparedAtMs: 1234, clientRequestId: "t" }]);
  assert.equal(txOfRequest(st, "t"), "t#1");
  assert.equal(txOfRequest(st, "u"), null);
  assert.equal(lockingTx(st, [5, 1]), "t#1");
  assert.equal(lockingTx(st, [5]), null);
});

test("replay: the entries of every shard rebuild the same state, and so does a snapshot taken mid-transaction", () => {
  const s = new Shards(3);
  const dir = s.mkdir("m#1", 0, 1, 1, "a@1");
  const file = s.at(1).create(dir, "f");
  const other = s.mkdir("m#2", 0, 2, 1, "b@2");
  // Prepared everywhere, then snapshots of every shard, then the commits.
  const parts: [number, TxPart[]][] = [
    [1, [
      { op: "entry-remove", parent: dir, name: n("f"), inode: file, kind: "rename", nodeUid: 0 },
      { op: "edge-move", inode: file, from: { parent: dir, name: n("f") }, to: { parent: other, name: n("g") } },
    ]],
    [2, [{ op: "entry-add", parent: other, name: n("g"), inode: file, type: NodeType.FILE, kind: "rename", replace: null, replaceUid: 0 }]],
  ];
  for (const [k, p] of parts) okOutputs(s.prepare(k, "mv#1", p), "prepare");
  const snapshots = s.shards.map((shard) => shard.m.exportState());
  for (const [k] of parts) okOutputs(s.commit(k, "mv#1"), "commit");
  s.shards.forEach((shard, k) => {
    const replayed = shard.replayed();
    assert.deepEqual(replayed.exportState(), shard.m.exportState(), `shard ${k} replays to the same state`);
    const restored = Harness.machine({ shardId: k + 1, originId: k + 1, slots: [k], slotOfNewDirectory: slotOfNewDirectoryForTests });
    restored.importState(snapshots[k]!);
    assert.deepEqual(restored.exportState(), snapshots[k], "the snapshot round-trips with the prepared transaction");
    const commit = restored.execute({ kind: "txcommit", slot: k, txid: "mv#1" }, rootCtx, shard.nowMs);
    if (k === 0) {
      assert.equal(commit.result.status, Status.EINVAL, "shard 0 took no part");
      return;
    }
    assert.equal(commit.result.status, Status.OK);
    const mine = decodeSnapshot(shard.m.exportState());
    const theirs = decodeSnapshot(restored.exportState());
    assert.deepEqual(theirs.nodes, mine.nodes, `shard ${k}: committing after the import gives the same nodes`);
    const { applied: _a, clock: _c, requests: _r, ...mineHeader } = mine.header;
    const { applied: _a2, clock: _c2, requests: _r2, ...theirHeader } = theirs.header;
    assert.deepEqual(theirHeader, mineHeader, `shard ${k}: and the same everything else`);
  });
});

test("a malformed txprepare entry is a LogDecodeError", () => {
  const h = new Harness();
  const entry = h.exec({ kind: "txprepare", slot: 0, txid: "d#1", parts: [mkdirPart(1, "d")], clientRequestId: "d" }).entry!;
  const good = h.m.encodeEntry(entry);
  assert.deepEqual(h.m.decodeEntry(good), entry);
  const broken = (op: object): Uint8Array => h.m.encodeEntry({ ...entry, op: { ...entry.op, ...op } as typeof entry.op });
  assert.throws(() => h.m.decodeEntry(broken({ parts: [{ op: "entry-new", cmd: { kind: "rmdir" } }] })), LogDecodeError);
  assert.throws(() => h.m.decodeEntry(broken({ outputs: [{ op: "node-new" }] })), LogDecodeError);
  assert.throws(() => h.m.decodeEntry(broken({ txid: 7 })), LogDecodeError);
  assert.throws(() => h.m.decodeEntry(broken({ locks: ["1"] })), LogDecodeError);
  const commit = { ...entry, op: { kind: "txcommit", txid: "d#1", newInode: "5" } } as unknown as typeof entry;
  assert.throws(() => h.m.decodeEntry(h.m.encodeEntry(commit)), LogDecodeError);
});

test("a snapshot with a malformed prepared transaction is a LogDecodeError", () => {
  const h = new Harness();
  okOutputs(h.exec({ kind: "txprepare", slot: 0, txid: "s#1", parts: [mkdirPart(1, "d")], clientRequestId: "s" }), "prepare");
  const bytes = h.m.exportState();
  const end = bytes.indexOf(10);
  const header = decodeMessage(bytes.subarray(0, end)) as Record<string, unknown>;
  assert.equal((header.preparedTxns as unknown[]).length, 1);
  const withHeader = (changed: Record<string, unknown>): Uint8Array => {
    const line = encodeMessage({ ...header, ...changed });
    return new Uint8Array([...line, ...bytes.subarray(end)]);
  };
  const copy = Harness.machine();
  copy.importState(withHeader({}));
  assert.deepEqual(copy.exportState(), bytes);
  const [txn] = header.preparedTxns as Record<string, unknown>[];
  assert.throws(() => copy.importState(withHeader({ preparedTxns: [{ ...txn, locks: ["x"] }] })), LogDecodeError);
  assert.throws(() => copy.importState(withHeader({ preparedTxns: [{ ...txn, outputs: [] }] })), LogDecodeError);
  assert.throws(() => copy.importState(withHeader({ decidedTxns: [["a", 1]] })), LogDecodeError);
});

test("node-new falls back to another owned slot, and is NOSPACE when every owned slot is full", () => {
  const h = new Harness({ slots: [3, 5], slotOfNewDirectory: slotOfNewDirectoryForTests });
  const bytes = h.m.exportState();
  const end = bytes.indexOf(10);
  const header = decodeMessage(bytes.subarray(0, end)) as Record<string, unknown>;
  const withCounters = (nextLocal: [number, number][]): void => {
    h.m.importState(new Uint8Array([...encodeMessage({ ...header, nextLocal }), ...bytes.subarray(end)]));
  };
  const spec = {
    kind: "create", type: NodeType.FILE, mode: 0o644, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 0,
    eattr: 0, aclAccess: null, aclDefault: null,
  } as const;
  const part: TxPart = { op: "node-new", spec, slot: 3, parent: 1, name: n("f") };
  const full = limits.inodesPerSlot;
  withCounters([[3, full]]);
  const [out] = okOutputs(h.exec({ kind: "txprepare", slot: 3, txid: "f#1", parts: [part], clientRequestId: "f" }), "prepare");
  assert.equal(out?.op === "node-new" ? slotOfInode(out.inode) : -1, 5, "slot 3 is full: the next owned slot");
  withCounters([[3, full], [5, full]]);
  assert.equal(h.status({ kind: "txprepare", slot: 3, txid: "f#2", parts: [part], clientRequestId: "f" }), Status.NOSPACE);
});

test("the decided and request memories are bounded, oldest forgotten first", () => {
  const st = newState({ shardId: 1, metaId: 1n, origin: 1, slots: [0], defaultGoal: 1, defaultTrashtime: 0 }, 0);
  for (let i = 0; i <= limits.txDecidedRememberedMax; i++) rememberDecided(st, `t${i}#1`, "commit");
  assert.equal(st.decidedTxns.size, limits.txDecidedRememberedMax);
  assert.equal(st.decidedTxns.has("t0#1"), false);
  assert.equal(st.decidedTxns.get(`t${limits.txDecidedRememberedMax}#1`), "commit");
  for (let i = 0; i <= limits.txRequestsRememberedMax; i++) rememberTxRequest(st, `r${i}`, `r${i}#1`);
  assert.equal(st.txRequests.size, limits.txRequestsRememberedMax);
  assert.equal(txOfRequest(st, "r0"), null);
  assert.equal(txOfRequest(st, "r1"), "r1#1");
});

test("a target entry naming a missing node (damage) is replaced without an edge to remove", () => {
  const h = new Harness();
  const moved = h.mkdir(1, "moved");
  const dst = h.mkdir(1, "dst");
  const lost = h.create(dst, "lost");
  // Damage: the node of dst/lost disappears from the snapshot, its entry stays.
  const bytes = h.m.exportState();
  const lines: Uint8Array[] = [];
  for (let start = 0, end = bytes.indexOf(10); end >= 0; start = end + 1, end = bytes.indexOf(10, start)) lines.push(bytes.subarray(start, end));
  const header = decodeMessage(lines[0]!) as Record<string, unknown>;
  const kept = lines.slice(1).filter((line) => (decodeMessage(line) as { inode?: number }).inode !== lost);
  const damaged = [encodeMessage({ ...header, nodeCount: (header.nodeCount as number) - 1, fileCount: 0 }), ...kept];
  h.m.importState(new Uint8Array(damaged.flatMap((line) => [...line, 10])));
  const parts: TxPart[] = [
    { op: "entry-remove", parent: 1, name: n("moved"), inode: moved, kind: "rename", nodeUid: 0 },
    { op: "entry-add", parent: dst, name: n("lost"), inode: moved, type: NodeType.DIRECTORY, kind: "rename", replace: lost, replaceUid: 0 },
    { op: "edge-move", inode: moved, from: { parent: 1, name: n("moved") }, to: { parent: dst, name: n("lost") } },
  ];
  okOutputs(h.exec({ kind: "txprepare", slot: 0, txid: "d#1", parts, clientRequestId: "d" }), "prepare");
  okOutputs(h.exec({ kind: "txcommit", slot: 0, txid: "d#1" }), "commit");
  assert.deepEqual(h.names(dst).sort(), [".", "..", "lost"]);
  assert.equal(h.attr(dst).nlink, 3);
  assert.equal(h.ok({ kind: "lookup", parent: dst, name: n("lost") }).inode, moved);
});
