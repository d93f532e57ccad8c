/**
 * The quorum journal against three real, independent nats-servers (2.15.1, file store, fsync
 * always): the LogStream contract (shared with JetStreamLogStream, run here on a single server),
 * then the failures it exists for — SIGKILL of one server during a stream of appends (appends go
 * on within a second, nothing acknowledged is lost, the restarted server is repaired), loss of a
 * majority (no false success), a record that reached one replica only, and the completion of a
 * possibly acknowledged record when one server is down.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { shardLogStream, shardLogSubject } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import { seededRandom } from "@antler/testkit";
import { ensureShardLog } from "./jetstream-log-stream.ts";
import { FencedError, LogUnavailableError, type LogRecord } from "./log-stream.ts";
import { logStreamContract } from "./quorum-log-contract.ts";
import { openQuorumLogStream, type QuorumLogStream } from "./quorum-log-stream.ts";
import { JournalReplica, ReplicaMissingError, ReplicaUnavailableError } from "./quorum-replica.ts";
import { quorumReplicaContract } from "./quorum-replica-contract.ts";
import { Trio } from "./quorum-test-servers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let root: string;
const trio = new Trio();
let nextShard = 100;
const opened: QuorumLogStream[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), "antler-quorum-"));
  await trio.start(root);
});
after(async () => {
  for (const log of opened) log.close();
  await trio.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function openLog(shardId: number): Promise<QuorumLogStream> {
  const log = await openQuorumLogStream(trio.connections, shardId, { replicaTimeoutMs: 1_000, ...(process.env["QUORUM_TEST_LOG"] ? { logger: createLogger("quorum-test", { level: "debug" }) } : {}) });
  opened.push(log);
  return log;
}

async function records(log: QuorumLogStream, from = 1): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  await log.readAll(from, (r) => out.push(r));
  return out;
}

/** What replica `i` holds, read directly from its server. */
async function replicaContents(i: number, shardId: number): Promise<string[]> {
  const replica = new JournalReplica(i, trio.connections[i]!, { name: shardLogStream(shardId), subject: shardLogSubject(shardId) }, 1_000);
  const view = await replica.view();
  const out: string[] = [];
  if (view.first <= view.last) await replica.read(view.first, view.last, 256, (e) => out.push(text(e.data)));
  return out;
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("contract", () => {
  logStreamContract("JetStreamLogStream (one server)", async () => {
    const shard = nextShard++;
    return {
      log: await ensureShardLog(trio.connections[0]!, shard, { reader: "direct" }),
      openOther: () => ensureShardLog(trio.connections[0]!, shard, { reader: "direct" }),
    };
  });
  logStreamContract("QuorumLogStream (three servers)", async () => {
    const shard = nextShard++;
    return { log: await openLog(shard), openOther: () => openLog(shard) };
  });
});

quorumReplicaContract("JournalReplica on a real nats-server", async () => {
  const spec = { name: shardLogStream(nextShard), subject: shardLogSubject(nextShard) };
  nextShard++;
  const nc = trio.connections[0]!;
  return {
    replica: new JournalReplica(0, nc, spec, 1_000),
    other: new JournalReplica(0, nc, spec, 1_000),
    run: (call) => call(),
    async until(check) {
      const deadline = performance.now() + 5_000;
      while (!check()) {
        if (performance.now() > deadline) return false;
        await sleep(10);
      }
      return true;
    },
    async dropStream() {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(await jsm.streams.find(spec.subject));
    },
  };
});

describe("replica streams on a real server", () => {
  test("a stream named exactly after the log (created before names carried tokens) is the replica", async () => {
    const shard = nextShard++;
    const spec = { name: shardLogStream(shard), subject: shardLogSubject(shard) };
    const jsm = await jetstreamManager(trio.connections[0]!);
    await jsm.streams.add({ name: spec.name, subjects: [spec.subject], allow_direct: true });
    const replica = new JournalReplica(0, trio.connections[0]!, spec, 1_000);
    assert.deepEqual(await replica.publish(bytes("a"), 0, "a"), { kind: "stored" });
    const view = await replica.view();
    assert.deepEqual(view, { stream: spec.name, first: 1, last: 1, lastId: "a" });
    // Replaced, it gets a derived name like any other.
    await replica.recreate([view.stream], 2);
    const replaced = await replica.view();
    assert.match(replaced.stream, new RegExp(`^${spec.name}_[0-9a-f]{16}$`));
    assert.deepEqual((await jsm.streams.find(spec.subject)), replaced.stream);
  });

  test("a foreign stream holding the log's subject makes the replica unavailable, not missing", async () => {
    const shard = nextShard++;
    const spec = { name: shardLogStream(shard), subject: shardLogSubject(shard) };
    const jsm = await jetstreamManager(trio.connections[0]!);
    await jsm.streams.add({ name: `FOREIGN_${shard}`, subjects: [spec.subject] });
    const replica = new JournalReplica(0, trio.connections[0]!, spec, 1_000);
    const err = await replica.view().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ReplicaUnavailableError && !(err instanceof ReplicaMissingError), String(err));
    assert.match(String(err), /held by stream FOREIGN_/);
  });
});

