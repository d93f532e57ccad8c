/**
 * Chunk reports from a scripted chunkserver (real TCP, real registry on redis-server) through the
 * chunkserver link and the real meta-caller, over a recording transport standing in for NATS:
 * - the chunkserverreset goes to every shard and is answered before any copy is sent;
 * - registration copies are gathered per slot and sent as full reports of at most the batch size
 *   (when a slot fills one, or when the registration ends);
 * - CHUNK_NEW (not full, the removal-disk version bit dropped) and CHUNK_LOST (chunksgone) follow
 *   in order, split by slot;
 * - a report a shard refuses is dropped without blocking the rest;
 * - all are system requests (session 0, root) with unique request ids.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createChunkserverConnection } from "@antler/gateway-core";
import { connectRedis, createChunkserverRegistry, type RedisClient } from "@antler/io-redis";
import { decodeMessage, encodeMessage, Header, Status, type Command, type MetaRequest } from "@antler/ops";
import { makeChunkId } from "@antler/slots";
import { createLogger } from "@antler/telemetry";
import { startRedis, type RedisHandle } from "@antler/testkit";
import { ChunkReports } from "./chunk-reports.ts";
import { listenForChunkservers, type ChunkserverListener } from "./chunkserver-listener.ts";
import { createMetaCaller, type AttemptOutcome, type MetaTransport } from "./meta-caller.ts";
import { FakeChunkserver, until } from "./test-support/fake-chunkserver.ts";

const quietLog = createLogger("test", { level: "error", write: () => {} });

interface Seen {
  readonly request: MetaRequest;
  readonly slotHeader: string | undefined;
  readonly sentMs: number;
  answeredMs: number;
}

/** Answers every request OK after `delayMs` (per command kind), recording what it saw. */
class RecordingTransport implements MetaTransport {
  readonly seen: Seen[] = [];
  delayMs: Partial<Record<Command["kind"], number>> = {};
  refuse: (cmd: Command) => boolean = () => false;

  async request(_subject: string, body: Uint8Array, headers: ReadonlyMap<string, string>): Promise<AttemptOutcome> {
    const request = decodeMessage(body) as MetaRequest;
    const seen: Seen = { request, slotHeader: headers.get(Header.slot), sentMs: performance.now(), answeredMs: 0 };
    this.seen.push(seen);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs[request.cmd.kind] ?? 0));
    seen.answeredMs = performance.now();
    return { kind: "reply", data: encodeMessage({ status: this.refuse(request.cmd) ? Status.EINVAL : Status.OK }) };
  }

  commands<K extends Command["kind"]>(kind: K): Extract<Command, { kind: K }>[] {
    return this.seen.map((s) => s.request.cmd).filter((cmd): cmd is Extract<Command, { kind: K }> => cmd.kind === kind);
  }
}

