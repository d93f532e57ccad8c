/**
 * Chunk work through the shard server against a real nats-server, JetStream log and redis-server
 * (the chunkserver registry), with a small chunk-managing fake state machine and a scripted
 * "gateway" answering chunk operations on NATS:
 * - awaited work: the commands reach the gateway only after the execute entry is durable, the
 *   answer comes from finishChunkWork with the outcomes (a chunkserver without a registry record
 *   counts CSNOTPRESENT), and the requester gets it only after the finish entry is durable;
 * - work that is not awaited answers at once and finishes later;
 * - a retry with the same request id while the work is out joins it (executed once, both answered);
 * - housekeeping observes the registered servers, sends its work, and stops with the server;
 * - the sender's failure statuses (no record, no responders, silence, garbage).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { connectNats, ensureShardLog, type LogStream, type NatsConnection, type Subscription } from "@antler/io-nats";
import { connectRedis, createChunkserverRegistry, type ChunkserverRegistration, type ChunkserverRegistry, type RedisClient } from "@antler/io-redis";
import {
  decodeMessage,
  encodeMessage,
  gatewayChunkOpSubject,
  nameFromText,
  nameToText,
  shardRequestSubject,
  Status,
  type ChunkOpRequest,
  type Command,
  type Ctx,
  type Result,
} from "@antler/ops";
import type { ChunkCommandOutcome, ChunkserverView, ChunkWork } from "@antler/shard-core";
import { createLogger } from "@antler/telemetry";
import { startNatsServer, startRedis, type NatsServerHandle, type RedisHandle } from "@antler/testkit";
import { createChunkserverDirectory } from "./chunk-directory.ts";
import { createNatsChunkOpSender } from "./chunk-op-sender.ts";
import { decodeBatch } from "./log-batch.ts";
import { startShardServer } from "./shard-server.ts";
import type { ChunkStateMachine, ShardExecution } from "./state-machine.ts";

const quiet = createLogger("chunk-work-test", { level: "error", write: () => {} });
const gatewayId = "gw-chunk-test";

interface Entry {
  readonly op: "start" | "finish" | "housekeep";
  readonly workId: number;
  readonly outcomes?: readonly { readonly csid: number; readonly status: number }[];
}

/**
 * `create` of a name starting "w:" starts awaited work (create chunk 7 on csids 1 and 2), "d:" work
 * that is not awaited (delete on csid 1); the finish answers OK with the statuses as `inode`-free
 * payload. Housekeeping emits one delete per pass on csid 1.
 */
class ChunkFake implements ChunkStateMachine<Entry> {
  nextWork = 1;
  executed = 0;
  readonly finished: { workId: number; outcomes: readonly ChunkCommandOutcome[] }[] = [];
  readonly observed: (readonly ChunkserverView[])[] = [];
  housekeeps = 0;

  execute(cmd: Command, _ctx: Ctx, _nowMs: number): ShardExecution<Entry> {
    if (cmd.kind !== "create") return { result: { status: Status.ENOTSUP }, entry: null };
    this.executed++;
    const name = nameToText(cmd.name);
    const workId = this.nextWork++;
    const entry: Entry = { op: "start", workId };
    if (name.startsWith("w:")) {
      const work: ChunkWork = {
        workId,
        awaited: true,
        commands: [
          { csid: 1, command: { op: "create", chunkId: 7n, version: 1 } },
          { csid: 2, command: { op: "create", chunkId: 7n, version: 1 } },
        ],
      };
      return { result: { status: Status.EINVAL }, entry, chunkWork: work };
    }
    if (name.startsWith("d:")) {
      const work: ChunkWork = { workId, awaited: false, commands: [{ csid: 1, command: { op: "delete", chunkId: 9n, version: 0 } }] };
      return { result: { status: Status.OK }, entry, chunkWork: work };
    }
    return { result: { status: Status.OK }, entry };
  }

