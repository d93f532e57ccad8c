/**
 * The shard's chunkserver directory over a counting fake registry: listings are read at most once
 * per refresh interval and shared by concurrent callers; a lookup uses a fresh cached record and
 * reads the one record again when it is stale, missing or not connected; only registered and
 * maintenance servers are views, with avail = total − used.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChunkserverEntry } from "@antler/io-redis";
import { createChunkserverDirectory, viewOf, type ChunkserverRegistryReader } from "./chunk-directory.ts";

function entry(csid: number, state: ChunkserverEntry["state"], gatewayId = "gw-a"): ChunkserverEntry {
  return {
    csid,
    ip: 0x0a000001,
    port: 9422,
    version: 0x000300ea,
    timeoutSeconds: 10,
    labelMask: 2,
    space: { usedSpace: 300n, totalSpace: 1_000n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 },
    load: 0,
    hlStatus: 1,
    errorCount: 0,
    copyCount: 0,
    state,
    address: "10.0.0.1:9422",
    gatewayId,
    updatedMs: 0,
  };
}

class CountingRegistry implements ChunkserverRegistryReader {
  records = new Map<number, ChunkserverEntry>();
  lists = 0;
  gets = 0;
  get(csid: number): Promise<ChunkserverEntry | null> {
    this.gets++;
    return Promise.resolve(this.records.get(csid) ?? null);
  }
  list(): Promise<ChunkserverEntry[]> {
    this.lists++;
    return Promise.resolve([...this.records.values()]);
  }
}

test("listings are cached for the refresh interval and shared", async () => {
  const registry = new CountingRegistry();
  registry.records.set(1, entry(1, "registered"));
  registry.records.set(2, entry(2, "registering"));
  registry.records.set(3, entry(3, "maintenance"));
  registry.records.set(4, entry(4, "disconnected"));
  let now = 1_000;
  const directory = createChunkserverDirectory(registry, { refreshMs: 1_000, nowMs: () => now });
  const [a, b] = await Promise.all([directory.views(), directory.views()]);
  assert.equal(registry.lists, 1);
  assert.deepEqual(a, b);
  assert.deepEqual(
    a.map((v) => [v.csid, v.state, v.availSpace, v.labelMask]),
    [
      [1, "registered", 700n, 2],
      [3, "maintenance", 700n, 2],
    ],
  );
  now += 999;
  await directory.views();
  assert.equal(registry.lists, 1);
  now += 1;
  await directory.views();
  assert.equal(registry.lists, 2);
});

test("lookups use fresh connected records and re-read stale, missing or unconnected ones", async () => {
  const registry = new CountingRegistry();
  registry.records.set(1, entry(1, "registered", "gw-a"));
  let now = 0;
  const directory = createChunkserverDirectory(registry, { refreshMs: 1_000, nowMs: () => now });
  await directory.views();
  assert.equal(await directory.gatewayOf(1), "gw-a");
  assert.equal(registry.gets, 0, "served from the listing");
  // A chunkserver that registered after the listing is found by a single read.
  registry.records.set(5, entry(5, "registering", "gw-b"));
  assert.equal(await directory.gatewayOf(5), "gw-b");
  assert.equal(registry.gets, 1);
  // It moved to another gateway: the cached record is used until it is a refresh old.
  registry.records.set(1, entry(1, "registered", "gw-c"));
  now = 999;
  assert.equal(await directory.gatewayOf(1), "gw-a");
  now = 1_000;
  assert.equal(await directory.gatewayOf(1), "gw-c");
  // Disconnected or absent: undefined, and the next lookup asks again.
  registry.records.set(1, entry(1, "disconnected"));
  now = 2_500;
  assert.equal(await directory.gatewayOf(1), undefined);
  const gets = registry.gets;
  assert.equal(await directory.gatewayOf(1), undefined);
  assert.equal(registry.gets, gets + 1);
  assert.equal(await directory.gatewayOf(77), undefined);
  // Concurrent lookups of one csid share the read.
  const before = registry.gets;
  await Promise.all([directory.gatewayOf(88), directory.gatewayOf(88), directory.gatewayOf(88)]);
  assert.equal(registry.gets, before + 1);
});

test("a server that reports more used than total has no space to offer", () => {
  const full = { ...entry(9, "registered"), space: { ...entry(9, "registered").space, usedSpace: 2_000n } };
  assert.equal(viewOf(full)?.availSpace, 0n);
  assert.equal(viewOf(entry(9, "allocated")), null);
});
