/** Each checker against a hand-made history with exactly one violation (and without it). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodeType, type Command, type Ctx, type Result } from "@antler/ops";
import { checkAcknowledged, checkLinearizable, checkLog, checkNamespace, checkServing, findDoubleExecutions, findResendsOfApplied } from "./checkers.ts";
import { History } from "./history.ts";
import { createModelStateMachine } from "./model-state-machine.ts";
import { NamespaceModel } from "./model.ts";
import { encodeRecord, type Execution, type HistoryRef, type StateMachine } from "./shard-driver.ts";
import type { MetaRequestRef } from "./shard-node.ts";

const ctx: Ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const dirAttr = (nlink: number) => ({ type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, atime: 0, mtime: 0, ctime: 0, nlink, length: 0, rdev: 0, flags: 0, winattr: 0 });

function execution(cmd: Command, result: Result, ref: HistoryRef, wrote: boolean, requestId?: string): Execution<MetaRequestRef> {
  return { request: { from: "c", token: 1 }, cmd, ctx: requestId === undefined ? ctx : { ...ctx, requestId }, result, ref, wrote };
}

/** Stores a record as the fake JetStream would, with `writes` as the leader's batch. */
function store(h: History, seq: number, msgId: string, node: string, epoch: number, writes: (Execution<MetaRequestRef> | null)[]): void {
  h.appendSent(node, msgId, writes);
  h.stored({ seq, msgId, storedAtMs: seq, data: encodeRecord({ node, epoch, entries: writes.map(() => new Uint8Array([0])) }) });
}

const mkdirA: Command = { kind: "mkdir", parent: 1, name: "a", mode: 0o755, umask: 0, copysgid: false };
const lookupA: Command = { kind: "lookup", parent: 1, name: "a" };

test("checkLog: epochs that go back and two writers in one epoch", () => {
  const ok = new History(() => 0);
  store(ok, 1, "m1", "n1", 1, []);
  store(ok, 2, "m2", "n2", 2, []);
  assert.equal(checkLog(ok), null);
  const stale = new History(() => 0);
  store(stale, 1, "m1", "n2", 2, []);
  store(stale, 2, "m2", "n1", 1, []);
  assert.match(checkLog(stale) ?? "", /fencing: seq 2 was appended by n1 in epoch 1 after epoch 2/);
  const twins = new History(() => 0);
  store(twins, 1, "m1", "n1", 3, []);
  store(twins, 2, "m2", "n2", 3, []);
  assert.match(checkLog(twins) ?? "", /two leaders in epoch 3/);
});

test("checkAcknowledged: a reply whose entry never reached the log", () => {
  const h = new History(() => 0);
  store(h, 1, "m1", "n1", 1, []);
  const write = execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "lost-batch", index: 0 }, true);
  h.replied("n1", "e1", write);
  h.ops.push({ client: "c", requestId: "r1", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 5, execId: "e1", attempts: 1 });
  assert.match(checkAcknowledged(h) ?? "", /acknowledged mkdir .* is not durable: its entry never reached the log/);
  store(h, 2, "lost-batch", "n1", 1, [write]);
  assert.equal(checkAcknowledged(h), null);
});

test("checkLinearizable: results must match the model at their place in the log", () => {
  const h = new History(() => 0);
  const wrongStatus = execution(mkdirA, { status: 5 }, { batchId: "m2", index: 0 }, true);
  store(h, 1, "m1", "n1", 1, []);
  store(h, 2, "m2", "n1", 1, [wrongStatus]);
  assert.match(checkLinearizable(h).failure ?? "", /seq 2 entry 0 .*mkdir.*status 5, model expects 0/);
});

test("checkLinearizable: an operation that started after another finished must not see an older state", () => {
  const h = new History(() => 0);
  const write = execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m2", index: 0 }, true, "w");
  store(h, 1, "m1", "n1", 1, []);
  store(h, 2, "m2", "n1", 1, [write]);
  // A stale read: it saw the state before the mkdir (ENOENT, placed after seq 1)...
  const staleRead = execution(lookupA, { status: 3 }, { seq: 1 }, false);
  h.replied("n1", "w1", write);
  h.replied("n0", "r1", staleRead);
  h.ops.push({ client: "c1", requestId: "w", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 10, execId: "w1", attempts: 1 });
  // ...although it started after the mkdir had been acknowledged.
  h.ops.push({ client: "c2", requestId: "r", cmd: lookupA, ctx, invokedMs: 20, respondedMs: 30, execId: "r1", attempts: 1 });
  assert.match(checkLinearizable(h).failure ?? "", /real-time order: mkdir by c1 .* finished at 10ms, before lookup by c2 .* started at 20ms/);
  // Had it started before the mkdir finished, the same history is fine.
  h.ops[1] = { ...h.ops[1]!, invokedMs: 5 };
  assert.equal(checkLinearizable(h).failure, null);
});

