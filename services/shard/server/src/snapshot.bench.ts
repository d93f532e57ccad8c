/**
 * Restart cost with and without snapshots (ADR 0006), with the real state machine. Not a test;
 * run by hand:
 *   node --max-old-space-size=8192 services/shard/server/src/snapshot.bench.ts [operations] [tail]
 * Builds a log of `operations` creates spread over 1000 directories (executed on shard-core and
 * appended in batches of 32 entries, as group commit does under load) and stores a snapshot
 * `tail` operations before the end (export, SHA-256 and put timed). Then each restart is measured
 * the way it happens, in a fresh process (this script re-run with `restart <url> <mode>`): a full
 * replay of the log, and a restore from snapshot + tail (restore.ts). Both report a fingerprint
 * of the resulting state (SHA-256 of its export) to compare with the builder's.
 *
 *   node services/shard/server/src/snapshot.bench.ts serving [creates] [concurrency]
 * measures what feeding the snapshot worker costs the serving path: creates/s and latency through
 * NATS with and without the replica attached (no snapshot is taken during the run).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats, ensureShardLog, openSnapshotStore, sha256Hex, type SnapshotStore } from "@antler/io-nats";
import { startNatsServer } from "@antler/testkit";
import { encodeMessage, nameFromText, shardRequestSubject } from "@antler/ops";
import type { MetadataStateMachine } from "@antler/shard-core";
import { createLogger } from "@antler/telemetry";
import { coreSnapshotFormatVersion } from "./core-replica.ts";
import { encodeBatch } from "./log-batch.ts";
import { replayLog } from "./replay.ts";
import { restoreShard } from "./restore.ts";
import { startShardServer } from "./shard-server.ts";
import { WorkerReplica } from "./snapshot-replica.ts";
import { coreReplicaModule, newCoreMachine } from "./testing/shard-harness.ts";

const shardId = 0;
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const heapMb = () => mb(process.memoryUsage().heapUsed);

/** SHA-256 of the exported state, or its stats when it is too large for the snapshot format. */
function fingerprint(machine: MetadataStateMachine): string {
  try {
    return sha256Hex(machine.exportState());
  } catch {
    return JSON.stringify(machine.stats());
  }
}

async function restart(url: string, mode: "replay" | "snapshot"): Promise<void> {
  const nc = await connectNats(url, `snapshot-bench-${mode}`);
  try {
    const log = await ensureShardLog(nc, shardId);
    if (mode === "replay") {
      const sm = newCoreMachine(shardId);
      const replay = await replayLog(log, sm);
      console.log(`full replay: ${replay.entries} entries in ${replay.records} records, ${(replay.durationMs / 1000).toFixed(2)} s (${((replay.entries / replay.durationMs) * 1000).toFixed(0)} entries/s); heap ${heapMb()} MB`);
      console.log(`FINGERPRINT ${fingerprint(sm)}`);
      return;
    }
    const store = await openSnapshotStore(nc);
    const started = performance.now();
    const restored = await restoreShard<unknown>({
      shardId,
      log,
      store,
      createStateMachine: () => Promise.resolve(newCoreMachine(shardId)),
      logger: createLogger("bench", { level: "error" }),
      formatVersion: coreSnapshotFormatVersion,
    });
    console.log(
      `snapshot + tail: snapshot read + import ${(restored.snapshotLoadMs / 1000).toFixed(2)} s, tail ${restored.tailEntries} entries in ${(restored.tailMs / 1000).toFixed(2)} s, total ${((performance.now() - started) / 1000).toFixed(2)} s; heap ${heapMb()} MB`,
    );
    console.log(`FINGERPRINT ${fingerprint(restored.sm as MetadataStateMachine)}`);
  } finally {
    await nc.close();
  }
}

/** Runs one restart in a fresh process; returns its fingerprint. */
async function restartInChild(url: string, mode: "replay" | "snapshot"): Promise<string> {
  const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, "restart", url, mode], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`${mode} restart exited with ${code}`);
  for (const line of out.split("\n")) if (line !== "" && !line.startsWith("FINGERPRINT ")) console.log(line);
  return /FINGERPRINT (.*)/.exec(out)?.[1] ?? "";
}

