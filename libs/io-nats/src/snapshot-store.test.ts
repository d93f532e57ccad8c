/**
 * The snapshot store against a real nats-server: put/latest round trip with metadata, newest by
 * log sequence wins whatever the order of puts, only the newest `retained` are kept per shard and
 * shards do not see each other's, and corrupted bytes (checksum or size not matching the metadata)
 * are a SnapshotCorruptError on read, never returned as state.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { StorageType } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { openSnapshotStore, sha256Hex, snapshotBucket, snapshotObjectName, SnapshotCorruptError } from "./snapshot-store.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-snapstore-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "snapshot-store-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test("put and latest round-trip bytes and metadata; the highest sequence wins", async () => {
  const store = await openSnapshotStore(nc);
  assert.equal(await store.latest(1), null);
  const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
  const info = await store.put(1, { lastSeq: 40, formatVersion: 1, bytes: big });
  assert.deepEqual(info, { shardId: 1, lastSeq: 40, formatVersion: 1, size: big.length, sha256: sha256Hex(big), name: snapshotObjectName(1, 40) });
  // A late put of an older snapshot (a deposed leader) does not hide the newer one.
  await store.put(1, { lastSeq: 7, formatVersion: 1, bytes: bytes("old") });
  const latest = await store.latest(1);
  assert.equal(latest?.lastSeq, 40);
  assert.deepEqual(latest?.bytes, big);
  assert.equal(await store.latest(2), null, "another shard has none");
});

test("only the newest `retained` snapshots of a shard are kept", async () => {
  const store = await openSnapshotStore(nc, { retained: 2 });
  await store.put(5, { lastSeq: 1, formatVersion: 1, bytes: bytes("s1") });
  await store.put(6, { lastSeq: 1, formatVersion: 1, bytes: bytes("other shard") });
  await store.put(5, { lastSeq: 10, formatVersion: 1, bytes: bytes("s10") });
  await store.put(5, { lastSeq: 20, formatVersion: 2, bytes: bytes("s20") });
  const list = await store.list(5);
  assert.deepEqual(list.map((s) => [s.lastSeq, s.formatVersion]), [[20, 2], [10, 1]]);
  assert.equal(text((await store.read(list[1]!)).bytes), "s10");
  assert.deepEqual((await store.list(6)).map((s) => s.lastSeq), [1]);
});

test("a snapshot whose bytes do not match its checksum or size is rejected on read", async () => {
  const store = await openSnapshotStore(nc);
  const raw = await new Objm(nc).create(snapshotBucket, { storage: StorageType.File });
  // Written behind the store's back: bytes flipped after the checksum was taken.
  const good = bytes("the real state");
  const metadata = { "antler-shard": "9", "antler-last-seq": "3", "antler-format": "1", "antler-size": String(good.length), "antler-sha256": sha256Hex(good) };
  await raw.putBlob({ name: snapshotObjectName(9, 3), metadata }, bytes("the real statf"));
  await assert.rejects(store.latest(9), SnapshotCorruptError);
  await raw.putBlob({ name: snapshotObjectName(9, 3), metadata }, bytes("short"));
  await assert.rejects(store.latest(9), /5 bytes, metadata says 14/);
  // Objects without well-formed metadata are not snapshots at all.
  await raw.putBlob({ name: snapshotObjectName(9, 4), metadata: { ...metadata, "antler-sha256": "zz" } }, good);
  assert.deepEqual((await store.list(9)).map((s) => s.lastSeq), [3]);
});