let dir: string;
let redisServer: RedisHandle;
let redis: RedisClient;
let listener: ChunkserverListener;
const transport = new RecordingTransport();
let ids = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-chunk-reports-"));
  redisServer = await startRedis({ dir });
  redis = await connectRedis(redisServer.url);
  const registry = createChunkserverRegistry(redis);
  const caller = createMetaCaller({ transport, log: quietLog });
  listener = await listenForChunkservers({
    host: "127.0.0.1",
    port: 0,
    createConnection: (peerIp) => createChunkserverConnection({ peerIp, metaId: 1n }),
    context: {
      gatewayId: "gw-reports",
      registry,
      log: quietLog,
      nowMs: Date.now,
      createReports: () => new ChunkReports({ caller, log: quietLog, requestIds: () => `boot.r${++ids}`, batchMax: 2 }),
    },
  });
});
after(async () => {
  await listener?.close(200);
  redis?.disconnect();
  await redisServer?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("reset first, registration copies by slot after END, then NEW and LOST in order", async () => {
  transport.delayMs = { chunkserverreset: 150 };
  const cs = await FakeChunkserver.connect(listener.port);
  try {
    cs.send({ kind: "register-begin", form: 6, passcode: null, version: 0x000300ea, ip: 0x0ad53c02, port: 9422, timeoutSeconds: 0, csid: 700, space: { usedSpace: 0n, totalSpace: 0n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 } });
    await cs.waitFor(1);
    const a = (counter: bigint) => ({ chunkId: makeChunkId(3, counter), version: 1 });
    const b = (counter: bigint) => ({ chunkId: makeChunkId(900, counter), version: 2 });
    // Two registration batches, each spread over both slots.
    cs.send({ kind: "register-chunks", form: 6, chunks: [a(1n), b(1n), a(2n)] });
    await cs.waitFor(2);
    cs.send({ kind: "register-chunks", form: 6, chunks: [a(3n), b(2n)] });
    await cs.waitFor(3);
    cs.send({ kind: "register-end", form: 6, space: null });
    // Found on a disk marked for removal: the version's top bit is set, the copy is still good.
    cs.send({ kind: "chunk-new", chunks: [{ ...b(3n), version: 0x80000002 }] });
    cs.send({ kind: "chunk-lost", chunkIds: [b(3n).chunkId, a(1n).chunkId] });
    await until(() => transport.commands("chunksgone").length === 2);

    const [reset, ...rest] = transport.seen;
    assert.deepEqual(reset!.request.cmd, { kind: "chunkserverreset", csid: 700 });
    assert.equal(reset!.slotHeader, "*");
    for (const later of rest) assert.ok(later.sentMs >= reset!.answeredMs, `${later.request.cmd.kind} sent before the reset was answered`);

    const copies = transport.commands("chunkscopies");
    const full = copies.filter((c) => c.fullReport);
    // Slot 3 has three copies (2 + 1 with batch size 2), slot 900 two.
    assert.deepEqual(
      full.map((c) => [c.slot, c.copies.length]).sort((x, y) => x[0]! - y[0]! || y[1]! - x[1]!),
      [
        [3, 2],
        [3, 1],
        [900, 2],
      ],
    );
    assert.deepEqual(full.flatMap((c) => c.copies.map((copy) => copy.chunkId)).sort(), [a(1n), a(2n), a(3n), b(1n), b(2n)].map((c) => c.chunkId).sort());
    assert.ok(full.every((c) => c.csid === 700));
    const newCopies = copies.filter((c) => !c.fullReport);
    assert.deepEqual(newCopies, [{ kind: "chunkscopies", slot: 900, csid: 700, fullReport: false, copies: [b(3n)] }]);
    const gone = transport.commands("chunksgone").sort((x, y) => x.slot - y.slot);
    assert.deepEqual(gone, [
      { kind: "chunksgone", slot: 3, csid: 700, chunkIds: [a(1n).chunkId] },
      { kind: "chunksgone", slot: 900, csid: 700, chunkIds: [b(3n).chunkId] },
    ]);
    // Each report went to its slot, after everything reported before it.
    const position = (pred: (cmd: Command) => boolean) => transport.seen.findIndex((s) => pred(s.request.cmd));
    assert.ok(position((c) => c.kind === "chunkscopies" && !c.fullReport) > Math.max(...full.map((f) => transport.seen.findIndex((s) => s.request.cmd === f))));
    assert.ok(position((c) => c.kind === "chunksgone") > position((c) => c.kind === "chunkscopies" && !c.fullReport));
    for (const s of rest) assert.equal(s.slotHeader, String((s.request.cmd as { slot: number }).slot));
    for (const s of transport.seen) {
      const { ctx } = s.request;
      assert.deepEqual({ ...ctx, requestId: undefined }, { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: undefined });
    }
    assert.equal(new Set(transport.seen.map((s) => s.request.ctx.requestId)).size, transport.seen.length, "request ids are unique");
  } finally {
    cs.destroy();
  }
});

test("a refused report is dropped and the later ones still go", async () => {
  transport.seen.length = 0;
  transport.delayMs = {};
  transport.refuse = (cmd) => cmd.kind === "chunkscopies" && !cmd.fullReport;
  const cs = await FakeChunkserver.connect(listener.port);
  try {
    await cs.register(710);
    cs.send({ kind: "chunk-new", chunks: [{ chunkId: makeChunkId(5, 1n), version: 1 }] });
    cs.send({ kind: "chunk-damaged", chunkIds: [makeChunkId(5, 1n)] });
    await until(() => transport.commands("chunksgone").length === 1);
    assert.equal(transport.commands("chunkserverreset").length, 1);
    assert.equal(transport.commands("chunkscopies").length, 1);
  } finally {
    transport.refuse = () => false;
    cs.destroy();
  }
});

test("a closed link's unsent reports are dropped; a full buffer is sent before the registration ends", async () => {
  const sent: Command[] = [];
  let releaseReset: () => void = () => {};
  const caller = {
    call: async (request: MetaRequest) => {
      sent.push(request.cmd);
      if (request.cmd.kind === "chunkserverreset") await new Promise<void>((resolve) => (releaseReset = resolve));
      return { status: Status.OK };
    },
  };
  const reports = new ChunkReports({ caller, log: quietLog, requestIds: () => `u${++ids}`, batchMax: 100, bufferMax: 4 });
  reports.reset(720);
  // Five copies over five slots: the buffer bound (4) sends them without waiting for the end.
  reports.copies(720, "register", [1, 2, 3, 4, 5].map((slot) => ({ chunkId: makeChunkId(slot, 1n), version: 1 })));
  reports.copies(720, "register", [{ chunkId: makeChunkId(6, 1n), version: 1 }]);
  await until(() => sent.length === 1);
  releaseReset();
  await reports.settled();
  assert.deepEqual(
    sent.map((cmd) => (cmd.kind === "chunkscopies" ? cmd.slot : cmd.kind)),
    ["chunkserverreset", 1, 2, 3, 4, 5],
    "the sixth copy is still buffered",
  );

  sent.length = 0;
  // A new reset sends the copy still buffered first (it belongs to the registration before it).
  reports.reset(720);
  reports.gone(720, [makeChunkId(7, 1n)]);
  await until(() => sent.length === 2);
  reports.close();
  releaseReset();
  await reports.settled();
  reports.gone(720, [makeChunkId(8, 1n)]);
  await reports.settled();
  assert.deepEqual(
    sent.map((cmd) => (cmd.kind === "chunkscopies" ? cmd.slot : cmd.kind)),
    [6, "chunkserverreset"],
    "nothing queued behind the reset, nor later, is sent",
  );
});
