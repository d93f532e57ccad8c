/**
 * The coordinator lease against an in-memory compare-and-set store: one holder at a time, a
 * holder whose renewals fail stops before anyone else may claim, and a standby claims a lease
 * that stopped changing only after the takeover time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LeaseObservation, LeaseRecord } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import { startCoordinatorLease, type CoordinatorLeaseStore } from "./coordinator-lease.ts";

const logger = createLogger("coordinator-lease-test", { level: "error" });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class MemoryStore {
  revision = 0;
  record: LeaseRecord | null = null;
  /** Holders whose writes fail (a router cut off from NATS). */
  readonly cutOff = new Set<string>();

  as(holder: string): CoordinatorLeaseStore {
    return {
      read: async (): Promise<LeaseObservation> => {
        if (this.cutOff.has(holder)) throw new Error("cut off");
        return { revision: this.revision, record: this.record };
      },
      compareAndSet: async (record, expectedRevision) => {
        if (this.cutOff.has(holder)) throw new Error("cut off");
        if (expectedRevision !== this.revision) return null;
        this.record = record;
        return ++this.revision;
      },
    };
  }
}

test("one holder; a holder cut off stops first, then a standby claims the next epoch", async () => {
  const store = new MemoryStore();
  const events: string[] = [];
  const lease = (holder: string) =>
    startCoordinatorLease({
      store: store.as(holder),
      holder,
      logger,
      onAcquired: (epoch) => events.push(`${holder} acquired ${epoch}@${Math.round(performance.now() - start)}`),
      onLost: (reason) => events.push(`${holder} lost: ${reason}@${Math.round(performance.now() - start)}`),
    });
  const start = performance.now();
  const a = lease("a");
  await sleep(250);
  const b = lease("b");
  await sleep(900);
  assert.equal(a.holding, true);
  assert.equal(b.holding, false, "a renewed lease is never claimed");
  assert.equal(store.record?.holder, "a");
  assert.ok(store.record!.renewals >= 5, "renewed about every 100 ms");

  store.cutOff.add("a");
  const cutAt = performance.now();
  await sleep(1_200);
  assert.equal(a.holding, false);
  assert.equal(b.holding, true);
  assert.equal(store.record?.holder, "b");
  assert.equal(store.record?.epoch, 2);
  const lostAt = Number(/a lost: .*@(\d+)/.exec(events.join("\n"))![1]);
  const acquiredAt = Number(/b acquired 2@(\d+)/.exec(events.join("\n"))![1]);
  assert.ok(lostAt < acquiredAt, `a stopped (${lostAt}) before b took over (${acquiredAt})`);
  assert.ok(acquiredAt - (cutAt - start) >= 600, "b waited for the takeover time");
  await a.stop();
  await b.stop();
  assert.equal(store.record?.holder, "", "stopping releases the lease");
});
