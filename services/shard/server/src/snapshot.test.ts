/**
 * Snapshots with the real state machine (shard-core) and a real nats-server: a restore from
 * snapshot + log tail gives byte-identical state (exportState) to a full replay and to the live
 * leader; the log is truncated only after a snapshot is stored (never when the put fails), and
 * only behind the older of the two retained snapshots; a corrupted newest snapshot is detected
 * and the previous one plus its longer tail is used, and with no usable snapshot over a
 * truncated log the restore fails loudly; requests keep being answered while a snapshot is taken.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, openSnapshotStore, sha256Hex, type NatsConnection, type SnapshotStore } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { coreSnapshotFormatVersion } from "./core-replica.ts";
import { replayLog } from "./replay.ts";
import { restoreShard, RestoreError } from "./restore.ts";
import { call, create, createSpread, lookup, newCoreMachine, quiet, startHarnessShard } from "./testing/shard-harness.ts";

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
let store: SnapshotStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-snapshot-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "snapshot-test");
  store = await openSnapshotStore(nc);
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function fullReplay(shardId: number): Promise<Uint8Array> {
  const sm = newCoreMachine(shardId);
  await replayLog(await ensureShardLog(nc, shardId), sm);
  return sm.exportState();
}

async function restoreState(shardId: number, snapshots: SnapshotStore = store) {
  const result = await restoreShard<unknown>({
    shardId,
    log: await ensureShardLog(nc, shardId),
    store: snapshots,
    createStateMachine: () => Promise.resolve(newCoreMachine(shardId)),
    logger: quiet,
    formatVersion: coreSnapshotFormatVersion,
  });
  return { ...result, state: newCoreMachineState(result.sm) };
}
const newCoreMachineState = (sm: unknown) => (sm as ReturnType<typeof newCoreMachine>).exportState();

test("snapshot + tail restores the same state as a full replay; truncation follows the older snapshot", { timeout: 120_000 }, async () => {
  const shardId = 40;
  const shard = await startHarnessShard(nc, shardId, { natsUrl: server.url });
  let first, second;
  try {
    await createSpread(nc, shardId, "a", 8, 1500);
    first = await shard.snapshotter.snapshotNow();
    assert.ok(first !== null);
    assert.equal(first.lastSeq, shard.server.lastSeq(), "the snapshot covers exactly the log so far");
    assert.equal(await shard.log.firstSeq(), 1, "one snapshot retained of two: nothing truncated yet");
    await createSpread(nc, shardId, "b", 5, 700);

    // Restore while the log is still complete: snapshot + tail vs full replay vs the leader.
    const restored = await restoreState(shardId);
    assert.equal(restored.snapshot?.lastSeq, first.lastSeq);
    assert.ok(restored.tailEntries >= 705 && restored.tailEntries < 800, `tail of ${restored.tailEntries}`);
    const full = await fullReplay(shardId);
    assert.deepEqual(restored.state, full);
    assert.deepEqual(restored.state, shard.sm.exportState());

    second = await shard.snapshotter.snapshotNow();
    assert.ok(second !== null && second.lastSeq > first.lastSeq);
    assert.equal(await shard.log.firstSeq(), first.lastSeq + 1, "truncated behind the older retained snapshot");
    assert.deepEqual(
      shard.events.map((e) => e.phase),
      ["started", "stored", "started", "stored", "truncated"],
    );
    await createSpread(nc, shardId, "c", 3, 300);
  } finally {
    await shard.stop();
  }
  const live = shard.sm.exportState();
  const restored = await restoreState(shardId);
  assert.equal(restored.snapshot?.lastSeq, second.lastSeq);
  assert.deepEqual(restored.state, live);

  // A restarted shard picks up where the snapshot left off and keeps serving and snapshotting.
  const again = await startHarnessShard(nc, shardId, { natsUrl: server.url });
  try {
    assert.equal(again.restored.snapshot?.lastSeq, second.lastSeq);
    assert.equal((await call(nc, shardId, lookup(1, "c-d0"))).status, 0);
    await createSpread(nc, shardId, "d", 2, 100);
    const third = await again.snapshotter.snapshotNow();
    assert.equal(third?.lastSeq, again.server.lastSeq());
    assert.equal(await again.log.firstSeq(), second.lastSeq + 1);
    assert.deepEqual((await store.list(shardId)).map((s) => s.lastSeq), [third!.lastSeq, second.lastSeq]);
  } finally {
    await again.stop();
  }
  assert.deepEqual((await restoreState(shardId)).state, again.sm.exportState());
});

test("the log is truncated only after the snapshot is stored; a failed put truncates nothing", { timeout: 60_000 }, async () => {
  const shardId = 41;
  const order: string[] = [];
  // A bucket of its own whose size limit lets two small snapshots in, not a third bigger one.
  const bucket = "antler-snapshots-small";
  const shard = await startHarnessShard(nc, shardId, { natsUrl: server.url, bucket, maxBytes: 400_000, onEvent: (e) => order.push(e.phase) });
  const small = await openSnapshotStore(nc, { bucket });
  const log = shard.log;
  const truncate = log.truncateBefore.bind(log);
  log.truncateBefore = async (seq) => {
    order.push(`truncate before ${seq}`);
    await truncate(seq);
  };
  try {
    await createSpread(nc, shardId, "a", 2, 200);
    const s1 = await shard.snapshotter.snapshotNow();
    await createSpread(nc, shardId, "b", 2, 200);
    const s2 = await shard.snapshotter.snapshotNow();
    assert.deepEqual(order, ["started", "stored", "started", "stored", `truncate before ${s1!.lastSeq + 1}`, "truncated"]);
    assert.ok(s2 !== null);

    order.length = 0;
    await createSpread(nc, shardId, "c", 4, 2000);
    await assert.rejects(shard.snapshotter.snapshotNow(), /maximum bytes|SnapshotStoreError|storing snapshot/i);
    assert.deepEqual(order, ["started", "failed"]);
    assert.equal(await log.firstSeq(), s1!.lastSeq + 1, "nothing more truncated");
    assert.deepEqual((await small.list(shardId)).map((s) => s.lastSeq), [s2.lastSeq, s1!.lastSeq]);
    // Serving is unaffected by the failed snapshot.
    assert.equal((await call(nc, shardId, create(1, "after-failure"))).status, 0);
  } finally {
    await shard.stop();
  }
});

test("a corrupted snapshot is detected: the previous one and its tail are used, else restore fails", { timeout: 60_000 }, async () => {
  const shardId = 42;
  const shard = await startHarnessShard(nc, shardId, { natsUrl: server.url });
  let s1, s2;
  try {
    await createSpread(nc, shardId, "a", 4, 300);
    s1 = await shard.snapshotter.snapshotNow();
    await createSpread(nc, shardId, "b", 4, 300);
    s2 = await shard.snapshotter.snapshotNow();
    await createSpread(nc, shardId, "c", 2, 50);
  } finally {
    await shard.stop();
  }
  assert.ok(s1 !== null && s2 !== null);
  const live = shard.sm.exportState();
  const good = (await store.read(s2)).bytes;

  // Bit rot: same name and metadata, one byte flipped.
  const rotten = good.slice();
  rotten[rotten.length >> 1]! ^= 0x01;
  await store.put(shardId, { lastSeq: s2.lastSeq, formatVersion: coreSnapshotFormatVersion, bytes: rotten, sha256: sha256Hex(good) });
  const fellBack = await restoreState(shardId);
  assert.equal(fellBack.snapshot?.lastSeq, s1.lastSeq);
  assert.match(fellBack.skipped[0]!.reason, /SnapshotCorruptError: .*checksum mismatch/);
  assert.equal(fellBack.lastSeq, shard.server.lastSeq());
  assert.deepEqual(fellBack.state, live);

  // Intact bytes the state machine refuses (checksum of the garbage itself) also fall back.
  const garbage = new TextEncoder().encode("{\"not\":\"a snapshot\"}");
  await store.put(shardId, { lastSeq: s2.lastSeq, formatVersion: coreSnapshotFormatVersion, bytes: garbage });
  const refused = await restoreState(shardId);
  assert.equal(refused.snapshot?.lastSeq, s1.lastSeq);
  assert.deepEqual(refused.state, live);

  // With the older one corrupt too, the truncated log cannot be rebuilt: fail loudly.
  const older = (await store.read(s1)).bytes;
  await store.put(shardId, { lastSeq: s1.lastSeq, formatVersion: coreSnapshotFormatVersion, bytes: older.subarray(1), sha256: sha256Hex(older) });
  await ensureShardLog(nc, shardId).then((log) => log.truncateBefore(s1.lastSeq + 1));
  await assert.rejects(restoreState(shardId), RestoreError);
});

test("requests are answered while a snapshot is taken", { timeout: 120_000 }, async (t) => {
  const shardId = 43;
  const shard = await startHarnessShard(nc, shardId, { natsUrl: server.url });
  try {
    await createSpread(nc, shardId, "a", 64, 20_000, 64);
    let snapshotting = true;
    const answeredAtMs: number[] = [];
    const latencies: number[] = [];
    let i = 0;
    const snapshot = shard.snapshotter.snapshotNow().finally(() => (snapshotting = false));
    // Sequential requests for as long as the snapshot runs.
    while (snapshotting) {
      const t0 = performance.now();
      const reply = await call(nc, shardId, i % 2 === 0 ? create(1, `during-${i}`) : lookup(1, `during-${i - 1}`));
      const t1 = performance.now();
      assert.equal(reply.status, 0);
      latencies.push(t1 - t0);
      answeredAtMs.push(performance.timeOrigin + t1);
      i++;
    }
    assert.ok((await snapshot) !== null);
    const stored = shard.events.find((e) => e.phase === "stored");
    assert.ok(stored?.phase === "stored");
    // Had the export run on the serving thread, no reply could be sent while it ran.
    const exportEndsAtMs = stored.exportStartedAtMs + stored.exportMs;
    const duringExport = answeredAtMs.filter((t) => t > stored.exportStartedAtMs && t < exportEndsAtMs).length;
    assert.ok(stored.exportMs >= 50, `export took only ${stored.exportMs} ms: state too small to show anything`);
    assert.ok(duringExport >= 10, `only ${duringExport} replies during an export of ${stored.exportMs.toFixed(0)} ms`);
    latencies.sort((a, b) => a - b);
    const median = latencies[latencies.length >> 1]!;
    t.diagnostic(`${latencies.length} replies during the snapshot, ${duringExport} during the ${stored.exportMs.toFixed(0)} ms export; median ${median.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(0)} ms; put ${stored.putMs.toFixed(0)} ms`);
    assert.ok(median < stored.exportMs / 10, `median latency ${median.toFixed(1)} ms during the snapshot`);
  } finally {
    await shard.stop();
  }
});