  finishChunkWork(workId: number, outcomes: readonly ChunkCommandOutcome[]): ShardExecution<Entry> {
    this.finished.push({ workId, outcomes });
    const statuses = outcomes.map((o) => ({ csid: o.csid, status: o.status }));
    const ok = outcomes.some((o) => o.status === Status.OK);
    // The statuses ride in a statfs-shaped payload so the test can read them back.
    const result = (ok ? { status: Status.OK, totalSpace: outcomes.length, availSpace: statuses.filter((s) => s.status === Status.OK).length, freeSpace: 0, trashSpace: 0, sustainedSpace: 0, inodes: 0 } : { status: Status.NOTDONE }) as Result;
    return { result, entry: { op: "finish", workId, outcomes: statuses } };
  }

  housekeepChunks(): ShardExecution<Entry> {
    this.housekeeps++;
    const workId = this.nextWork++;
    return {
      result: { status: Status.OK },
      entry: { op: "housekeep", workId },
      chunkWork: { workId, awaited: false, commands: [{ csid: 1, command: { op: "delete", chunkId: 100n + BigInt(workId), version: 0 } }] },
    };
  }

  observeChunkservers(servers: readonly ChunkserverView[]): void {
    this.observed.push(servers);
  }

  apply(): void {}
  maintain(): Entry | null {
    return null;
  }
  encodeEntry(entry: Entry): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(entry));
  }
  decodeEntry(bytes: Uint8Array): Entry {
    return JSON.parse(new TextDecoder().decode(bytes)) as Entry;
  }
}

/** The real log, with every acknowledged entry recorded and appends of chosen entries delayed. */
class WatchedLog implements LogStream {
  readonly durable: Entry[] = [];
  delayFinishMs = 0;
  readonly #inner: LogStream;
  constructor(inner: LogStream) {
    this.#inner = inner;
  }
  get name(): string {
    return this.#inner.name;
  }
  async append(data: Uint8Array, expectedLastSeq: number, msgId?: string): Promise<number> {
    const entries = decodeBatch(data).map((bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Entry);
    if (this.delayFinishMs > 0 && entries.some((e) => e.op === "finish")) await sleep(this.delayFinishMs);
    const seq = await this.#inner.append(data, expectedLastSeq, msgId);
    this.durable.push(...entries);
    return seq;
  }
  lastSeq(): Promise<number> {
    return this.#inner.lastSeq();
  }
  readAll(fromSeq: number, onRecord: Parameters<LogStream["readAll"]>[1]): Promise<number> {
    return this.#inner.readAll(fromSeq, onRecord);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(10);
  }
}

function registration(csid: number, state: ChunkserverRegistration["state"]): ChunkserverRegistration {
  return {
    csid,
    ip: 0x0ad53c01 + csid,
    port: 9422,
    version: 0x000300ea,
    timeoutSeconds: 10,
    labelMask: 1,
    space: { usedSpace: 100n, totalSpace: 1_000n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 },
    load: 0,
    hlStatus: 1,
    errorCount: 0,
    copyCount: 0,
    state,
  };
}

const create = (name: string): Command => ({ kind: "create", parent: 1, name: nameFromText(name), mode: 0o644, umask: 0 });

describe("shard chunk work with real NATS and Redis", () => {
  let dir: string;
  let natsServer: NatsServerHandle;
  let redisServer: RedisHandle;
  let nc: NatsConnection;
  let redis: RedisClient;
  let registry: ChunkserverRegistry;
  let nextShard = 40;
  /** What the scripted gateway received, with the durable entries at that moment. */
  let received: { request: ChunkOpRequest; durableOps: string[] }[] = [];
  let gatewayLog: WatchedLog | null = null;
  let gatewayDelayMs = 0;
  let gatewayStatus: number = Status.OK;
  let gateway: Subscription;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "antler-chunk-work-"));
    natsServer = await startNatsServer({ dir: join(dir, "nats") });
    redisServer = await startRedis({ dir: join(dir, "redis") });
    nc = await connectNats(natsServer.url, "chunk-work-test");
    redis = await connectRedis(redisServer.url);
    registry = createChunkserverRegistry(redis);
    gateway = nc.subscribe(gatewayChunkOpSubject(gatewayId), {
      callback: (err, msg) => {
        if (err !== null) return;
        const request = decodeMessage(msg.data) as ChunkOpRequest;
        received.push({ request, durableOps: gatewayLog?.durable.map((e) => `${e.op}:${e.workId}`) ?? [] });
        setTimeout(() => msg.respond(encodeMessage({ status: gatewayStatus })), gatewayDelayMs);
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
  beforeEach(async () => {
    await redis.flushall();
    received = [];
    gatewayDelayMs = 0;
    gatewayStatus = Status.OK;
    // csid 1 is on our scripted gateway; csid 2 has no record (not connected anywhere).
    await registry.put(registration(1, "registered"), gatewayId);
  });

  async function startShard(options: { housekeepingMs?: number } = {}) {
    const shardId = nextShard++;
    const log = new WatchedLog(await ensureShardLog(nc, shardId));
    gatewayLog = log;
    const sm = new ChunkFake();
    const directory = createChunkserverDirectory(registry);
    const server = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 0, chunkservers: directory, chunkHousekeepingIntervalMs: options.housekeepingMs ?? 0 });
    await nc.flush();
    const call = async (cmd: Command, requestId?: string): Promise<{ result: Record<string, unknown>; durableOps: string[] }> => {
      const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1, ...(requestId !== undefined ? { requestId } : {}) };
      const reply = await nc.request(shardRequestSubject(shardId), encodeMessage({ ctx, cmd }), { timeout: 5_000 });
      return { result: decodeMessage(reply.data) as Record<string, unknown>, durableOps: log.durable.map((e) => `${e.op}:${e.workId}`) };
    };
    return { server, sm, log, call };
  }

