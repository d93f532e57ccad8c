/** The coordinator's locks: one holder at a time per key, arrival order, nothing left behind. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InodeLocks, SerialLock } from "./serial-lock.ts";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("SerialLock runs holders one at a time in arrival order, also after a failure", async () => {
  const lock = new SerialLock();
  const log: string[] = [];
  const holder = (name: string, fail = false) =>
    lock.run(async () => {
      log.push(`${name}+`);
      await turn();
      log.push(`${name}-`);
      if (fail) throw new Error(name);
    });
  const results = await Promise.allSettled([holder("a"), holder("b", true), holder("c")]);
  assert.deepEqual(log, ["a+", "a-", "b+", "b-", "c+", "c-"]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(lock.queued, 0);
});

test("InodeLocks: holders sharing an inode wait for each other; disjoint ones run together; no deadlock across orders", async () => {
  const locks = new InodeLocks();
  const running = new Set<string>();
  const overlaps: string[] = [];
  const holder = (name: string, inodes: number[]) =>
    locks.run(inodes, async () => {
      for (const other of running) overlaps.push([name, other].sort().join("&"));
      running.add(name);
      await turn();
      await turn();
      running.delete(name);
    });
  await Promise.all([holder("a", [1, 2]), holder("b", [2, 1]), holder("c", [3]), holder("d", [3, 1])]);
  // a and b share 1 and 2 (taken in opposite orders by the callers), c and d share 3, a/b and d share 1.
  for (const pair of overlaps) assert.ok(pair === "a&c" || pair === "b&c", `unexpected overlap ${pair}`);
  assert.ok(overlaps.length > 0, "disjoint holders ran at the same time");
  assert.equal(locks.size, 0, "no lock left behind");
});
