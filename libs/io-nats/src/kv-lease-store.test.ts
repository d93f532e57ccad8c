/**
 * The lease store against a real nats-server: CAS semantics (create, stale revision, deleted key),
 * the watch (current value first, then every change, deletions as "no record"), reads that tell
 * whether a write happened, and a racing claim that only one of two stores wins.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Kvm } from "@nats-io/kv";
import { leaseBucket, shardLeaseKey, type LeaseObservation } from "@antler/ops";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { decodeLeaseRecord, encodeLeaseRecord, LeaseRecordError, openKvLeaseStore } from "./kv-lease-store.ts";

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-lease-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "lease-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Collects watch observations; `next` waits for the one after those already taken. */
function collector() {
  const seen: LeaseObservation[] = [];
  let taken = 0;
  let wake: (() => void) | null = null;
  return {
    push(observation: LeaseObservation) {
      seen.push(observation);
      wake?.();
    },
    async next(timeoutMs = 2000): Promise<LeaseObservation> {
      const deadline = Date.now() + timeoutMs;
      while (taken >= seen.length) {
        if (Date.now() > deadline) throw new Error("no observation in time");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      return seen[taken++]!;
    },
    get all() {
      return seen;
    },
  };
}

test("records round-trip and malformed values are typed errors", () => {
  const record = { holder: "s0.r1/p9", epoch: 4, renewals: 17 };
  assert.deepEqual(decodeLeaseRecord(encodeLeaseRecord(record)), record);
  for (const text of ["", "nope", "{}", '{"holder":1,"epoch":1,"renewals":1}', '{"holder":"a","epoch":-1,"renewals":0}', '{"holder":"a","epoch":1.5,"renewals":0}', "null"]) {
    assert.throws(() => decodeLeaseRecord(new TextEncoder().encode(text)), LeaseRecordError, text);
  }
});

test("compare-and-set creates, refuses stale revisions, and reads tell the current value", async () => {
  const store = await openKvLeaseStore(nc, 1);
  assert.deepEqual(await store.read(), { revision: 0, record: null });
  const rev1 = await store.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0);
  assert.ok(rev1 !== null && rev1 > 0);
  assert.equal(await store.compareAndSet({ holder: "b", epoch: 1, renewals: 0 }, 0), null, "create of an existing key");
  const rev2 = await store.compareAndSet({ holder: "a", epoch: 1, renewals: 1 }, rev1);
  assert.ok(rev2 !== null && rev2 > rev1);
  assert.equal(await store.compareAndSet({ holder: "b", epoch: 2, renewals: 0 }, rev1), null, "stale revision");
  assert.deepEqual(await store.read(), { revision: rev2, record: { holder: "a", epoch: 1, renewals: 1 } });
});

test("the watch reports the current value, then every change; a deleted key is no record and can be claimed on its revision", async () => {
  const store = await openKvLeaseStore(nc, 2);
  const seen = collector();
  const watch = store.watch((o) => seen.push(o));
  try {
    assert.deepEqual(await seen.next(), { revision: 0, record: null }, "a missing key is reported once");
    const rev1 = (await store.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0))!;
    assert.deepEqual(await seen.next(), { revision: rev1, record: { holder: "a", epoch: 1, renewals: 0 } });
    const rev2 = (await store.compareAndSet({ holder: "a", epoch: 1, renewals: 1 }, rev1))!;
    assert.deepEqual(await seen.next(), { revision: rev2, record: { holder: "a", epoch: 1, renewals: 1 } });
    const kv = await new Kvm(nc).open(leaseBucket);
    await kv.delete(shardLeaseKey(2));
    const deleted = await seen.next();
    assert.equal(deleted.record, null);
    assert.ok(deleted.revision > rev2);
    assert.deepEqual(await store.read(), deleted);
    const rev3 = await store.compareAndSet({ holder: "b", epoch: 2, renewals: 0 }, deleted.revision);
    assert.ok(rev3 !== null && rev3 > deleted.revision);
    assert.deepEqual(await seen.next(), { revision: rev3, record: { holder: "b", epoch: 2, renewals: 0 } });
    // A value that is not a record is reported as none, so a claim can overwrite it.
    await kv.put(shardLeaseKey(2), new TextEncoder().encode("garbage"));
    const garbage = await seen.next();
    assert.equal(garbage.record, null);
    assert.ok((await store.compareAndSet({ holder: "c", epoch: 3, renewals: 0 }, garbage.revision)) !== null);
  } finally {
    watch.stop();
  }
});

test("a second watcher starts from the current value", async () => {
  const store = await openKvLeaseStore(nc, 3);
  const rev = (await store.compareAndSet({ holder: "a", epoch: 7, renewals: 3 }, 0))!;
  const seen = collector();
  const watch = store.watch((o) => seen.push(o));
  try {
    assert.deepEqual(await seen.next(), { revision: rev, record: { holder: "a", epoch: 7, renewals: 3 } });
  } finally {
    watch.stop();
  }
});

test("of two stores claiming the same revision at once, exactly one wins", async () => {
  const other = await connectNats(server.url, "lease-test-2");
  try {
    for (let round = 0; round < 20; round++) {
      const a = await openKvLeaseStore(nc, 100 + round);
      const b = await openKvLeaseStore(other, 100 + round);
      const results = await Promise.all([a.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0), b.compareAndSet({ holder: "b", epoch: 1, renewals: 0 }, 0)]);
      assert.equal(results.filter((r) => r !== null).length, 1, `round ${round}: ${JSON.stringify(results)}`);
    }
  } finally {
    await other.close();
  }
});
