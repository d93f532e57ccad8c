/**
 * The shard server with the real shard-core state machine on the file-data path, against a real
 * nats-server (JetStream log), a real chunkserver registry on redis-server and a scripted gateway
 * answering chunk operations: housekeeping hands the machine the registered chunkservers, a
 * WRITE_CHUNK of a new chunk creates it on (as many as its goal asks of) them (MATOCS_CREATE via the gateway) and answers with
 * its location once the outcomes are in the log, READ_CHUNK finds it, and a replay of the log
 * rebuilds the same location.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, type NatsConnection, type Subscription } from "@antler/io-nats";
import { connectRedis, createChunkserverRegistry, type ChunkserverRegistration, type RedisClient } from "@antler/io-redis";
import { decodeMessage, encodeMessage, gatewayChunkOpSubject, nameFromText, shardRequestSubject, Status, type ChunkOpRequest, type Command } from "@antler/ops";
import { startNatsServer, startRedis, type NatsServerHandle, type RedisHandle } from "@antler/testkit";
import { createChunkserverDirectory } from "./chunk-directory.ts";
import { replayLog } from "./replay.ts";
import { startShardServer } from "./shard-server.ts";
import { newCoreMachine, quiet } from "./testing/shard-harness.ts";

const gatewayId = "gw-core";
const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };

let dir: string;
let natsServer: NatsServerHandle;
let redisServer: RedisHandle;
let nc: NatsConnection;
let redis: RedisClient;
let gateway: Subscription;
const received: ChunkOpRequest[] = [];

function registration(csid: number): ChunkserverRegistration {
  return {
    csid,
    ip: 0x0ad53c00 + csid,
    port: 9422,
    version: 0x000300ea,
    timeoutSeconds: 10,
    labelMask: 0,
    space: { usedSpace: 0n, totalSpace: 100n << 30n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 },
    load: 0,
    hlStatus: 1,
    errorCount: 0,
    copyCount: 0,
    state: "registered",
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-chunk-core-"));
  natsServer = await startNatsServer({ dir: join(dir, "nats") });
  redisServer = await startRedis({ dir: join(dir, "redis") });
  nc = await connectNats(natsServer.url, "chunk-core-test");
  redis = await connectRedis(redisServer.url);
  gateway = nc.subscribe(gatewayChunkOpSubject(gatewayId), {
    callback: (err, msg) => {
      if (err !== null) return;
      received.push(decodeMessage(msg.data) as ChunkOpRequest);
      msg.respond(encodeMessage({ status: Status.OK }));
    },
  });
});
after(async () => {
  gateway?.unsubscribe();
  await nc?.close();
  redis?.disconnect();
  await natsServer?.stop();
  await redisServer?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function call(shardId: number, cmd: Command): Promise<Record<string, unknown>> {
  const reply = await nc.request(shardRequestSubject(shardId), encodeMessage({ ctx, cmd }), { timeout: 10_000 });
  return decodeMessage(reply.data) as Record<string, unknown>;
}

test("a write of a new chunk creates it on the registered chunkservers and is answered with its location", async () => {
  const shardId = 60;
  const registry = createChunkserverRegistry(redis);
  await registry.put(registration(1), gatewayId);
  await registry.put(registration(2), gatewayId);
  const log = await ensureShardLog(nc, shardId);
  const sm = newCoreMachine(shardId);
  const server = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 0, chunkservers: createChunkserverDirectory(registry), chunkHousekeepingIntervalMs: 20 });
  let location: Record<string, unknown>;
  let csids: number[];
  try {
    await nc.flush();
    // Let housekeeping tell the machine which chunkservers are live.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const created = await call(shardId, { kind: "create", parent: 1, name: nameFromText("data"), mode: 0o644, umask: 0 });
    assert.equal(created.status, Status.OK);
    const inode = created.inode as number;
    location = await call(shardId, { kind: "writechunk", inode, index: 0, flags: 0 });
    assert.equal(location.status, Status.OK, JSON.stringify(location, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
    const chunkId = location.chunkId as bigint;
    assert.equal(location.version, 1);
    // As many copies as the file's goal asks, on registered servers, each one created first.
    csids = [...(location.csids as number[])].sort();
    assert.ok(csids.length >= 1 && csids.every((csid) => csid === 1 || csid === 2), `csids ${csids.join(",")}`);
    const creates = received.filter((r) => r.command.op === "create" && r.command.chunkId === chunkId);
    assert.deepEqual(creates.map((r) => r.csid).sort(), csids, "MATOCS_CREATE went to each");
    assert.equal((await call(shardId, { kind: "writechunkend", inode, index: 0, chunkId, length: 1000, flags: 0 })).status, Status.OK);
    const read = await call(shardId, { kind: "readchunk", inode, index: 0 });
    assert.equal(read.status, Status.OK);
    assert.equal(read.chunkId, chunkId);
    assert.deepEqual([...(read.csids as number[])].sort(), csids);
  } finally {
    await server.stop();
  }
  // The log alone rebuilds the chunk and its copies.
  const rebuilt = newCoreMachine(shardId);
  await replayLog(log, rebuilt);
  // Which servers are live is soft state, never logged: a new leader learns it from the registry.
  rebuilt.observeChunkservers(await createChunkserverDirectory(registry).views());
  const again = rebuilt.execute({ kind: "readchunk", inode: (await lookupInode(rebuilt)) ?? 0, index: 0 }, ctx, Date.now()).result as unknown as Record<string, unknown>;
  assert.equal(again.status, Status.OK);
  assert.equal(again.chunkId, location.chunkId);
  assert.deepEqual([...(again.csids as number[])].sort(), csids);
});

async function lookupInode(sm: ReturnType<typeof newCoreMachine>): Promise<number | undefined> {
  const result = sm.execute({ kind: "lookup", parent: 1, name: nameFromText("data") }, ctx, Date.now()).result as unknown as { status: number; inode?: number };
  return result.status === Status.OK ? result.inode : undefined;
}