async function build(operations: number, tail: number, store: SnapshotStore, append: (data: Uint8Array, lastSeq: number) => Promise<number>): Promise<string> {
  const directories = 1000;
  const batchEntries = 32;
  const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
  const sm = newCoreMachine(shardId);
  let lastSeq = 0;
  let pending: Uint8Array[] = [];
  let nowMs = 1_800_000_000_000;
  const flush = async () => {
    if (pending.length === 0) return;
    lastSeq = await append(encodeBatch(pending), lastSeq);
    pending = [];
  };
  const run = async (cmd: Parameters<MetadataStateMachine["execute"]>[0]) => {
    const { result, entry } = sm.execute(cmd, ctx, nowMs++);
    if (result.status !== 0) throw new Error(`${cmd.kind} failed: ${JSON.stringify(result)}`);
    if (entry !== null) pending.push(sm.encodeEntry(entry));
    if (pending.length >= batchEntries) await flush();
    return result;
  };
  const started = performance.now();
  const dirInodes: number[] = [];
  for (let d = 0; d < directories; d++) {
    const result = (await run({ kind: "mkdir", parent: 1, name: nameFromText(`dir-${d}`), mode: 0o755, umask: 0, copysgid: false })) as { inode: number };
    dirInodes.push(result.inode);
  }
  for (let i = directories; i < operations; i++) {
    if (i === operations - tail) {
      await flush();
      const t0 = performance.now();
      try {
        const bytes = sm.exportState();
        const exportMs = performance.now() - t0;
        const t1 = performance.now();
        const sha256 = sha256Hex(bytes);
        const shaMs = performance.now() - t1;
        const t2 = performance.now();
        await store.put(shardId, { lastSeq, formatVersion: coreSnapshotFormatVersion, bytes, sha256 });
        console.log(`snapshot at seq ${lastSeq} (${i} operations): ${mb(bytes.length)} MB, export ${exportMs.toFixed(0)} ms, sha256 ${shaMs.toFixed(0)} ms, put ${(performance.now() - t2).toFixed(0)} ms`);
      } catch (err) {
        console.log(`export at ${i} operations failed after ${(performance.now() - t0).toFixed(0)} ms: ${String(err)}`);
      }
    }
    await run({ kind: "create", parent: dirInodes[i % directories]!, name: nameFromText(`file-${i}`), mode: 0o644, umask: 0 });
  }
  await flush();
  console.log(`built ${operations} operations in ${lastSeq} records, ${((performance.now() - started) / 1000).toFixed(1)} s; heap ${heapMb()} MB`);
  return fingerprint(sm);
}

async function serving(creates: number, concurrency: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "antler-snapbench-"));
  const server = await startNatsServer({ dir });
  const nc = await connectNats(server.url, "snapshot-bench-serving");
  const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  try {
    for (const [round, withReplica] of [false, true, false, true].entries()) {
      const shard = round;
      const replica = withReplica ? await WorkerReplica.start(coreReplicaModule, { shardId: shard, metaId: 7n, slots: Array.from({ length: 2048 }, (_, i) => i) }, { natsUrl: server.url, formatVersion: coreSnapshotFormatVersion }) : null;
      replica?.load(null, 0);
      const log = await ensureShardLog(nc, shard);
      const server_ = startShardServer({ nc, shardId: shard, log, sm: newCoreMachine(shard), logger: createLogger("bench", { level: "error" }), lastSeq: 0, maintainIntervalMs: 0, ...(replica !== null ? { onCommitted: (seq: number, data: Uint8Array) => replica.record(seq, data) } : {}) });
      await nc.flush();
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < creates) {
            const i = next++;
            const t0 = performance.now();
            await nc.request(shardRequestSubject(shard), encodeMessage({ ctx: { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 }, cmd: { kind: "create", parent: 1, name: nameFromText(`f-${i}`), mode: 0o644, umask: 0 } }), { timeout: 10_000 });
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await server_.stop();
      await replica?.close();
      latencies.sort((a, b) => a - b);
      console.log(`${withReplica ? "with replica   " : "without replica"}: ${(creates / seconds).toFixed(0)} creates/s, p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);
    }
  } finally {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "serving") {
  await serving(Number(process.argv[3] ?? 20_000), Number(process.argv[4] ?? 64));
} else if (process.argv[2] === "restart") {
  await restart(process.argv[3]!, process.argv[4] === "replay" ? "replay" : "snapshot");
} else {
  const operations = Number(process.argv[2] ?? 1_000_000);
  const tail = Number(process.argv[3] ?? 10_000);
  const dir = await mkdtemp(join(tmpdir(), "antler-snapbench-"));
  const server = await startNatsServer({ dir });
  const nc = await connectNats(server.url, "snapshot-bench");
  try {
    const log = await ensureShardLog(nc, shardId);
    const store = await openSnapshotStore(nc);
    const live = await build(operations, tail, store, (data, lastSeq) => log.append(data, lastSeq));
    const replayed = await restartInChild(server.url, "replay");
    console.log(`  same state as the builder: ${replayed === live}`);
    if ((await store.list(shardId)).length > 0) {
      const restored = await restartInChild(server.url, "snapshot");
      console.log(`  same state as the builder: ${restored === live}`);
    }
  } finally {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
