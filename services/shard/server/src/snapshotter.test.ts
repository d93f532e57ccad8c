/**
 * The snapshot policy and ordering, with a fake replica, store and log and a manual clock: a
 * snapshot starts once `entries` were committed and the minimum interval passed, or after the
 * maximum interval with any new entry, never twice at once and never with nothing new; the log is
 * truncated after the put, behind the oldest retained snapshot, and not at all after a failure.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SnapshotInfo, SnapshotStore, TruncatableLogStream } from "@antler/io-nats";
import { createLogger } from "@antler/telemetry";
import type { SnapshotReplica, StoredSnapshot } from "./snapshot-replica.ts";
import { Snapshotter, type SnapshotEvent } from "./snapshotter.ts";

const quiet = createLogger("snapshotter-test", { level: "error" });
const info = (lastSeq: number): SnapshotInfo => ({ shardId: 0, lastSeq, formatVersion: 1, size: 1, sha256: "0".repeat(64), name: `shard-0/${lastSeq}` });

function setup(policy = { entries: 10, intervalMinMs: 1000, intervalMaxMs: 60_000 }) {
  let now = 0;
  const stored: SnapshotInfo[] = [];
  const truncations: number[] = [];
  const events: SnapshotEvent[] = [];
  let lastPosted = 0;
  let pending: { covers: number; resolve: (s: StoredSnapshot) => void; reject: (e: Error) => void } | null = null;
  const replica: SnapshotReplica = {
    load: () => {},
    record: (seq) => {
      assert.equal(seq, lastPosted + 1, "records reach the replica in order");
      lastPosted = seq;
    },
    // Like the worker: the snapshot holds the records posted before the request.
    snapshot: () => new Promise((resolve, reject) => (pending = { covers: lastPosted, resolve, reject })),
    failure: null,
    close: () => Promise.resolve(),
  };
  const finishPut = async (ok = true) => {
    const p = pending!;
    pending = null;
    if (ok) {
      stored.unshift(info(p.covers));
      p.resolve({ info: info(p.covers), exportStartedAtMs: 0, exportMs: 1, putMs: 1 });
    } else p.reject(new Error("put failed"));
    await new Promise((resolve) => setImmediate(resolve));
  };
  const store = { list: () => Promise.resolve([...stored]) } as unknown as SnapshotStore;
  const log = { truncateBefore: (seq: number) => Promise.resolve(void truncations.push(seq)) } as unknown as TruncatableLogStream;
  const snapshotter = new Snapshotter({ shardId: 0, log, store, replica, logger: quiet, policy, baseSeq: 0, lastSeq: 0, nowMs: () => now, checkIntervalMs: 0, onEvent: (e) => events.push(e) });
  let seq = 0;
  const commit = (entries: number) => snapshotter.committed(++seq, new Uint8Array([1]), entries);
  return { snapshotter, commit, finishPut, events, truncations, advance: (ms: number) => (now += ms), started: () => pending !== null };
}

test("a snapshot starts at the entry threshold, only after the minimum interval, one at a time", async () => {
  const t = setup();
  t.advance(5000);
  t.commit(9);
  assert.equal(t.started(), false, "below the threshold");
  t.commit(1);
  assert.equal(t.started(), true, "threshold reached");
  t.commit(50);
  await t.finishPut();
  assert.equal(t.started(), false, "entries during the snapshot wait for the minimum interval");
  t.advance(999);
  t.commit(1);
  assert.equal(t.started(), false);
  t.advance(1);
  t.commit(1);
  assert.equal(t.started(), true, "51 entries pending and the interval passed");
  await t.finishPut();
  assert.deepEqual(t.events.map((e) => e.phase), ["started", "stored", "started", "stored", "truncated"]);
  assert.deepEqual(t.truncations, [3], "behind the older of the two retained snapshots (records 1-2)");
});

test("the maximum interval snapshots a slow shard; nothing new means no snapshot", async () => {
  const t = setup({ entries: 1000, intervalMinMs: 10, intervalMaxMs: 60_000 });
  t.advance(120_000);
  assert.equal(await t.snapshotter.snapshotNow(), null, "nothing committed: nothing to snapshot");
  t.commit(1);
  assert.equal(t.started(), true, "one entry after the maximum interval");
  await t.finishPut();
  t.advance(60_000);
  t.commit(0);
  assert.equal(t.started(), false, "a record without entries is not new state");
});

test("a failed put truncates nothing and is retried after the minimum interval", async () => {
  const t = setup();
  t.advance(2000);
  t.commit(10);
  await t.finishPut(false);
  assert.deepEqual(t.truncations, []);
  assert.deepEqual(t.events.map((e) => e.phase), ["started", "failed"]);
  t.commit(1);
  assert.equal(t.started(), false, "retry waits for the minimum interval");
  t.advance(1000);
  t.commit(1);
  assert.equal(t.started(), true);
  await t.finishPut();
  assert.deepEqual(t.truncations, [], "a single retained snapshot: nothing truncated yet");
});
