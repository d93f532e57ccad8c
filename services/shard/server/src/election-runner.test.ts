/**
 * The election shell against an in-memory lease store: it wins a missing key and renews it, reads
 * the key after a compare-and-set without an answer, hands the lease over on release (waiting for
 * the hand-over), and a standby takes over a lease that stops changing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LeaseObservation, LeaseRecord, LeaseStore } from "@antler/io-nats";
import { Election } from "@antler/shard-core";
import { createLogger } from "@antler/telemetry";
import { ElectionRunner } from "./election-runner.ts";

const quiet = createLogger("test", { level: "error", write: () => {} });

/** One lease key in memory; `failNext` makes the next CAS throw after it was (or was not) applied. */
class MemoryLeaseStore implements LeaseStore {
  current: LeaseObservation = { revision: 0, record: null };
  watchers: ((o: LeaseObservation) => void)[] = [];
  reads = 0;
  failNext: "before" | "after" | null = null;
  #next = 1;
  async read(): Promise<LeaseObservation> {
    this.reads++;
    return this.current;
  }
  async compareAndSet(record: LeaseRecord, expectedRevision: number): Promise<number | null> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const fail = this.failNext;
    this.failNext = null;
    if (fail === "before") throw new Error("timeout");
    if (this.current.revision !== expectedRevision) return null;
    this.current = { revision: this.#next++, record };
    for (const watcher of this.watchers) queueMicrotask(() => watcher(this.current));
    if (fail === "after") throw new Error("timeout");
    return this.current.revision;
  }
  watch(onChange: (o: LeaseObservation) => void): { stop(): void } {
    this.watchers.push(onChange);
    queueMicrotask(() => onChange(this.current));
    return { stop: () => void (this.watchers = this.watchers.filter((w) => w !== onChange)) };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const election = (holder: string) => new Election({ holder, leaseMs: 400, takeoverMs: 500, renewIntervalMs: 20 });

test("wins a missing key, renews it, and hands it over on release", async () => {
  const store = new MemoryLeaseStore();
  const events: string[] = [];
  const runner = new ElectionRunner({ store, election: election("a/1"), logger: quiet, tickMs: 5, onBecomeLeader: (e) => events.push(`leader ${e}`), onStepDown: (r) => events.push(`down ${r}`) });
  runner.start();
  await runner.settled();
  assert.deepEqual(events, ["leader 1"]);
  assert.ok(runner.isLeader());
  await sleep(100);
  assert.ok(store.current.record!.renewals >= 2, `renewals ${store.current.record!.renewals}`);
  await runner.release();
  assert.deepEqual(events, ["leader 1", "down released"]);
  assert.equal(store.current.record!.holder, "", "handed over");
  assert.equal(store.current.record!.epoch, 1);
  assert.ok(!runner.isLeader());
});

test("a renewal without an answer is followed by a read, and renewals go on", async () => {
  const store = new MemoryLeaseStore();
  const runner = new ElectionRunner({ store, election: election("a/1"), logger: quiet, tickMs: 5, onBecomeLeader: () => {}, onStepDown: () => {} });
  runner.start();
  await runner.settled();
  store.failNext = "after";
  await sleep(60);
  assert.ok(store.reads >= 1, "no read after the failed compare-and-set");
  const renewals = store.current.record!.renewals;
  await sleep(60);
  assert.ok(store.current.record!.renewals > renewals, "renewals stopped after an unanswered one");
  assert.ok(runner.isLeader());
  runner.stop();
});

test("a standby takes over a lease that stops changing", async () => {
  const store = new MemoryLeaseStore();
  store.current = { revision: 7, record: { holder: "dead/1", epoch: 3, renewals: 12 } };
  const events: string[] = [];
  const runner = new ElectionRunner({ store, election: election("b/1"), logger: quiet, tickMs: 5, onBecomeLeader: (e) => events.push(`leader ${e}`), onStepDown: () => {} });
  const started = performance.now();
  runner.start();
  await runner.settled();
  assert.deepEqual(events, [], "a live-looking holder is not overruled at once");
  while (events.length === 0 && performance.now() - started < 3000) await sleep(5);
  assert.deepEqual(events, ["leader 4"]);
  assert.ok(performance.now() - started >= 500, "claimed before the takeover time");
  runner.stop();
});