  test("awaited work: sent after its entry is durable, answered after the finish entry is durable", async () => {
    const { server, sm, log, call } = await startShard();
    try {
      log.delayFinishMs = 150;
      const { result, durableOps } = await call(create("w:file"));
      // The fake's finish payload: 2 commands, 1 succeeded (csid 2 has no registry record).
      assert.equal(result.status, Status.OK);
      assert.equal(result.totalSpace, 2);
      assert.equal(result.availSpace, 1);
      assert.deepEqual(durableOps, ["start:1", "finish:1"], "both entries durable before the answer");
      assert.equal(received.length, 1, "only csid 1 has a gateway");
      assert.deepEqual(received[0]!.request, { csid: 1, command: { op: "create", chunkId: 7n, version: 1 } });
      assert.deepEqual(received[0]!.durableOps, ["start:1"], "the command went out only once its entry was durable");
      assert.equal(sm.finished.length, 1);
      assert.deepEqual(
        [...sm.finished[0]!.outcomes].sort((a, b) => a.csid - b.csid),
        [
          { csid: 1, chunkId: 7n, status: Status.OK },
          { csid: 2, chunkId: 7n, status: Status.CSNOTPRESENT },
        ],
      );
    } finally {
      await server.stop();
    }
  });

  test("a chunkserver's failure status reaches finishChunkWork", async () => {
    const { server, sm, call } = await startShard();
    try {
      gatewayStatus = Status.NOSPACE;
      const { result } = await call(create("w:full"));
      assert.equal(result.status, Status.NOTDONE);
      assert.deepEqual(sm.finished[0]!.outcomes.find((o) => o.csid === 1)?.status, Status.NOSPACE);
    } finally {
      await server.stop();
    }
  });

  test("work that is not awaited answers at once and finishes later", async () => {
    const { server, sm, call } = await startShard();
    try {
      gatewayDelayMs = 300;
      const { result, durableOps } = await call(create("d:gone"));
      assert.equal(result.status, Status.OK);
      assert.deepEqual(durableOps, ["start:1"]);
      assert.equal(sm.finished.length, 0, "answered before the chunkserver did");
      await until(() => sm.finished.length === 1);
      assert.deepEqual(sm.finished[0]!.outcomes, [{ csid: 1, chunkId: 9n, status: Status.OK }]);
    } finally {
      await server.stop();
    }
  });