describe("failures", () => {
  test("kill -9 of any one server: appends go on within a second, nothing acknowledged is lost", { timeout: 180_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    let last = 0;
    let stopped = false;
    const ackTimes: number[] = [];
    const errors: string[] = [];
    const appender = (async () => {
      while (!stopped) {
        try {
          last = await log.append(bytes(`e${last + 1}`), last, `w:${last + 1}`);
          ackTimes.push(performance.now());
        } catch (err) {
          if (err instanceof FencedError) throw err;
          errors.push(`${performance.now().toFixed(0)} ${String(err)}`);
          await sleep(10);
        }
      }
    })();
    try {
      for (const victim of [0, 1, 2]) {
        await sleep(300);
        const killAt = performance.now();
        await trio.kill(victim);
        await sleep(1_000);
        const gaps = ackTimes.filter((t) => t > killAt - 500).map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!));
        const maxGap = Math.max(...gaps);
        assert.ok(ackTimes.some((t) => t > killAt + 100), `appends went on after killing server ${victim} (kill at ${killAt.toFixed(0)}): ${errors.slice(-5).join("; ")} ${JSON.stringify(log.replicaStates())}`);
        assert.ok(maxGap < 1_000, `longest gap between acknowledged appends ${maxGap.toFixed(0)} ms after killing server ${victim}`);
        await trio.restart(victim);
        // The restarted server is brought up to date while appends continue: the next victim's
        // loss then leaves two complete replicas.
        await waitFor(`server ${victim} repaired`, 30_000, () => log.replicaStates()[victim] === "tracking");
      }
    } finally {
      stopped = true;
      await appender;
    }
    assert.ok(last > 100, `only ${last} appends`);
    const all = await records(log);
    assert.equal(all.length, last);
    all.forEach((r, i) => assert.equal(text(r.data), `e${i + 1}`));
    // Every replica holds the whole log, byte for byte, once the writer has repaired the last one.
    await waitFor("every replica in step", 30_000, () => log.replicaStates().every((state) => state === "tracking"));
    for (let i = 0; i < 3; i++) assert.deepEqual(await replicaContents(i, shard), all.map((r) => text(r.data)), `replica ${i}`);
  });

  test("a replica whose stream is gone (a lost disk) is given a new one by the writer and refilled", { timeout: 60_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    for (let i = 0; i < 30; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    const jsm = await jetstreamManager(trio.connections[2]!);
    const lost = await jsm.streams.find(shardLogSubject(shard));
    await jsm.streams.delete(lost);
    // Appends go on on the two others; the repair sees replica 2 missing and replaces it.
    for (let i = 30; i < 40; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    await waitFor("replica 2 back in step", 20_000, () => log.replicaStates().every((state) => state === "tracking"));
    const replaced = await jsm.streams.find(shardLogSubject(shard));
    assert.notEqual(replaced, lost, "the replica has a stream under a new name");
    const all = await records(log);
    assert.equal(all.length, 40);
    assert.deepEqual(await replicaContents(2, shard), all.map((r) => text(r.data)));
  });

  test("losing a majority fails appends without a false success; they resume when one returns", { timeout: 120_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    for (let i = 0; i < 20; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    await trio.kill(1);
    await trio.kill(2);
    try {
      const started = performance.now();
      await assert.rejects(log.append(bytes("r21"), 20, "w:21"), LogUnavailableError);
      assert.ok(performance.now() - started < 5_000, "the failure is reported promptly");
      await assert.rejects(log.lastSeq(), LogUnavailableError);
    } finally {
      await trio.restart(1);
      await trio.restart(2);
    }
    // The retry with the same id either finds the record (it may have reached one replica) or stores it.
    await waitFor("an append after the restart", 20_000, async () => {
      try {
        return (await log.append(bytes("r21"), 20, "w:21")) === 21;
      } catch (err) {
        if (err instanceof FencedError) throw err;
        return false;
      }
    });
    const all = await records(log);
    assert.deepEqual(all.map((r) => text(r.data)), Array.from({ length: 21 }, (_, i) => `r${i + 1}`));
  });

  test("a record that reached one replica only is not part of the log, and that replica is repaired", { timeout: 60_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    for (let i = 0; i < 5; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    // A writer that died after its record reached replica 0 only.
    const h = headers();
    h.set("Nats-Msg-Id", "dead:6");
    await jetstream(trio.connections[0]!).publish(shardLogSubject(shard), bytes("orphan"), { expect: { lastSequence: 5 }, headers: h });
    const newWriter = await openLog(shard);
    assert.equal(await newWriter.lastSeq(), 5, "a record on one replica of three answering was never acknowledged");
    assert.equal(await newWriter.append(bytes("r6"), 5, "new:6"), 6);
    assert.equal(await newWriter.append(bytes("r7"), 6, "new:7"), 7);
    await waitFor("replica 0 recreated and in step", 20_000, () => newWriter.replicaStates().every((s) => s === "tracking"));
    const expected = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    for (let i = 0; i < 3; i++) assert.deepEqual(await replicaContents(i, shard), expected, `replica ${i}`);
    // The old writer is fenced.
    await assert.rejects(log.append(bytes("late"), 5, "w:6"), FencedError);
  });

  test("with one server down, a record on one of the two others is completed, not dropped", { timeout: 60_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    for (let i = 0; i < 5; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    // Record 6 was acknowledged by replicas 0 and 2 (the writer then died); server 2 is now down.
    for (const i of [0, 2]) {
      const h = headers();
      h.set("Nats-Msg-Id", "w:6");
      await jetstream(trio.connections[i]!).publish(shardLogSubject(shard), bytes("r6"), { expect: { lastSequence: 5 }, headers: h });
    }
    await trio.kill(2);
    try {
      const reader = await openLog(shard);
      assert.equal(await reader.lastSeq(), 6, "the possibly acknowledged record is kept");
      assert.deepEqual(await replicaContents(1, shard), ["r1", "r2", "r3", "r4", "r5", "r6"], "and copied to replica 1");
      const writer = await openLog(shard);
      assert.equal(await writer.append(bytes("r7"), 6, "x:7"), 7);
    } finally {
      await trio.restart(2);
    }
  });

  test("three different records at one slot (three racing writers) are resolved, not wedged", { timeout: 60_000 }, async () => {
    const shard = nextShard++;
    const log = await openLog(shard);
    for (let i = 0; i < 5; i++) await log.append(bytes(`r${i + 1}`), i, `w:${i + 1}`);
    for (const i of [0, 1, 2]) {
      const h = headers();
      h.set("Nats-Msg-Id", `racer${i}:6`);
      await jetstream(trio.connections[i]!).publish(shardLogSubject(shard), bytes(`racer${i}`), { expect: { lastSequence: 5 }, headers: h });
    }
    const writer = await openLog(shard);
    // The first replica's record is kept (copied to the second); nobody was ever told it succeeded.
    assert.equal(await writer.lastSeq(), 6);
    assert.equal(await writer.append(bytes("r7"), 6, "x:7"), 7);
    await waitFor("every replica in step", 20_000, () => writer.replicaStates().every((state) => state === "tracking"));
    const expected = ["r1", "r2", "r3", "r4", "r5", "racer0", "r7"];
    for (let i = 0; i < 3; i++) assert.deepEqual(await replicaContents(i, shard), expected, `replica ${i}`);
  });

  test("a new writer takes over while one server is down; the old one is fenced; the server is refilled on return", { timeout: 60_000 }, async () => {
    const shard = nextShard++;
    const old = await openLog(shard);
    for (let i = 0; i < 10; i++) await old.append(bytes(`r${i + 1}`), i, `old:${i + 1}`);
    await trio.kill(2);
    let last = 10;
    try {
      for (; last < 20; last++) await old.append(bytes(`r${last + 1}`), last, `old:${last + 1}`);
      const successor = await openLog(shard);
      assert.equal(await successor.lastSeq(), 20);
      for (; last < 30; last++) await successor.append(bytes(`r${last + 1}`), last, `new:${last + 1}`);
      await assert.rejects(old.append(bytes("stale"), 20, "old:21"), FencedError);
      await trio.restart(2);
      await waitFor("the returned server refilled", 20_000, () => successor.replicaStates().every((state) => state === "tracking"));
      const expected = Array.from({ length: 30 }, (_, i) => `r${i + 1}`);
      for (let i = 0; i < 3; i++) assert.deepEqual(await replicaContents(i, shard), expected, `replica ${i}`);
    } finally {
      if (trio.servers[2] === undefined) await trio.restart(2);
    }
  });

  test("random server kills, restarts and writer takeovers never lose an acknowledged record", { timeout: 120_000 }, async (t) => {
    const seed = Number(process.env["QUORUM_SEED"] ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (QUORUM_SEED=${seed} to repeat)`);
    const random = seededRandom(seed);
    const shard = nextShard++;
    /** Every record some writer was told is stored: sequence → data. */
    const acknowledged = new Map<number, string>();
    let stopped = false;
    /**
     * One writer, like a shard leader: starts from the agreed end, appends until it is fenced
     * (another writer appended), then stops. Several run at once after a takeover.
     */
    const runWriter = async (name: string): Promise<void> => {
      const log = await openLog(shard);
      let last = -1;
      while (!stopped) {
        if (last < 0) {
          last = await log.lastSeq().catch(() => -1);
          if (last < 0) await sleep(20);
          continue;
        }
        const data = `${name}:${last + 1}`;
        try {
          const seq = await log.append(bytes(data), last, data);
          assert.equal(seq, last + 1);
          assert.ok(!acknowledged.has(seq) || acknowledged.get(seq) === data, `slot ${seq} acknowledged as ${acknowledged.get(seq)} and as ${data}`);
          acknowledged.set(seq, data);
          last = seq;
        } catch (err) {
          if (err instanceof FencedError) return;
          assert.ok(err instanceof LogUnavailableError, String(err));
          await sleep(10);
        }
      }
    };
    const writers: Promise<void>[] = [runWriter("w0")];
    try {
      const deadline = performance.now() + 15_000;
      while (performance.now() < deadline) {
        await sleep(100 + random() * 300);
        const down = trio.servers.flatMap((server, i) => (server === undefined ? [i] : []));
        const action = random();
        if (action < 0.35 && down.length === 0) await trio.kill(Math.floor(random() * 3));
        else if (action < 0.7 && down.length > 0) await trio.restart(down[0]!);
        else if (action < 0.85) writers.push(runWriter(`w${writers.length}`));
      }
    } finally {
      stopped = true;
      await Promise.all(writers);
      for (let i = 0; i < 3; i++) if (trio.servers[i] === undefined) await trio.restart(i);
    }
    t.diagnostic(`${acknowledged.size} acknowledged appends by ${writers.length} writers`);
    assert.ok(acknowledged.size > 50, `only ${acknowledged.size} acknowledged appends`);
    // The servers just came back: a read may first have to bring a lagging replica up to date
    // (and report the log unavailable while it cannot), like any reader would retry.
    const reader = await openLog(shard);
    let all: LogRecord[] | undefined;
    await waitFor("the log readable again", 30_000, async () => {
      all = await records(reader).catch((err: unknown) => {
        assert.ok(err instanceof LogUnavailableError, String(err));
        return undefined;
      });
      return all !== undefined;
    });
    assert.ok(all !== undefined);
    for (const [seq, data] of acknowledged) assert.equal(text(all[seq - 1]!.data), data, `acknowledged record ${seq}`);
    all.forEach((r, i) => assert.equal(r.seq, i + 1));
  });
});
