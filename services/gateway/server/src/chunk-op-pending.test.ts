/**
 * Matching chunkserver replies to the operations out on one link: FIFO per (op, chunk), replies
 * for other ops or chunks never cross, a timed-out operation's place absorbs its late reply and
 * is freed after one more timeout, failAll answers everything that is out.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Status } from "@antler/ops";
import { PendingChunkOps } from "./chunk-op-pending.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("replies settle the oldest operation of their op and chunk", async () => {
  const pending = new PendingChunkOps(5_000);
  const a = pending.add("set-version", 1n);
  const b = pending.add("set-version", 1n);
  const c = pending.add("delete", 1n);
  const d = pending.add("set-version", 2n);
  assert.equal(pending.waiting, 4);
  assert.equal(pending.settle("delete", 1n, Status.NOCHUNK), true);
  assert.equal(pending.settle("set-version", 2n, 0), true);
  assert.equal(pending.settle("set-version", 1n, Status.WRONGVERSION), true);
  assert.equal(pending.settle("set-version", 1n, 0), true);
  assert.equal(pending.settle("set-version", 1n, 0), false, "nothing left to answer");
  assert.equal(pending.settle("create", 9n, 0), false);
  assert.deepEqual(await Promise.all([a, b, c, d]), [Status.WRONGVERSION, 0, Status.NOCHUNK, 0]);
  assert.equal(pending.waiting, 0);
});

test("a timed-out operation absorbs its late reply, then its place is freed", async () => {
  const pending = new PendingChunkOps(40);
  assert.equal(await pending.add("create", 7n), Status.CSNOTPRESENT);
  const next = pending.add("create", 7n, 5_000);
  assert.equal(pending.settle("create", 7n, Status.CHUNKEXIST), true, "the late reply meets its tombstone");
  assert.equal(pending.settle("create", 7n, 0), true);
  assert.equal(await next, 0);

  // A reply that never comes: the tombstone goes after one more timeout.
  assert.equal(await pending.add("delete", 8n), Status.CSNOTPRESENT);
  await sleep(80);
  const later = pending.add("delete", 8n, 5_000);
  assert.equal(pending.settle("delete", 8n, 0), true);
  assert.equal(await later, 0);
});

test("failAll answers everything out", async () => {
  const pending = new PendingChunkOps(5_000);
  const all = [pending.add("create", 1n), pending.add("replicate", 2n), pending.add("duptrunc", 3n)];
  pending.failAll();
  assert.deepEqual(await Promise.all(all), [Status.CSNOTPRESENT, Status.CSNOTPRESENT, Status.CSNOTPRESENT]);
  assert.equal(pending.settle("create", 1n, 0), false);
  assert.equal(pending.waiting, 0);
});