  test("a retry with the same request id joins the work that is out", async () => {
    const { server, sm, call } = await startShard();
    try {
      gatewayDelayMs = 300;
      const first = call(create("w:retry"), "req-1");
      await until(() => received.length === 1);
      const second = call(create("w:retry"), "req-1");
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual(a.result, b.result);
      assert.equal(a.result.status, Status.OK);
      assert.equal(sm.executed, 1, "executed once");
      assert.equal(received.length, 1);
    } finally {
      await server.stop();
    }
  });

  test("housekeeping observes registered servers, sends its work, and stops with the server", async () => {
    await registry.put(registration(3, "registering"), gatewayId);
    await registry.put(registration(4, "maintenance"), "gw-other");
    const { server, sm } = await startShard({ housekeepingMs: 30 });
    try {
      await until(() => sm.housekeeps >= 3 && sm.finished.length >= 2);
      const views = sm.observed[0]!;
      assert.deepEqual(
        views.map((v) => [v.csid, v.state, v.availSpace, v.totalSpace]),
        [
          [1, "registered", 900n, 1_000n],
          [4, "maintenance", 900n, 1_000n],
        ],
      );
      assert.ok(received.some((r) => r.request.command.op === "delete" && r.request.csid === 1));
    } finally {
      await server.stop();
    }
    const passes = sm.housekeeps;
    await sleep(150);
    assert.equal(sm.housekeeps, passes, "no pass after stop");
  });
});

describe("chunk op sender failures", () => {
  let dir: string;
  let natsServer: NatsServerHandle;
  let nc: NatsConnection;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "antler-chunk-sender-"));
    natsServer = await startNatsServer({ dir, jetstream: false });
    nc = await connectNats(natsServer.url, "chunk-sender-test");
  });
  after(async () => {
    await nc?.close();
    await natsServer?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const command = { csid: 5, command: { op: "create" as const, chunkId: 11n, version: 1 } };
  const fixedDirectory = (gateway: string | undefined) => ({
    gatewayOf: () => Promise.resolve(gateway),
    views: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  });

  test("no registry, no record, no responders, silence and garbage all give CSNOTPRESENT", async () => {
    const silent = nc.subscribe(gatewayChunkOpSubject("gw-silent"), { callback: () => {} });
    const garbage = nc.subscribe(gatewayChunkOpSubject("gw-garbage"), { callback: (_err, msg) => void msg.respond(new Uint8Array([1, 2, 3])) });
    const answering = nc.subscribe(gatewayChunkOpSubject("gw-ok"), { callback: (_err, msg) => void msg.respond(encodeMessage({ status: Status.CHUNKEXIST })) });
    await nc.flush();
    try {
      const statusVia = async (directory: ReturnType<typeof fixedDirectory> | null, timeoutMs = 200) =>
        (await createNatsChunkOpSender({ nc, directory, logger: quiet, timeoutMs }).send(command)).status;
      assert.equal(await statusVia(null), Status.CSNOTPRESENT);
      assert.equal(await statusVia(fixedDirectory(undefined)), Status.CSNOTPRESENT);
      assert.equal(await statusVia(fixedDirectory("gw-nobody")), Status.CSNOTPRESENT);
      const started = performance.now();
      assert.equal(await statusVia(fixedDirectory("gw-silent")), Status.CSNOTPRESENT);
      assert.ok(performance.now() - started < 1_000, "bounded by the timeout");
      assert.equal(await statusVia(fixedDirectory("gw-garbage")), Status.CSNOTPRESENT);
      assert.equal(await statusVia(fixedDirectory("gw-ok")), Status.CHUNKEXIST);
      const failing = { ...fixedDirectory(undefined), gatewayOf: () => Promise.reject(new Error("redis down")) };
      assert.equal(await statusVia(failing), Status.CSNOTPRESENT);
    } finally {
      silent.unsubscribe();
      garbage.unsubscribe();
      answering.unsubscribe();
    }
  });
});
