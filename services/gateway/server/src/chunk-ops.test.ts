/**
 * The gateway's chunk-operation service over real NATS, a real registry on redis-server and
 * scripted chunkservers on real TCP: a ChunkOpRequest on gatewayChunkOpSubject becomes the right
 * MATOCS_* message on the link of its csid, and the CSTOMA reply becomes the NATS reply; replies in
 * any order find their operation (FIFO per op and chunk); a lost link, a timeout (whose late reply
 * must not be taken for a newer operation's), an unknown csid, an unknown replication source and
 * a malformed request all get their status.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createChunkserverConnection } from "@antler/gateway-core";
import { connectNats, type NatsConnection } from "@antler/io-nats";
import { connectRedis, createChunkserverRegistry, type ChunkserverRegistry, type RedisClient } from "@antler/io-redis";
import { decodeMessage, encodeMessage, gatewayChunkOpSubject, Status, type ChunkOpCommand } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import { startNatsServer, startRedis, type NatsServerHandle, type RedisHandle } from "@antler/testkit";
import { serveChunkOps, type ChunkOpService } from "./chunk-op-service.ts";
import { listenForChunkservers, type ChunkserverListener } from "./chunkserver-listener.ts";
import { startChunkserverLocator, type ChunkserverLocatorCache } from "./chunkserver-locator.ts";
import { FakeChunkserver, until } from "./test-support/fake-chunkserver.ts";

const quietLog = createLogger("test", { level: "error", write: () => {} });
const metaId = 0x4321n;
const gatewayId = "gw-ops";
const opTimeoutMs = 300;

describe("chunk operations through the gateway", () => {
  let dir: string;
  let natsServer: NatsServerHandle;
  let redisServer: RedisHandle;
  let nc: NatsConnection;
  let redis: RedisClient;
  let registry: ChunkserverRegistry;
  let listener: ChunkserverListener;
  let locator: ChunkserverLocatorCache;
  let service: ChunkOpService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "antler-chunk-ops-"));
    natsServer = await startNatsServer({ dir: join(dir, "nats"), jetstream: false });
    redisServer = await startRedis({ dir: join(dir, "redis") });
    nc = await connectNats(natsServer.url, "chunk-ops-test");
    redis = await connectRedis(redisServer.url);
    registry = createChunkserverRegistry(redis);
    locator = startChunkserverLocator(registry, quietLog);
    listener = await listenForChunkservers({
      host: "127.0.0.1",
      port: 0,
      createConnection: (peerIp) => createChunkserverConnection({ peerIp, metaId }),
      context: { gatewayId, registry, log: quietLog, nowMs: Date.now, chunkOpTimeoutMs: opTimeoutMs },
    });
    service = serveChunkOps({ nats: nc, gatewayId, linkOf: (csid) => listener.linkOf(csid), addressOf: (csid) => locator.resolve(csid), log: quietLog });
    await nc.flush();
  });
  after(async () => {
    service?.stop();
    await listener?.close(200);
    locator?.stop();
    await nc?.close();
    redis?.disconnect();
    await natsServer?.stop();
    await redisServer?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function registered(csid: number, ip = 0x0ad53c02): Promise<FakeChunkserver> {
    const cs = await FakeChunkserver.connect(listener.port);
    await cs.register(csid, ip);
    await until(async () => (await registry.get(csid))?.state === "registered" && listener.linkOf(csid) !== undefined);
    return cs;
  }

  function op(csid: number, command: ChunkOpCommand): Promise<number> {
    return nc.request(gatewayChunkOpSubject(gatewayId), encodeMessage({ csid, command }), { timeout: 5_000 }).then((reply) => (decodeMessage(reply.data) as { status: number }).status);
  }

  test("each command becomes its MATOCS message and the CSTOMA reply the answer", async () => {
    const cs = await registered(601);
    const source = await registered(602, 0x0ad53c09);
    try {
      const base = cs.operations().length;
      const create = op(601, { op: "create", chunkId: 5n, version: 1 });
      const duplicate = op(601, { op: "duplicate", chunkId: 6n, version: 1, oldChunkId: 5n, oldVersion: 1 });
      const truncate = op(601, { op: "truncate", chunkId: 7n, length: 1000, version: 3, oldVersion: 2 });
      const duptrunc = op(601, { op: "duptrunc", chunkId: 8n, version: 1, oldChunkId: 7n, oldVersion: 3, length: 10 });
      const setVersion = op(601, { op: "set-version", chunkId: 9n, version: 4, oldVersion: 3 });
      const remove = op(601, { op: "delete", chunkId: 10n, version: 0 });
      const replicate = op(601, { op: "replicate", chunkId: 11n, version: 2, sourceCsid: 602 });
      const sent = (await cs.waitForOperations(base + 7)).slice(base);
      assert.deepEqual(
        new Set(sent.map((m) => JSON.stringify(m, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)))),
        new Set(
          [
            { kind: "create", chunkId: 5n, version: 1 },
            { kind: "duplicate", newChunkId: 6n, newVersion: 1, oldChunkId: 5n, oldVersion: 1 },
            { kind: "truncate", chunkId: 7n, length: 1000, newVersion: 3, oldVersion: 2 },
            { kind: "duptrunc", newChunkId: 8n, newVersion: 1, oldChunkId: 7n, oldVersion: 3, length: 10 },
            { kind: "set-version", chunkId: 9n, newVersion: 4, oldVersion: 3 },
            { kind: "delete", chunkId: 10n, version: 0 },
            { kind: "replicate", chunkId: 11n, version: 2, sourceIp: 0x0ad53c09, sourcePort: 9422 },
          ].map((m) => JSON.stringify(m, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))),
        ),
      );
      cs.send(
        { kind: "chunk-op-status", op: "create", chunkId: 5n, status: 0 },
        { kind: "chunk-op-status", op: "duplicate", chunkId: 6n, status: 0 },
        { kind: "chunk-op-status", op: "truncate", chunkId: 7n, status: Status.WRONGVERSION },
        { kind: "chunk-op-status", op: "duptrunc", chunkId: 8n, status: 0 },
        { kind: "chunk-op-status", op: "set-version", chunkId: 9n, status: 0 },
        { kind: "chunk-op-status", op: "delete", chunkId: 10n, status: Status.NOCHUNK },
        { kind: "replicate-status", chunkId: 11n, version: 2, status: 0 },
      );
      assert.deepEqual(await Promise.all([create, duplicate, truncate, duptrunc, setVersion, remove, replicate]), [0, 0, Status.WRONGVERSION, 0, 0, Status.NOCHUNK, 0]);
    } finally {
      cs.destroy();
      source.destroy();
    }
  });

  test("replies in any order find their operation; one chunk's operations answer in order", async () => {
    const cs = await registered(611);
    try {
      const base = cs.operations().length;
      const first = op(611, { op: "create", chunkId: 21n, version: 1 });
      const second = op(611, { op: "create", chunkId: 22n, version: 1 });
      const bumpA = op(611, { op: "set-version", chunkId: 23n, version: 2, oldVersion: 1 });
      await cs.waitForOperations(base + 3);
      const bumpB = op(611, { op: "set-version", chunkId: 23n, version: 3, oldVersion: 2 });
      const deleteSame = op(611, { op: "delete", chunkId: 23n, version: 0 });
      await cs.waitForOperations(base + 5);
      cs.send(
        { kind: "chunk-op-status", op: "delete", chunkId: 23n, status: Status.NOCHUNK },
        { kind: "chunk-op-status", op: "create", chunkId: 22n, status: Status.CHUNKEXIST },
        { kind: "chunk-op-status", op: "set-version", chunkId: 23n, status: 0 },
        { kind: "chunk-op-status", op: "set-version", chunkId: 23n, status: Status.WRONGVERSION },
        { kind: "chunk-op-status", op: "create", chunkId: 21n, status: 0 },
      );
      assert.deepEqual(await Promise.all([first, second, bumpA, bumpB, deleteSame]), [0, Status.CHUNKEXIST, 0, Status.WRONGVERSION, Status.NOCHUNK]);
    } finally {
      cs.destroy();
    }
  });

  test("operations out when the link goes answer CSNOTPRESENT", async () => {
    const cs = await registered(621);
    const base = cs.operations().length;
    const pending = [op(621, { op: "create", chunkId: 31n, version: 1 }), op(621, { op: "delete", chunkId: 32n, version: 1 })];
    await cs.waitForOperations(base + 2);
    cs.destroy();
    assert.deepEqual(await Promise.all(pending), [Status.CSNOTPRESENT, Status.CSNOTPRESENT]);
    await until(() => listener.linkOf(621) === undefined);
    assert.equal(await op(621, { op: "create", chunkId: 33n, version: 1 }), Status.CSNOTPRESENT);
  });

  test("an unanswered operation times out, and its late reply does not answer the next one", async () => {
    const cs = await registered(631);
    try {
      const started = performance.now();
      assert.equal(await op(631, { op: "set-version", chunkId: 41n, version: 2, oldVersion: 1 }), Status.CSNOTPRESENT);
      assert.ok(performance.now() - started >= opTimeoutMs - 20);
      const next = op(631, { op: "set-version", chunkId: 41n, version: 3, oldVersion: 2 });
      await until(() => cs.operations().filter((m) => m.kind === "set-version").length === 2);
      cs.send({ kind: "chunk-op-status", op: "set-version", chunkId: 41n, status: Status.WRONGVERSION });
      cs.send({ kind: "chunk-op-status", op: "set-version", chunkId: 41n, status: 0 });
      assert.equal(await next, 0);
    } finally {
      cs.destroy();
    }
  });

  test("unknown csid, unknown replication source and malformed requests", async () => {
    const cs = await registered(641);
    try {
      assert.equal(await op(642, { op: "create", chunkId: 51n, version: 1 }), Status.CSNOTPRESENT);
      assert.equal(await op(641, { op: "replicate", chunkId: 52n, version: 1, sourceCsid: 699 }), Status.CANTCONNECT);
      const raw = async (value: unknown) => (decodeMessage((await nc.request(gatewayChunkOpSubject(gatewayId), encodeMessage(value), { timeout: 2_000 })).data) as { status: number }).status;
      assert.equal(await raw({ csid: 641, command: { op: "create", chunkId: 5, version: 1 } }), Status.EINVAL, "chunk id must be a bigint");
      assert.equal(await raw({ csid: 641, command: { op: "explode", chunkId: 5n } }), Status.EINVAL);
      assert.equal(await raw({ csid: 0, command: { op: "create", chunkId: 5n, version: 1 } }), Status.EINVAL);
      assert.equal(await raw({ csid: 641, command: { op: "truncate", chunkId: 5n, version: 2, oldVersion: 1, length: 2 ** 27 } }), Status.EINVAL);
      const garbage = await nc.request(gatewayChunkOpSubject(gatewayId), new Uint8Array([0xff, 0x01]), { timeout: 2_000 });
      assert.equal((decodeMessage(garbage.data) as { status: number }).status, Status.EINVAL);
      // The malformed ones sent nothing to the chunkserver.
      assert.deepEqual(cs.operations().filter((m) => m.kind !== "ack-registered"), []);
    } finally {
      cs.destroy();
    }
  });
});
