/**
 * The shard server's cross-shard paths against a real nats-server and JetStream log, driven by a
 * fake state machine (testing/tx-fake-state-machine.ts):
 * - a forwarded request reaches the coordinator subject unchanged (body, headers, the sender's
 *   inbox), only after every earlier entry is durable, and the shard answers nothing itself;
 * - remote attributes are fetched with GETATTR through the routers' subject (slot header, derived
 *   request id, the client's ctx), concurrently but capped, retried on MOVED, and the answer is
 *   the completion's;
 * - a TXLOCKED request is held and executed again until the lock goes (a retry joins it), gets
 *   EAGAIN after the wait bound, and at once when too many are held;
 * - the resolver obeys the decision bucket (commit with newInode, abort), writes "abort" for an
 *   undecided transaction, leaves young ones alone, and logs its commands as the system;
 * - the stats subject answers the leader's figures.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, newHeaders, openBucket, type LogRecord, type LogStream, type Msg, type NatsConnection } from "@antler/io-nats";
import {
  coordinatorSubject,
  decodeMessage,
  encodeMessage,
  Header,
  metaRequestSubject,
  nameFromText,
  shardRequestSubject,
  shardStatsSubject,
  slotOfInode,
  Status,
  txDecisionKey,
  type Command,
  type MetaRequest,
  type ShardStats,
} from "@antler/ops";
import { decodeDecision, encodeDecision } from "@antler/router-core";
import { createLogger } from "@antler/telemetry";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { decodeBatch } from "./log-batch.ts";
import { createRemoteAttrFetcher } from "./remote-attrs.ts";
import { startShardServer, type ShardServerOptions } from "./shard-server.ts";
import { fileAttr, TxFakeStateMachine, type TxFakeEntry } from "./testing/tx-fake-state-machine.ts";

const quiet = createLogger("cross-shard-test", { level: "error", write: () => {} });
const ctx = { sessionId: 9, uid: 1000, gids: [1000], sesflags: 0, rootInode: 1 };

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-shard-xs-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "cross-shard-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The real log, appends delayed by `delayMs`, each acknowledged batch's entries and time recorded. */
class SlowLog implements LogStream {
  delayMs = 0;
  readonly acked: { readonly atMs: number; readonly entries: TxFakeEntry[] }[] = [];
  readonly #inner: LogStream;
  constructor(inner: LogStream) {
    this.#inner = inner;
  }
  get name(): string {
    return this.#inner.name;
  }
  async append(data: Uint8Array, expectedLastSeq: number, msgId?: string): Promise<number> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    const seq = await this.#inner.append(data, expectedLastSeq, msgId);
    this.acked.push({ atMs: Date.now(), entries: decodeBatch(data).map((bytes) => JSON.parse(new TextDecoder().decode(bytes)) as TxFakeEntry) });
    return seq;
  }
  lastSeq(): Promise<number> {
    return this.#inner.lastSeq();
  }
  readAll(from: number, onRecord: (record: LogRecord) => void): Promise<number> {
    return this.#inner.readAll(from, onRecord);
  }
}

async function startShard(shardId: number, sm: TxFakeStateMachine, extra: Partial<ShardServerOptions<TxFakeEntry>> = {}) {
  const log = new SlowLog(await ensureShardLog(nc, shardId));
  const shard = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 0, chunkservers: null, ...extra });
  await nc.flush();
  return { shard, log };
}

async function call(shardId: number, cmd: Command, requestId?: string, timeout = 3000): Promise<Record<string, unknown>> {
  const body: MetaRequest = { ctx: { ...ctx, ...(requestId !== undefined ? { requestId } : {}) }, cmd };
  const reply = await nc.request(shardRequestSubject(shardId), encodeMessage(body), { timeout });
  return decodeMessage(reply.data) as Record<string, unknown>;
}

const create = (name: string): Command => ({ kind: "create", parent: 1, name: nameFromText(name), mode: 0o644, umask: 0 });

