/**
 * The chunkserver port's shell with a scripted chunkserver over real TCP (loopback; the fake CS
 * reports a 10.x address, so the loopback rule does not apply) and the real registry on a real
 * redis-server: a new CS gets an allocated csid and a record that follows its registration; a
 * closed link leaves its record "disconnected"; a second connection with the same csid from the same
 * address takes over and the old link cannot overwrite the new record, one from another address gets
 * a csid of its own; a stop writes the last record before it
 * returns. No root needed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createChunkserverConnection } from "@antler/gateway-core";
import { connectRedis, createChunkserverRegistry, type ChunkserverRegistry, type RedisClient } from "@antler/io-redis";
import type { ChunkserverMessage } from "@antler/mfs-wire";
import { createLogger } from "@antler/telemetry";
import { startRedis, type RedisHandle } from "@antler/testkit";
import { listenForChunkservers, type ChunkserverListener } from "./chunkserver-listener.ts";
import { FakeChunkserver, fakeChunkserverSpace, registerBegin as begin, until } from "./test-support/fake-chunkserver.ts";

const quietLog = createLogger("test", { level: "error", write: () => {} });
const metaId = 0x1234n;

describe("chunkserver listener with a real registry", () => {
  let dir: string;
  let redisServer: RedisHandle;
  let redis: RedisClient;
  let registry: ChunkserverRegistry;
  let listener: ChunkserverListener;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "antler-cs-listener-"));
    redisServer = await startRedis({ dir });
    redis = await connectRedis(redisServer.url);
    registry = createChunkserverRegistry(redis);
    listener = await listenForChunkservers({
      host: "127.0.0.1",
      port: 0,
      createConnection: (peerIp) => createChunkserverConnection({ peerIp, metaId }),
      context: { gatewayId: "gw-l", registry, log: quietLog, nowMs: Date.now },
    });
  });
  after(async () => {
    await listener?.close(200);
    redis?.disconnect();
    await redisServer?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("a new chunkserver gets a csid and its record follows the registration", async () => {
    const cs = await FakeChunkserver.connect(listener.port);
    cs.send(begin(0));
    const [ack] = await cs.waitFor(1);
    assert.ok(ack?.kind === "ack-registered");
    assert.ok(ack.csid >= 1);
    assert.equal(ack.metaId, metaId);
    cs.send({ kind: "labels", labelMask: 1 }, { kind: "register-chunks", form: 6, chunks: [{ chunkId: 5n, version: 1 }] });
    assert.deepEqual((await cs.waitFor(2))[1], { kind: "ack-next" });
    cs.send({ kind: "register-end", form: 6, space: null });
    await until(async () => (await registry.get(ack.csid))?.state === "registered");
    const entry = await registry.get(ack.csid);
    assert.equal(entry?.address, "10.213.60.2:9422");
    assert.equal(entry?.labelMask, 1);
    assert.equal(entry?.copyCount, 1);
    assert.equal(entry?.gatewayId, "gw-l");
    assert.equal((await registry.clusterSpace()).totalSpace, 1_000n);

    cs.destroy();
    await until(async () => (await registry.get(ack.csid))?.state === "disconnected");
    await until(() => listener.linkCount() === 0);
  });

  test("a reconnect with the same csid takes over; the old link cannot mark it disconnected", async () => {
    const old = await FakeChunkserver.connect(listener.port);
    await old.register(300);
    await until(async () => (await registry.get(300))?.state === "registered");
    const fresh = await FakeChunkserver.connect(listener.port);
    fresh.send(begin(300));
    await old.closed;
    await fresh.waitFor(1);
    fresh.send({ kind: "register-end", form: 6, space: null });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await registry.get(300))?.state, "registered");
    assert.equal(listener.linkCount(), 1);
    fresh.destroy();
    await until(async () => (await registry.get(300))?.state === "disconnected");
  });

  test("a second chunkserver bringing a csid that a connected one holds gets its own", async () => {
    const first = await FakeChunkserver.connect(listener.port);
    await first.register(310);
    await until(async () => (await registry.get(310))?.state === "registered");
    const copy = await FakeChunkserver.connect(listener.port);
    copy.send({ ...begin(310), ip: 0x0ad53c03 } as ChunkserverMessage);
    const [ack] = await copy.waitFor(1);
    assert.ok(ack?.kind === "ack-registered");
    assert.notEqual(ack.csid, 310);
    copy.send({ kind: "register-end", form: 6, space: null });
    await until(async () => (await registry.get(ack.csid))?.state === "registered");
    assert.equal((await registry.get(310))?.state, "registered", "the first one is untouched");
    assert.equal(listener.linkCount(), 2);
    first.destroy();
    copy.destroy();
    await until(() => listener.linkCount() === 0);
  });

  test("a malformed chunkserver is closed without touching the others", async () => {
    const good = await FakeChunkserver.connect(listener.port);
    await good.register(301);
    await until(async () => (await registry.get(301))?.state === "registered");
    const bad = await FakeChunkserver.connect(listener.port);
    bad.send({ kind: "space", layoutBytes: 40, space: fakeChunkserverSpace });
    await bad.closed;
    good.send({ kind: "current-load", load: 3, hlStatus: 1 });
    await until(async () => (await registry.get(301))?.load === 3);
    good.destroy();
    await until(() => listener.linkCount() === 0);
  });
});

test("stopping the listener writes each link's last record before it returns", async () => {
  const dir = await mkdtemp(join(tmpdir(), "antler-cs-listener-stop-"));
  const redisServer = await startRedis({ dir });
  const redis = await connectRedis(redisServer.url);
  let listener: ChunkserverListener | undefined;
  let cs: FakeChunkserver | undefined;
  try {
    const registry = createChunkserverRegistry(redis);
    listener = await listenForChunkservers({
      host: "127.0.0.1",
      port: 0,
      createConnection: (peerIp) => createChunkserverConnection({ peerIp, metaId }),
      context: { gatewayId: "gw-stop", registry, log: quietLog, nowMs: Date.now },
    });
    cs = await FakeChunkserver.connect(listener.port);
    await cs.register(400);
    await until(async () => (await registry.get(400))?.state === "registered");
    const stopping = listener;
    listener = undefined;
    await stopping.close(1_000);
    assert.equal((await registry.get(400))?.state, "disconnected");
  } finally {
    cs?.destroy();
    // A failed assertion must not leave the listener's tick timer keeping the test process alive.
    await listener?.close(100);
    redis.disconnect();
    await redisServer.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
