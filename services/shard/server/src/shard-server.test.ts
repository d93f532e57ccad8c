/**
 * The shard server against a real nats-server and log stream, driven by a fake state machine
 * (testing/fake-state-machine.ts): concurrent creates are group-committed and all acknowledged,
 * replay rebuilds exactly the acknowledged state, malformed requests get EINVAL, and a server
 * with a stale view of the log is fenced and stops without replying. The process-level tests run
 * the real shard process (with the fake state machine), SIGKILL it while requests are in flight,
 * restart it, and check that every acknowledged create survived; and run two processes on one
 * log, of which exactly one wins the append and the other exits; and check the leader's stats
 * subject (replica name, owned slots) and that the process opens the transaction decision bucket.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, LogUnavailableError, type LogStream, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { decodeMessage, encodeMessage, nameFromText, shardRequestSubject, shardStatsSubject, Status, txnBucket, type Command, type ShardStats } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import { replayLog } from "./replay.ts";
import { startShardServer } from "./shard-server.ts";
import { FakeStateMachine } from "./testing/fake-state-machine.ts";

const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const quiet = createLogger("shard-test", { level: "error" });
const repoRoot = new URL("../../../../", import.meta.url).pathname;

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-shard-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "shard-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function call(shardId: number, cmd: Command, timeout = 3000): Promise<{ status: number; inode?: number }> {
  const reply = await nc.request(shardRequestSubject(shardId), encodeMessage({ ctx, cmd }), { timeout });
  return decodeMessage(reply.data) as { status: number; inode?: number };
}
const create = (name: string): Command => ({ kind: "create", parent: 1, name: nameFromText(name), mode: 0o644, umask: 0 });
const lookup = (name: string): Command => ({ kind: "lookup", parent: 1, name: nameFromText(name) });

test("concurrent creates are group-committed, acknowledged, and rebuilt by replay", async () => {
  const shardId = 10;
  const log = await ensureShardLog(nc, shardId);
  const sm = new FakeStateMachine();
  const shard = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 0 });
  try {
    await nc.flush();
    const count = 300;
    const replies = await Promise.all(Array.from({ length: count }, (_, i) => call(shardId, create(`f${i}`))));
    assert.ok(replies.every((r) => r.status === 0));
    assert.equal(new Set(replies.map((r) => r.inode)).size, count);
    const records = await log.lastSeq();
    assert.ok(records >= 1 && records < count, `expected batching, got ${records} records for ${count} creates`);
    assert.deepEqual(await call(shardId, create("f0")), { status: Status.EEXIST });
    assert.equal((await call(shardId, lookup("f7"))).inode, replies[7]!.inode);
  } finally {
    await shard.stop();
  }
  const rebuilt = new FakeStateMachine();
  const replay = await replayLog(log, rebuilt);
  assert.equal(replay.entries, 300);
  assert.deepEqual(rebuilt.names, sm.names);
});

test("malformed requests are answered EINVAL and the server keeps serving", async () => {
  const shardId = 11;
  const log = await ensureShardLog(nc, shardId);
  const shard = startShardServer({ nc, shardId, log, sm: new FakeStateMachine(), logger: quiet, lastSeq: 0, maintainIntervalMs: 0 });
  try {
    await nc.flush();
    const raw = async (data: Uint8Array) => decodeMessage((await nc.request(shardRequestSubject(shardId), data, { timeout: 2000 })).data);
    assert.deepEqual(await raw(new Uint8Array([0xff, 0x00])), { status: Status.EINVAL });
    assert.deepEqual(await raw(encodeMessage({ cmd: { kind: "lookup" } })), { status: Status.EINVAL });
    assert.deepEqual(await raw(encodeMessage({ ctx: { ...ctx, gids: [] }, cmd: { kind: "statfs" } })), { status: Status.EINVAL });
    assert.deepEqual(await raw(encodeMessage({ ctx, cmd: { kind: 5 } })), { status: Status.EINVAL });
    // A command the fake does not know ends in its own failure status, not a crash.
    assert.deepEqual(await raw(encodeMessage({ ctx, cmd: { kind: "create" } })), { status: Status.EINVAL });
    assert.equal((await call(shardId, create("ok"))).status, 0);
  } finally {
    await shard.stop();
  }
});

test("a server with a stale last sequence is fenced: no success reply, it stops", async () => {
  const shardId = 12;
  const log = await ensureShardLog(nc, shardId);
  const first = startShardServer({ nc, shardId, log, sm: new FakeStateMachine(), logger: quiet, lastSeq: 0, maintainIntervalMs: 0 });
  await nc.flush();
  assert.equal((await call(shardId, create("a"))).status, 0);
  await first.stop();
  // The second server replayed before the first one's append: it believes the log is empty.
  const stale = startShardServer({ nc, shardId, log, sm: new FakeStateMachine(), logger: quiet, lastSeq: 0, maintainIntervalMs: 0 });
  await nc.flush();
  await assert.rejects(call(shardId, create("b"), 1000));
  const reason = await stale.done;
  assert.equal(reason.kind, "fatal");
  assert.ok(reason.kind === "fatal" && reason.fenced);
  assert.equal(await log.lastSeq(), 1);
  // Once stopped it takes no more requests.
  await assert.rejects(call(shardId, lookup("a"), 500));
});

test("maintain entries are appended and replayed", async () => {
  const shardId = 13;
  const log = await ensureShardLog(nc, shardId);
  const sm = new FakeStateMachine();
  sm.maintainEmits = true;
  const shard = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 20 });
  await new Promise((resolve) => setTimeout(resolve, 150));
  await shard.stop();
  const rebuilt = new FakeStateMachine();
  await replayLog(log, rebuilt);
  assert.ok(rebuilt.ticks >= 2);
  assert.equal(rebuilt.ticks, sm.ticks);
});

test("a nats-server crash while appends fly: the shard retries and loses nothing acknowledged", { timeout: 120_000 }, async () => {
  const shardId = 14;
  const log = await ensureShardLog(nc, shardId);
  const sm = new FakeStateMachine();
  const shard = startShardServer({ nc, shardId, log, sm, logger: quiet, lastSeq: 0, maintainIntervalMs: 0, appendRetryMs: 15_000 });
  try {
    await nc.flush();
    const acked = new Map<string, number>();
    let sent = 0;
    let crashed: Promise<void> | null = null;
    const worker = async () => {
      while (sent < 600) {
        const name = `n${sent++}`;
        if (sent === 200) {
          crashed = (async () => {
            process.kill(server.pid, "SIGKILL");
            await server.stop();
            server = await startNatsServer({ dir, port: server.port });
          })();
        }
        try {
          const reply = await call(shardId, create(name), 8000);
          if (reply.status === 0) acked.set(name, reply.inode!);
        } catch {
          // Requests lost with the connection time out; the client would retry them.
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await crashed;
    const reason = await Promise.race([shard.done, new Promise((resolve) => setTimeout(() => resolve("serving"), 100))]);
    assert.equal(reason, "serving", "the shard survived the nats-server restart");
    assert.ok(acked.size >= 400, `only ${acked.size} acknowledged`);
    const rebuilt = new FakeStateMachine();
    await replayLog(log, rebuilt);
    for (const [name, inode] of acked) assert.equal(rebuilt.names.get(name), inode, `acknowledged ${name} not in the log`);
  } finally {
    await shard.stop();
  }
});

test("a lost append ack is retried with the same msgId and counted once", async () => {
  const shardId = 15;
  const real = await ensureShardLog(nc, shardId);
  const msgIds: (string | undefined)[] = [];
  let dropAcks = 2;
  // The first append reaches the log but its ack is "lost" twice; the retry must not store twice.
  const lossy: LogStream = {
    name: real.name,
    lastSeq: () => real.lastSeq(),
    readAll: (from, onRecord) => real.readAll(from, onRecord),
    async append(data, expected, msgId) {
      msgIds.push(msgId);
      const seq = await real.append(data, expected, msgId);
      if (dropAcks-- > 0) throw new LogUnavailableError("ack lost");
      return seq;
    },
  };
  const shard = startShardServer({ nc, shardId, log: lossy, sm: new FakeStateMachine(), logger: quiet, lastSeq: 0, maintainIntervalMs: 0 });
  try {
    await nc.flush();
    assert.equal((await call(shardId, create("once"))).status, 0);
    assert.equal((await call(shardId, create("twice"))).status, 0);
    assert.equal(msgIds.length, 4);
    assert.equal(msgIds[0], msgIds[1]);
    assert.equal(msgIds[1], msgIds[2]);
    assert.notEqual(msgIds[2], msgIds[3]);
    assert.equal(await real.lastSeq(), 2, "each batch stored once");
    assert.equal(shard.lastSeq(), 2);
  } finally {
    await shard.stop();
  }
});

// ---- process level ------------------------------------------------------------------------

interface ShardChild {
  readonly child: ChildProcess;
  readonly ready: Record<string, unknown>;
}

async function startShardChild(shardId: number, script = "services/shard/server/src/testing/fake-shard-process.ts"): Promise<ShardChild> {
  const child = spawn(process.execPath, [script], {
    cwd: repoRoot,
    env: { ...process.env, ANTLER_NATS_URL: server.url, ANTLER_SHARD_ID: String(shardId), ANTLER_SHARD_COUNT: "64", ANTLER_LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, "line"), once(child, "exit").then(() => [null])])) as [string | null];
  assert.ok(line !== null && line.startsWith("READY "), `no READY line (got ${line})`);
  return { child, ready: JSON.parse(line.slice("READY ".length)) as Record<string, unknown> };
}

async function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, "exit") as Promise<[number | null]>;
  child.kill(signal);
  return (await exited)[0];
}

test("SIGKILL while requests fly: every acknowledged create survives the restart", { timeout: 120_000 }, async () => {
  const shardId = 20;
  let shard = await startShardChild(shardId);
  const acked = new Map<string, number>();
  try {
    assert.equal(shard.ready.shardId, shardId);
    assert.equal(shard.ready.entriesReplayed, 0);
    // Keep 32 creates in flight; kill the process after 400 were sent.
    let sent = 0;
    const worker = async () => {
      while (sent < 2000) {
        const name = `k${sent++}`;
        try {
          const reply = await call(shardId, create(name), 1000);
          if (reply.status === 0) acked.set(name, reply.inode!);
        } catch {
          return; // timeouts after the kill
        }
        if (sent === 400) void killChild(shard.child, "SIGKILL");
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    assert.ok(acked.size >= 300, `only ${acked.size} acknowledged before the kill`);
    await killChild(shard.child, "SIGKILL");

    shard = await startShardChild(shardId);
    assert.ok((shard.ready.entriesReplayed as number) >= acked.size);
    for (const [name, inode] of acked) {
      const reply = await call(shardId, lookup(name));
      assert.equal(reply.status, 0, `acknowledged ${name} lost`);
      assert.equal(reply.inode, inode, `acknowledged ${name} changed inode`);
    }
    // And the restarted shard appends after the replayed tail.
    assert.equal((await call(shardId, create("after-restart"))).status, 0);
    assert.equal(await killChild(shard.child, "SIGTERM"), 0);
  } finally {
    await killChild(shard.child, "SIGKILL");
  }
});

test("a second process of the same replica takes the shard over: one serves, a retried request applies once", { timeout: 120_000 }, async () => {
  // Two processes with the same replica id: the later incarnation takes the lease at once (it
  // treats the earlier holder as its own dead predecessor) and the earlier one must stop serving
  // - by stepping down, or by exiting if an append of its was fenced. Whoever answers, the
  // request (retried with one request id, as the gateway does) lands in the log exactly once.
  const shardId = 21;
  const a = await startShardChild(shardId);
  const b = await startShardChild(shardId);
  try {
    const inbox = `_INBOX.${crypto.randomUUID()}`;
    const replies: { status: number; inode?: number }[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void replies.push(decodeMessage(m.data) as { status: number; inode?: number }) });
    const body = encodeMessage({ ctx: { ...ctx, requestId: "takeover:contended" }, cmd: create("contended") });
    const deadline = performance.now() + 30_000;
    while (replies.length === 0 && performance.now() < deadline) {
      nc.publish(shardRequestSubject(shardId), body, { reply: inbox });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    sub.unsubscribe();
    assert.ok(replies.length >= 1, "the shard answered");
    assert.ok(replies.every((reply) => reply.status === 0 && reply.inode === replies[0]!.inode), `every answer is the one create: ${JSON.stringify(replies)}`);
    const log = await ensureShardLog(nc, shardId);
    assert.equal(await log.lastSeq(), 1, "applied once");
    assert.equal((await call(shardId, lookup("contended"), 10_000)).status, 0);
    assert.ok(a.child.exitCode === null || a.child.exitCode === 1, `the earlier process steps down or exits 1 (exit ${a.child.exitCode})`);
    assert.equal(b.child.exitCode, null, "the later incarnation keeps serving");
  } finally {
    await killChild(a.child, "SIGKILL");
    await killChild(b.child, "SIGKILL");
  }
});

test("the leader process answers its stats subject with its replica name and slots", { timeout: 120_000 }, async () => {
  const shardId = 22;
  const shard = await startShardChild(shardId);
  try {
    assert.equal((await call(shardId, create("s1"))).status, 0);
    const stats = decodeMessage((await nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: 3000 })).data) as ShardStats;
    assert.equal(stats.shardId, shardId);
    assert.equal(stats.replica, "s22.r0");
    // The slots it owns in the shard map (64 shards share 2048).
    assert.equal(stats.slots, shard.ready.slots);
    assert.ok(stats.slots > 0 && stats.slots < 2048);
    assert.equal(stats.forwarded, 0);
    assert.equal(stats.preparedTxns, 0);
    // The decision bucket of cross-shard transactions was opened (created) by the shard.
    assert.ok((await jetStreamStreamNames()).includes(`KV_${txnBucket}`));
    assert.equal(await killChild(shard.child, "SIGTERM"), 0);
    await assert.rejects(nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: 300 }), "a stopped shard answers no stats");
  } finally {
    await killChild(shard.child, "SIGKILL");
  }
});

async function jetStreamStreamNames(): Promise<string[]> {
  const reply = await nc.request("$JS.API.STREAM.NAMES", encodeMessage({}), { timeout: 2000 });
  return ((decodeMessage(reply.data) as { streams: string[] | null }).streams ?? []);
}
