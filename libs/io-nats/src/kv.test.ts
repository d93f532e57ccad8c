/**
 * The cluster bucket against a real nats-server: compare-and-set semantics and a metadata id that
 * is chosen once and then stays the same for every caller, concurrent ones included.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { clusterCreatedKey, clusterMetaIdKey } from "@antler/ops";
import { connectNats, type NatsConnection } from "./connect.ts";
import { ClusterMetaIdError, ensureClusterCreatedSeconds, ensureClusterMetaId, openBucket } from "./kv.ts";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";

const bytes = (text: string) => new TextEncoder().encode(text);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-kv-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "kv-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test("create refuses an existing key and update refuses a stale revision", async () => {
  const bucket = await openBucket(nc, "kv-cas");
  assert.equal(await bucket.get("k"), null);
  const rev1 = await bucket.create("k", bytes("one"));
  assert.ok(rev1 !== null && rev1 > 0);
  assert.equal(await bucket.create("k", bytes("two")), null);
  const rev2 = await bucket.update("k", bytes("two"), rev1);
  assert.ok(rev2 !== null && rev2 > rev1);
  assert.equal(await bucket.update("k", bytes("three"), rev1), null);
  const entry = await bucket.get("k");
  assert.equal(entry?.revision, rev2);
  assert.deepEqual([...entry!.value], [...bytes("two")]);
  const rev3 = await bucket.put("k", bytes("four"));
  assert.ok(rev3 > rev2);
});

test("the metaid is random, non-zero, and stable across calls, connections and races", async () => {
  const bucket = await openBucket(nc, "kv-metaid");
  const other = await connectNats(server.url, "kv-test-2");
  try {
    const otherBucket = await openBucket(other, "kv-metaid");
    const ids = await Promise.all([ensureClusterMetaId(bucket), ensureClusterMetaId(otherBucket), ensureClusterMetaId(bucket)]);
    assert.ok(ids[0]! > 0n && ids[0]! < 2n ** 64n);
    assert.deepEqual(ids, [ids[0], ids[0], ids[0]]);
    assert.equal(await ensureClusterMetaId(otherBucket, () => 7n), ids[0]);
  } finally {
    await other.close();
  }
});

test("a racing creator's id wins and the loser adopts it", async () => {
  const bucket = await openBucket(nc, "kv-metaid-race");
  await bucket.create(clusterMetaIdKey, bytes("12345678901234567890"));
  assert.equal(await ensureClusterMetaId(bucket, () => 5n), 12345678901234567890n);
});

test("a corrupt stored metaid is an error, not a new id", async () => {
  const bucket = await openBucket(nc, "kv-metaid-bad");
  await bucket.put(clusterMetaIdKey, bytes("0"));
  await assert.rejects(ensureClusterMetaId(bucket), ClusterMetaIdError);
  await bucket.put(clusterMetaIdKey, bytes("18446744073709551616"));
  await assert.rejects(ensureClusterMetaId(bucket), ClusterMetaIdError);
});

test("the creation time is fixed by the first caller and read back by every later one", async () => {
  const bucket = await openBucket(nc, "kv-created");
  const first = await ensureClusterCreatedSeconds(bucket, () => 1_700_000_000);
  assert.equal(first, 1_700_000_000);
  assert.equal(await ensureClusterCreatedSeconds(bucket, () => 1_800_000_000), 1_700_000_000);
  await bucket.put(clusterCreatedKey, bytes("yesterday"));
  await assert.rejects(ensureClusterCreatedSeconds(bucket), ClusterMetaIdError);
});

test("a watch sees the current value, then every update in order", async () => {
  const bucket = await openBucket(nc, "kv-watch");
  await bucket.put("w", bytes("v1"));
  const seen: string[] = [];
  const watch = await bucket.watch("w", (entry) => seen.push(new TextDecoder().decode(entry.value)));
  try {
    await bucket.put("other", bytes("ignored"));
    await bucket.put("w", bytes("v2"));
    await bucket.put("w", bytes("v3"));
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(seen, ["v1", "v2", "v3"]);
  } finally {
    watch.stop();
  }
});