/** Collects every message published to `inbox` (several answers to one request would show here). */
function collect(inbox: string): { readonly messages: Msg[]; stop(): void } {
  const messages: Msg[] = [];
  const sub = nc.subscribe(inbox, { callback: (_err, msg) => void messages.push(msg) });
  return { messages, stop: () => sub.unsubscribe() };
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(5);
  }
}

test("a forwarded request reaches the coordinator unchanged, after earlier entries are durable, and the shard answers nothing", async () => {
  const shardId = 40;
  const sm = new TxFakeStateMachine();
  const { shard, log } = await startShard(shardId, sm);
  // The coordinator: records what it gets and answers the gateway's inbox itself.
  const received: { msg: Msg; atMs: number }[] = [];
  const coordinator = nc.subscribe(coordinatorSubject, {
    callback: (_err, msg) => {
      received.push({ msg, atMs: Date.now() });
      msg.respond(encodeMessage({ status: Status.OK, inode: 4242 }));
    },
  });
  const inbox = `_INBOX.${crypto.randomUUID()}`;
  const replies = collect(inbox);
  try {
    await nc.flush();
    log.delayMs = 150;
    // A create and, in the same turn, a mkdir the shard cannot do alone.
    const mkdir: MetaRequest = { ctx: { ...ctx, requestId: "fw:1" }, cmd: { kind: "mkdir", parent: 1, name: nameFromText("d"), mode: 0o755, umask: 0, copysgid: false } };
    const body = encodeMessage(mkdir);
    const headers = newHeaders();
    headers.set(Header.slot, "17");
    headers.set(Header.requestId, "fw:1");
    headers.set(Header.mapVersion, "3");
    headers.set(Header.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const created = call(shardId, create("before"));
    nc.publish(shardRequestSubject(shardId), body, { reply: inbox, headers });
    assert.equal((await created).status, Status.OK);
    await until(() => received.length === 1 && replies.messages.length === 1);
    await sleep(100);
    const [forward] = received;
    assert.deepEqual(new Uint8Array(forward!.msg.data), body, "the body is passed on byte for byte");
    assert.equal(forward!.msg.reply, inbox, "the coordinator answers the gateway's inbox");
    assert.equal(forward!.msg.headers?.get(Header.slot), "17");
    assert.equal(forward!.msg.headers?.get(Header.requestId), "fw:1");
    assert.equal(forward!.msg.headers?.get(Header.mapVersion), "3");
    assert.notEqual(forward!.msg.headers?.get(Header.traceparent), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "this hop's trace context, not the sender's");
    const createDurableAt = log.acked.find((batch) => batch.entries.some((e) => e.op === "create" && e.name === "before"))!.atMs;
    assert.ok(forward!.atMs >= createDurableAt, "forwarded only once the earlier create was durable");
    // Exactly one answer, the coordinator's.
    assert.equal(replies.messages.length, 1);
    assert.deepEqual(decodeMessage(replies.messages[0]!.data), { status: Status.OK, inode: 4242 });
    assert.equal(log.acked.flatMap((b) => b.entries).length, 1, "a forward logs nothing");
  } finally {
    replies.stop();
    coordinator.unsubscribe();
    await shard.stop();
  }
});

/** A stand-in for the routers and other shards: answers GETATTR from `attrs`, recording every request. */
function fakeRouters(handle: (request: MetaRequest, msg: Msg) => Promise<Record<string, unknown> | null>) {
  const seen: { request: MetaRequest; slot: string | undefined; requestIdHeader: string | undefined }[] = [];
  let inFlight = 0;
  let inFlightMax = 0;
  const sub = nc.subscribe(metaRequestSubject, {
    callback: (_err, msg) => {
      const request = decodeMessage(msg.data) as MetaRequest;
      seen.push({ request, slot: msg.headers?.get(Header.slot), requestIdHeader: msg.headers?.get(Header.requestId) });
      inFlight++;
      inFlightMax = Math.max(inFlightMax, inFlight);
      void handle(request, msg).then((reply) => {
        inFlight--;
        if (reply !== null) msg.respond(encodeMessage(reply));
      });
    },
  });
  return { seen, inFlightMax: () => inFlightMax, stop: () => sub.unsubscribe() };
}

test("remote attributes come from GETATTR through the routers, with the client's ctx, and complete the answer", async () => {
  const shardId = 41;
  const sm = new TxFakeStateMachine();
  const { shard } = await startShard(shardId, sm);
  const present = (5 << 20) | 9;
  const gone = (6 << 20) | 3;
  let movedOnce = true;
  const routers = fakeRouters(async (request) => {
    const cmd = request.cmd as { kind: string; inode: number };
    if (cmd.kind !== "getattr") return { status: Status.EINVAL };
    if (cmd.inode === present && movedOnce) {
      movedOnce = false;
      return { status: Status.MOVED };
    }
    return cmd.inode === present ? { status: Status.OK, attr: fileAttr(present) } : { status: Status.ENOENT };
  });
  try {
    await nc.flush();
    const found = await call(shardId, { kind: "lookup", parent: 1, name: nameFromText(`remote:${present}`) }, "rq:7");
    assert.deepEqual(found, { status: Status.OK, inode: present, attr: fileAttr(present), lflags: 0 });
    const asked = routers.seen.filter((s) => (s.request.cmd as { inode: number }).inode === present);
    assert.equal(asked.length, 2, "MOVED is asked again");
    for (const s of asked) {
      assert.equal(s.slot, String(slotOfInode(present)));
      assert.equal(s.requestIdHeader, `rq:7/attr/${present}`);
      assert.equal(s.request.ctx.requestId, `rq:7/attr/${present}`);
      assert.equal(s.request.ctx.uid, 1000);
      assert.equal(s.request.ctx.sessionId, 9);
      assert.deepEqual(s.request.cmd, { kind: "getattr", inode: present, opened: false });
    }
    assert.deepEqual(await call(shardId, { kind: "lookup", parent: 1, name: nameFromText(`remote:${gone}`) }, "rq:8"), { status: Status.ENOENT });
  } finally {
    routers.stop();
    await shard.stop();
  }
});

test("a READDIR of many remote entries asks concurrently, at most the cap at once, and leaves out the missing", async () => {
  const shardId = 42;
  const sm = new TxFakeStateMachine();
  sm.remoteEntries = Array.from({ length: 150 }, (_, i) => ({ name: `e${i}`, inode: ((i % 2048) << 20) | (i + 1) }));
  const missing = new Set(sm.remoteEntries.filter((_, i) => i % 10 === 0).map((e) => e.inode));
  const { shard } = await startShard(shardId, sm, {});
  const routers = fakeRouters(async (request) => {
    const inode = (request.cmd as { inode: number }).inode;
    await sleep(20);
    return missing.has(inode) ? { status: Status.ENOENT } : { status: Status.OK, attr: fileAttr(inode) };
  });
  try {
    await nc.flush();
    const started = Date.now();
    const reply = (await call(shardId, { kind: "readdir", inode: 1, withAttr: true, maxEntries: 1000 }, "rd:1")) as { status: number; entries: { inode: number; attr: unknown }[] };
    const elapsed = Date.now() - started;
    assert.equal(reply.status, Status.OK);
    assert.equal(reply.entries.length, 150 - missing.size);
    assert.ok(reply.entries.every((e) => !missing.has(e.inode) && e.attr !== undefined));
    assert.equal(routers.seen.length, 150);
    assert.ok(routers.inFlightMax() <= 64, `at most 64 at once, saw ${routers.inFlightMax()}`);
    assert.ok(routers.inFlightMax() >= 32, `concurrent, saw ${routers.inFlightMax()}`);
    // 150 × 20 ms one by one would be 3 s.
    assert.ok(elapsed < 1500, `took ${elapsed} ms`);
  } finally {
    routers.stop();
    await shard.stop();
  }
});

test("a TXLOCKED request is held and executed again until the lock goes; a retry joins it", async () => {
  const shardId = 43;
  const sm = new TxFakeStateMachine();
  sm.locked.add("held");
  const { shard } = await startShard(shardId, sm, { lockWaits: { retryMs: 5, retryMaxMs: 20, waitMaxMs: 5_000 } });
  try {
    const first = call(shardId, create("held"), "lk:1");
    await sleep(60);
    const retry = call(shardId, create("held"), "lk:1");
    await sleep(60);
    const attemptsWhileLocked = sm.executed.filter((e) => e.name === "held").length;
    assert.ok(attemptsWhileLocked >= 4, `re-executed while locked (${attemptsWhileLocked} times)`);
    sm.locked.delete("held");
    const [a, b] = await Promise.all([first, retry]);
    assert.equal(a.status, Status.OK);
    assert.deepEqual(b, a, "the retry gets the first attempt's answer");
    assert.equal(sm.names.get("held"), a.inode);
    // The pause grows: far fewer executions than one per 5 ms over ~120 ms.
    assert.ok(attemptsWhileLocked < 20, `${attemptsWhileLocked} executions`);
  } finally {
    await shard.stop();
  }
});

test("a lock held past the wait bound gives EAGAIN; beyond the cap of held requests EAGAIN comes at once", async () => {
  const shardId = 44;
  const sm = new TxFakeStateMachine();
  sm.locked.add("stuck");
  sm.locked.add("other");
  const { shard } = await startShard(shardId, sm, { lockWaits: { retryMs: 5, retryMaxMs: 10, waitMaxMs: 200, parkedMax: 1 } });
  try {
    const started = Date.now();
    const stuck = call(shardId, create("stuck"), "st:1");
    await sleep(30);
    const otherStarted = Date.now();
    assert.deepEqual(await call(shardId, create("other"), "st:2"), { status: Status.EAGAIN });
    assert.ok(Date.now() - otherStarted < 100, "turned away at once while the one allowed is held");
    assert.deepEqual(await stuck, { status: Status.EAGAIN });
    const waited = Date.now() - started;
    assert.ok(waited >= 150 && waited < 1000, `EAGAIN after ${waited} ms`);
    assert.equal(sm.names.size, 0);
  } finally {
    await shard.stop();
  }
});

test("held requests are dropped unanswered when the server stops", async () => {
  const shardId = 45;
  const sm = new TxFakeStateMachine();
  sm.locked.add("x");
  const { shard } = await startShard(shardId, sm, { lockWaits: { retryMs: 5, waitMaxMs: 5_000 } });
  const pending = call(shardId, create("x"), "drop:1", 600);
  await sleep(50);
  await shard.stop();
  const executions = sm.executed.length;
  await assert.rejects(pending, "no answer from a stopped server");
  assert.equal(sm.executed.length, executions, "no re-execution after the stop");
});

test("the resolver obeys the decision bucket, writes abort for the undecided, and logs its commands as the system", async () => {
  const shardId = 46;
  const sm = new TxFakeStateMachine();
  const bucket = await openBucket(nc, `antler-txn-test-${shardId}`, { history: 1, directGets: false });
  const now = Date.now();
  sm.prepared = [
    { txid: "c:1#1", preparedAtMs: now - 5_000, clientRequestId: "c:1" },
    { txid: "a:1#2", preparedAtMs: now - 5_000, clientRequestId: "a:1" },
    { txid: "u:1#1", preparedAtMs: now - 5_000, clientRequestId: "u:1" },
  ];
  await bucket.put(txDecisionKey("c:1#1"), encodeDecision({ decision: "commit", txid: "c:1#1", participants: [46, 3], newInode: (9 << 20) | 1, by: "coordinator" }));
  await bucket.put(txDecisionKey("a:1#2"), encodeDecision({ decision: "abort", txid: "a:1#2", participants: [46], by: "coordinator" }));
  const { shard, log } = await startShard(shardId, sm, { txDecisions: bucket, slots: [700, 701], txResolveIntervalMs: 20, txResolveAfterMs: 1_000 });
  try {
    await until(() => sm.prepared.length === 0 && log.acked.flatMap((b) => b.entries).length === 3);
    // Age counts from when this leader first saw it, whatever its prepare stamp says.
    sm.prepared.push({ txid: "young:1#1", preparedAtMs: now - 60_000, clientRequestId: "young:1" });
    await sleep(300);
    assert.deepEqual(sm.prepared.map((t) => t.txid), ["young:1#1"], "a young transaction is left to its coordinator");
    const logged = log.acked.flatMap((b) => b.entries);
    const byTxid = new Map(logged.map((e) => [(e as { txid: string }).txid, e]));
    assert.deepEqual(byTxid.get("c:1#1"), { op: "txcommit", txid: "c:1#1", slot: 700, newInode: (9 << 20) | 1, sessionId: 0 });
    assert.deepEqual(byTxid.get("a:1#2"), { op: "txabort", txid: "a:1#2", slot: 700, sessionId: 0 });
    assert.deepEqual(byTxid.get("u:1#1"), { op: "txabort", txid: "u:1#1", slot: 700, sessionId: 0 });
    const written = await bucket.get(txDecisionKey("u:1#1"));
    assert.ok(written !== null);
    assert.deepEqual(decodeDecision(written.value), { decision: "abort", txid: "u:1#1", participants: [], by: `shard.${shardId}` });
  } finally {
    await shard.stop();
  }
});

test("the stats subject answers the leader's figures", async () => {
  const shardId = 47;
  const sm = new TxFakeStateMachine();
  sm.prepared = [{ txid: "p#1", preparedAtMs: Date.now() + 60_000, clientRequestId: "p" }];
  const { shard } = await startShard(shardId, sm, { slots: [1, 2, 3], replicaName: "s47.r2" });
  const coordinator = nc.subscribe(coordinatorSubject, { callback: () => {} });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await call(shardId, create(`f${i}`))).status, Status.OK);
    const mkdir = { kind: "mkdir", parent: 1, name: nameFromText("d"), mode: 0o755, umask: 0, copysgid: false } satisfies Command;
    nc.publish(shardRequestSubject(shardId), encodeMessage({ ctx, cmd: mkdir }));
    nc.publish(shardRequestSubject(shardId), encodeMessage({ ctx, cmd: mkdir }));
    await until(() => sm.executed.filter((e) => e.kind === "mkdir").length === 2);
    const stats = decodeMessage((await nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: 2000 })).data) as ShardStats;
    assert.equal(stats.shardId, shardId);
    assert.equal(stats.slots, 3);
    assert.deepEqual([stats.inodes, stats.dirs, stats.files], [6, 1, 5]);
    assert.equal(stats.forwarded, 2);
    assert.equal(stats.preparedTxns, 1);
    assert.equal(stats.replica, "s47.r2");
    assert.equal(typeof stats.opsPerSec, "number");
  } finally {
    coordinator.unsubscribe();
    await shard.stop();
  }
  // A stopped server no longer answers its stats subject.
  await assert.rejects(nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: 300 }));
});

test("a remote node whose shard never answers is unreachable (not missing) after the attempts; a slow first attempt is retried", async () => {
  const fetch = createRemoteAttrFetcher({ nc, logger: quiet, attemptTimeoutMs: 100, attempts: 3, retryPauseMs: 20 });
  const nobody = (7 << 20) | 1;
  // No subscriber at all: "no responders" three times, then unreachable (never reported as gone).
  const started = Date.now();
  assert.deepEqual(await fetch([nobody], ctx), { attrs: new Map(), unreachable: [nobody] });
  assert.ok(Date.now() - started >= 40, "paused between attempts");
  // The first attempt goes unanswered (a leader that died); the second is answered.
  const slow = (8 << 20) | 2;
  let attempts = 0;
  const routers = fakeRouters(async () => (++attempts === 1 ? null : { status: Status.OK, attr: fileAttr(slow) }));
  try {
    await nc.flush();
    assert.deepEqual(await fetch([slow, slow], { ...ctx, requestId: "sl:1" }), { attrs: new Map([[slow, fileAttr(slow)]]), unreachable: [] });
    assert.equal(attempts, 2, "one inode asked once per attempt, duplicates merged");
  } finally {
    routers.stop();
  }
});
