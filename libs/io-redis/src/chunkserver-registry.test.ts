/**
 * The chunkserver registry against a real redis-server: csids are unique under concurrent
 * allocation, stay within 1..chunkserverIdMax and wrap past records that still exist; a csid a
 * chunkserver brings is kept unless another connected address holds it; a record
 * reads back exactly with its address and holding gateway and carries the TTL; only connected
 * chunkservers with a reported total count towards the cluster's space; unreadable records are
 * skipped.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { limits } from "@antler/base";
import {
  ChunkserverIdsExhaustedError,
  chunkserverCounterKey,
  chunkserverKey,
  createChunkserverRegistry,
  type ChunkserverRegistration,
} from "./chunkserver-registry.ts";
import { connectRedis, type RedisClient } from "./connect.ts";
import { startTestRedis, type TestRedis } from "./testing/redis.ts";

function record(csid: number, overrides: Partial<ChunkserverRegistration> = {}): ChunkserverRegistration {
  return {
    csid,
    ip: 0x0ad53c01,
    port: 9422,
    version: 0x000300ea,
    timeoutSeconds: 10,
    labelMask: 0b101,
    space: {
      usedSpace: 1_000n,
      totalSpace: 0x1_0000_0000_0000n,
      chunkCount: 3,
      toDeleteUsedSpace: 0n,
      toDeleteTotalSpace: 0n,
      toDeleteChunkCount: 0,
    },
    load: 4,
    hlStatus: 1,
    errorCount: 0,
    copyCount: 3,
    state: "registered",
    ...overrides,
  };
}

describe("chunkserver registry on a real redis-server", () => {
  let server: TestRedis;
  let redis: RedisClient;

  before(async () => {
    server = await startTestRedis();
    redis = await connectRedis(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  test("concurrent allocations give distinct non-zero csids, each reserved with the TTL", async () => {
    const registry = createChunkserverRegistry(redis);
    const ids = await Promise.all(Array.from({ length: 50 }, () => registry.claimCsid(0, "10.0.0.9:9422")));
    assert.equal(new Set(ids).size, 50);
    assert.ok(ids.every((id) => id >= 1 && id <= limits.chunkserverIdMax));
    const ttl = await redis.pttl(chunkserverKey(ids[0]!));
    assert.ok(ttl > 0 && ttl <= limits.chunkserverRecordTtlMs, `ttl ${ttl}`);
    assert.equal((await registry.get(ids[0]!))?.state, "allocated");
  });

  test("allocation wraps to 1 after the u16 maximum and skips csids still in use", async () => {
    const registry = createChunkserverRegistry(redis);
    await redis.set(chunkserverCounterKey, limits.chunkserverIdMax - 1);
    assert.equal(await registry.claimCsid(0, "10.0.0.9:9422"), limits.chunkserverIdMax);
    await registry.put(record(1), "gw-a");
    await registry.put(record(2), "gw-a");
    assert.equal(await registry.claimCsid(0, "10.0.0.9:9422"), 3, "1 and 2 are taken, 0 is never handed out");
  });

  test("a chunkserver keeps its own csid unless another connected address holds it", async () => {
    const registry = createChunkserverRegistry(redis);
    assert.equal(await registry.claimCsid(7, "10.0.0.1:9422"), 7, "a free csid is granted");
    await registry.put(record(7, { ip: 0x0a000001 }), "gw-a");
    assert.equal(await registry.claimCsid(7, "10.0.0.1:9422"), 7, "the same server reconnecting keeps it");
    await registry.put(record(7, { ip: 0x0a000001 }), "gw-a");
    const other = await registry.claimCsid(7, "10.0.0.2:9422");
    assert.notEqual(other, 7, "a second server with a copied csid gets its own");
    assert.ok(other >= 1 && other <= limits.chunkserverIdMax);
    await registry.put(record(7, { ip: 0x0a000001, state: "disconnected" }), "gw-a");
    assert.equal(await registry.claimCsid(7, "10.0.0.3:9422"), 7, "a csid whose server is gone moves to the new address");
    assert.equal((await registry.get(7))?.state, "allocated");
  });

  test("when every csid is in use, allocation fails with a typed error", async () => {
    const registry = createChunkserverRegistry(redis);
    await redis.eval(
      "for id = 1, tonumber(ARGV[1]) do redis.call('HSET', ARGV[2] .. id, 'state', 'registered') end",
      0,
      limits.chunkserverIdMax,
      chunkserverKey(0).slice(0, -1),
    );
    await assert.rejects(registry.claimCsid(0, "10.0.0.9:9422"), ChunkserverIdsExhaustedError);
  });

  test("a record reads back exactly, with its address, gateway and TTL", async () => {
    let nowMs = 1_700_000_000_000;
    const registry = createChunkserverRegistry(redis, { now: () => nowMs });
    await registry.put(record(12), "gw-a");
    const entry = await registry.get(12);
    assert.ok(entry !== null);
    const { address, gatewayId, updatedMs, ...rest } = entry;
    assert.deepEqual(rest, record(12));
    assert.equal(address, "10.213.60.1:9422");
    assert.equal(gatewayId, "gw-a");
    assert.equal(updatedMs, nowMs);
    const ttl = await redis.pttl(chunkserverKey(12));
    assert.ok(ttl > limits.chunkserverRecordTtlMs - 5_000 && ttl <= limits.chunkserverRecordTtlMs);
    nowMs += 1;
    await registry.put(record(12, { state: "disconnected" }), "gw-b");
    assert.equal((await registry.get(12))?.gatewayId, "gw-b");
    assert.equal(await registry.get(13), null);
    assert.equal(await registry.get(0), null);
  });

  test("a record whose link stopped refreshing it disappears after the TTL", async () => {
    const registry = createChunkserverRegistry(redis, { ttlMs: 200 });
    await registry.put(record(5), "gw-a");
    assert.equal((await registry.list()).length, 1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(await registry.list(), []);
  });

  test("cluster space sums connected chunkservers with a reported total only", async () => {
    const registry = createChunkserverRegistry(redis);
    const withSpace = (csid: number, used: bigint, total: bigint, state: ChunkserverRegistration["state"]) =>
      record(csid, { state, space: { ...record(csid).space, usedSpace: used, totalSpace: total } });
    await registry.put(withSpace(1, 10n, 100n, "registered"), "gw-a");
    await registry.put(withSpace(2, 20n, 200n, "registering"), "gw-b");
    await registry.put(withSpace(3, 0n, 0n, "registered"), "gw-b"); // still scanning its disks
    await registry.put(withSpace(4, 40n, 400n, "disconnected"), "gw-a");
    await registry.put(withSpace(5, 50n, 500n, "maintenance"), "gw-a");
    await registry.claimCsid(0, "10.0.0.9:9422");
    assert.deepEqual(await registry.clusterSpace(), { totalSpace: 300n, usedSpace: 30n, chunkservers: 3 });
  });

  test("list is ordered by csid, bounded, and skips records it cannot read", async () => {
    const registry = createChunkserverRegistry(redis);
    for (const csid of [9, 3, 6]) await registry.put(record(csid), "gw-a");
    await redis.hset(chunkserverKey(4), "state", "bogus");
    await redis.hset(chunkserverKey(5), "used", "not-a-number", "state", "registered");
    await redis.set(`antler:cs:notanid`, "x");
    const all = await registry.list();
    assert.deepEqual(all.map((e) => e.csid), [3, 5, 6, 9]);
    assert.equal(all[1]!.space.usedSpace, 0n, "an unreadable number reads as 0, not as a crash");
    assert.equal((await registry.list(2)).length, 2);
  });
});