test("checkLinearizable: a retried request must get the original result, not a second execution's", () => {
  const h = new History(() => 0);
  const write = execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m1", index: 0 }, true, "req-1");
  store(h, 1, "m1", "n1", 1, [write]);
  h.replied("n1", "e2", execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m1", index: 0 }, false, "req-1"));
  assert.equal(checkLinearizable(h).failure, null, "the remembered answer");
  h.replied("n1", "e3", execution(mkdirA, { status: 5 }, { batchId: "m1", index: 0 }, false, "req-1"));
  assert.match(checkLinearizable(h).failure ?? "", /retry e3 .* answered status 5, the original execution returned status 0, inode 2/);
});

test("checkNamespace: a well-formed state equal to the model passes; broken link counts and cycles do not", () => {
  const sm = createModelStateMachine();
  const model = new NamespaceModel();
  for (const cmd of [mkdirA, { kind: "mkdir", parent: 2, name: "b", mode: 0o700, umask: 0, copysgid: false } as Command]) {
    const { result } = sm.execute(cmd, ctx, 0);
    model.apply(cmd, ctx, (result as { inode: number }).inode);
  }
  assert.equal(checkNamespace(sm, model), null);
  const lying: StateMachine = {
    ...sm,
    execute(cmd, c, now) {
      const out = sm.execute(cmd, c, now);
      if (cmd.kind === "getattr" && cmd.inode === 2) return { result: { status: 0, attr: dirAttr(7) }, entry: null };
      return out;
    },
  };
  assert.match(checkNamespace(lying, null) ?? "", /directory 2 has nlink 7 but 1 subdirectories/);
  const cyclic: StateMachine = {
    ...sm,
    execute(cmd, c, now) {
      if (cmd.kind === "readdir" && cmd.inode === 3) {
        return { result: { status: 0, entries: [{ name: "loop", inode: 1, type: NodeType.DIRECTORY }] }, entry: null };
      }
      return sm.execute(cmd, c, now);
    },
  };
  assert.match(checkNamespace(cyclic, null) ?? "", /reachable twice|nlink/);
  const diverged = new NamespaceModel();
  assert.match(checkNamespace(sm, diverged) ?? "", /model has|state has/);
});

test("findDoubleExecutions: a re-sent request answered by a second execution after the first had succeeded", () => {
  const h = new History(() => 0);
  const first = execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m1", index: 0 }, true, "1:1:0");
  store(h, 1, "m1", "n1", 1, [first]);
  const second = execution(mkdirA, { status: 5 }, { seq: 1 }, false, "1:1:7");
  h.replied("n1", "e2", second);
  h.ops.push({ client: "mount0", requestId: "op1", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 10, execId: "e2", attempts: 2 });
  assert.deepEqual(findDoubleExecutions(h), ["mount0 mkdir (op1): applied at 1ms, sent again and answered with status 5"]);
  h.ops[0] = { ...h.ops[0]!, attempts: 1 };
  assert.deepEqual(findDoubleExecutions(h), [], "sent once: the EEXIST is the real answer");
});

test("findResendsOfApplied: a re-send with its original request id, answered from memory, is counted, but not as a double execution", () => {
  const h = new History(() => 0);
  const created = { status: 0, inode: 2, attr: dirAttr(2) } as Result;
  store(h, 1, "m1", "n1", 1, [execution(mkdirA, created, { batchId: "m1", index: 0 }, true, "g.1/1:1:0")]);
  h.replied("n1", "e2", execution(mkdirA, created, { seq: 1 }, false, "g.1/1:1:0"));
  h.ops.push({ client: "mount0", requestId: "op1", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 10, execId: "e2", attempts: 2 });
  assert.deepEqual(findResendsOfApplied(h).map((r) => r.outcome), ["original"]);
  assert.deepEqual(findDoubleExecutions(h), []);
});

test("findResendsOfApplied: a re-send that got a new request id and ran again is a double execution; another thread's equal command is not", () => {
  const run = (appliedId: string): string[] => {
    const h = new History(() => 0);
    store(h, 1, "m1", "n1", 1, [execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m1", index: 0 }, true, appliedId)]);
    store(h, 2, "m2", "n1", 1, []);
    h.replied("n1", "e2", execution(mkdirA, { status: 17 } as Result, { seq: 2 }, false, "g.2/1:2:0"));
    h.ops.push({ client: "mount0", requestId: "op1", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 10, execId: "e2", attempts: 2 });
    return findDoubleExecutions(h);
  };
  // The same thread (session 1, msgid 2) on an earlier connection: the re-send ran twice.
  assert.equal(run("g.1/1:2:5").length, 1);
  // Another thread of the mount (msgid 3) created it: this request's EEXIST is genuine.
  assert.deepEqual(run("g.1/1:3:5"), []);
});

test("findResendsOfApplied: a first attempt that failed, and a retry that took effect unseen, is a phantom, not a double execution", () => {
  const h = new History(() => 0);
  store(h, 1, "m1", "n1", 1, []);
  h.replied("n1", "e1", execution(mkdirA, { status: 17 } as Result, { seq: 1 }, false, "r"));
  store(h, 2, "m2", "n1", 1, [execution(mkdirA, { status: 0, inode: 2, attr: dirAttr(2) }, { batchId: "m2", index: 0 }, true, "r")]);
  h.ops.push({ client: "c", requestId: "op", cmd: mkdirA, ctx, invokedMs: 0, respondedMs: 10, execId: "e1", attempts: 2 });
  assert.deepEqual(findResendsOfApplied(h).map((r) => r.outcome), ["phantom"]);
  assert.deepEqual(findDoubleExecutions(h), []);
});

test("checkServing: two replicas serving one epoch", () => {
  const h = new History(() => 0);
  h.serving("n1", 1, 0);
  h.serving("n2", 2, 5);
  h.serving("n2", 2, 5);
  assert.equal(checkServing(h), null);
  h.serving("n3", 2, 6);
  assert.match(checkServing(h) ?? "", /two replicas served epoch 2: n2 and n3/);
});

