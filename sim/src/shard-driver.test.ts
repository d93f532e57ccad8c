import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command, Ctx } from "@antler/ops";
import { createModelStateMachine } from "./model-state-machine.ts";
import { decodeRecord, encodeRecord, ShardDriver, type DriverAction, type DriverFaults } from "./shard-driver.ts";

const ctx: Ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const mkdir = (name: string): Command => ({ kind: "mkdir", parent: 1, name, mode: 0o755, umask: 0, copysgid: false });
const lookup = (name: string): Command => ({ kind: "lookup", parent: 1, name });

function driver(faults?: DriverFaults, node = "n1"): ShardDriver<string> {
  return new ShardDriver<string>({ node, incarnation: 1, createStateMachine: createModelStateMachine, appendRetriesMax: 3, faults });
}

function only<K extends DriverAction<string>["kind"]>(actions: readonly DriverAction<string>[], kind: K): Extract<DriverAction<string>, { kind: K }> {
  const found = actions.filter((a) => a.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind} in ${JSON.stringify(actions.map((a) => a.kind))}`);
  return found[0] as Extract<DriverAction<string>, { kind: K }>;
}

/** Makes `d` the leader of `epoch` over `log`. */
function elect(d: ShardDriver<string>, epoch = 1, log: { seq: number; data: Uint8Array }[] = [], fenced = true): void {
  const read = only(d.lead(epoch), "read");
  const marker = only(d.onRead(read.token, { kind: "ok", records: log, lastSeq: log.length }), "append");
  assert.equal(marker.expectedLastSeq, fenced ? log.length : undefined);
  assert.deepEqual(decodeRecord(marker.data).entries, []);
  const serving = only(d.onAppend(marker.token, { kind: "ok", seq: log.length + 1 }), "serving");
  assert.deepEqual(serving, { kind: "serving", epoch, seq: log.length + 1 });
  assert.equal(d.role, "leader");
}

test("a follower does not execute; a leader serves only after its epoch marker is in the log", () => {
  const d = driver();
  assert.equal(d.execute("r", mkdir("a"), ctx, 0), null);
  elect(d);
  assert.notEqual(d.execute("r", mkdir("a"), ctx, 0), null);
});

test("group commit: one append in flight, everything executed meanwhile goes out as the next batch", () => {
  const d = driver();
  elect(d);
  const first = only(d.execute("r1", mkdir("a"), ctx, 0)!, "append");
  assert.equal(first.expectedLastSeq, 1);
  assert.deepEqual(d.execute("r2", mkdir("b"), ctx, 0), [], "waits for the append in flight");
  assert.deepEqual(d.execute("r3", lookup("a"), ctx, 0), [], "a read waits too: it saw an entry that is not durable");
  assert.deepEqual(d.execute("r4", mkdir("c"), ctx, 0), []);
  const afterFirst = d.onAppend(first.token, { kind: "ok", seq: 2 });
  assert.deepEqual(afterFirst.filter((a) => a.kind === "reply").map((a) => (a as { execution: { request: string } }).execution.request), ["r1"]);
  const second = only(afterFirst, "append");
  assert.equal(second.expectedLastSeq, 2);
  assert.equal(decodeRecord(second.data).entries.length, 2, "b and c in one batch");
  const released = d.onAppend(second.token, { kind: "ok", seq: 3 }).filter((a) => a.kind === "reply");
  assert.deepEqual(released.map((a) => (a as { execution: { request: string } }).execution.request), ["r2", "r3", "r4"]);
});

test("reads with nothing in flight still wait for a read barrier; a moved log means stepping down", () => {
  const d = driver();
  elect(d);
  const barrier = only(d.execute("r1", lookup("x"), ctx, 0)!, "last-seq");
  assert.deepEqual(only(d.onLastSeq(barrier.token, { kind: "ok", lastSeq: 1 }), "reply").execution.request, "r1");
  const stale = only(d.execute("r2", lookup("x"), ctx, 0)!, "last-seq");
  const actions = d.onLastSeq(stale.token, { kind: "ok", lastSeq: 5 });
  assert.equal(only(actions, "stepped-down").kind, "stepped-down");
  assert.equal(actions.filter((a) => a.kind === "reply").length, 0, "no stale read leaves");
  assert.equal(d.role, "follower");
});

test("a fenced append drops the waiting replies and rebuilds the state from the log", () => {
  const d = driver();
  elect(d);
  const append = only(d.execute("r1", mkdir("a"), ctx, 0)!, "append");
  d.execute("r2", lookup("a"), ctx, 0);
  const actions = d.onAppend(append.token, { kind: "fenced" });
  assert.deepEqual(actions.map((a) => a.kind), ["stepped-down"]);
  assert.equal(d.logSeq, 0, "state discarded: it held an entry the log never got");
  const read = only(d.poll(), "read");
  assert.equal(read.fromSeq, 1);
});

test("a lost answer is retried with the same message id and expected sequence; too many retries give up", () => {
  const d = driver();
  elect(d);
  const first = only(d.execute("r1", mkdir("a"), ctx, 0)!, "append");
  let retry = first;
  for (let i = 0; i < 3; i++) {
    retry = only(d.onAppend(retry.token, { kind: "timeout" }), "append");
    assert.equal(retry.msgId, first.msgId);
    assert.equal(retry.expectedLastSeq, first.expectedLastSeq);
    assert.deepEqual(retry.data, first.data);
  }
  assert.deepEqual(d.onAppend(retry.token, { kind: "timeout" }).map((a) => a.kind), ["stepped-down"]);
  assert.deepEqual(d.onAppend(first.token, { kind: "ok", seq: 2 }), [], "answers to old tokens are ignored");
});

test("a new leader that finds a newer epoch in the log steps down instead of appending", () => {
  const d = driver();
  const newer = { seq: 1, data: encodeRecord({ node: "other", epoch: 5, entries: [] }) };
  const read = only(d.lead(3), "read");
  const actions = d.onRead(read.token, { kind: "ok", records: [newer], lastSeq: 1 });
  assert.deepEqual(actions.map((a) => a.kind), ["stepped-down"]);
});

test("a new leader whose marker is fenced reads on and tries again", () => {
  const d = driver();
  const read = only(d.lead(1), "read");
  const marker = only(d.onRead(read.token, { kind: "ok", records: [], lastSeq: 0 }), "append");
  const reread = only(d.onAppend(marker.token, { kind: "fenced" }), "read");
  const someone = { seq: 1, data: encodeRecord({ node: "old", epoch: 0, entries: [] }) };
  const again = only(d.onRead(reread.token, { kind: "ok", records: [someone], lastSeq: 1 }), "append");
  assert.equal(again.expectedLastSeq, 1);
  assert.notEqual(again.msgId, marker.msgId);
});

test("followers apply what they read and track the log", () => {
  const leader = driver(undefined, "L");
  elect(leader);
  const append = only(leader.execute("r1", mkdir("a"), ctx, 0)!, "append");
  const log = [
    { seq: 1, data: encodeRecord({ node: "L", epoch: 1, entries: [] }) },
    { seq: 2, data: append.data },
  ];
  const follower = driver(undefined, "F");
  const read = only(follower.poll(), "read");
  follower.onRead(read.token, { kind: "ok", records: log, lastSeq: 2 });
  assert.equal(follower.logSeq, 2);
  const { result } = follower.stateMachine.execute(lookup("a"), ctx, 0);
  assert.equal(result.status, 0);
});

test("message ids differ across incarnations of the same node", () => {
  const a = new ShardDriver<string>({ node: "n", incarnation: 1, createStateMachine: createModelStateMachine, appendRetriesMax: 1 });
  const b = new ShardDriver<string>({ node: "n", incarnation: 2, createStateMachine: createModelStateMachine, appendRetriesMax: 1 });
  const ma = only(a.onRead(only(a.lead(1), "read").token, { kind: "ok", records: [], lastSeq: 0 }), "append").msgId;
  const mb = only(b.onRead(only(b.lead(1), "read").token, { kind: "ok", records: [], lastSeq: 0 }), "append").msgId;
  assert.notEqual(ma, mb);
});

test("broken variants: reply before ack, and unfenced appends", () => {
  const early = driver({ replyBeforeAck: true });
  elect(early);
  const actions = early.execute("r1", mkdir("a"), ctx, 0)!;
  assert.deepEqual(actions.map((a) => a.kind), ["reply", "append"]);
  const unfenced = driver({ unfenced: true });
  elect(unfenced, 1, [], false);
  assert.equal(only(unfenced.execute("r1", mkdir("a"), ctx, 0)!, "append").expectedLastSeq, undefined);
});
