/**
 * Measurements behind docs/decisions/0001-shard-log-on-jetstream.md. Not a test (no pass/fail);
 * run by hand: `node libs/io-nats/src/log-stream.bench.ts [appends] [records-to-read]`.
 *
 * 1. Sequential fenced appends (200-byte records, each awaiting its ack), p50/p99, on a server
 *    with the default sync_interval (2 min) and on one with `sync_interval: always`.
 * 2. Reading back N records from the start with both JetStreamLogStream readers (ordered
 *    consumer, batched direct get).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "./connect.ts";
import { ensureShardLog } from "./jetstream-log-stream.ts";
import { startNatsServer } from "@antler/testkit";

const appends = Number(process.argv[2] ?? 3000);
const readCount = Number(process.argv[3] ?? 200_000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function appendLatency(syncInterval: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "antler-bench-"));
  const server = await startNatsServer({ dir, syncAlways: syncInterval === "always" });
  const nc = await connectNats(server.url, "bench");
  try {
    const log = await ensureShardLog(nc, 0);
    const data = new Uint8Array(200).fill(7);
    const samples: number[] = [];
    for (let i = 0; i < appends + 200; i++) {
      const t0 = performance.now();
      await log.append(data, i, `bench:${i + 1}`);
      if (i >= 200) samples.push((performance.now() - t0) * 1000);
    }
    samples.sort((a, b) => a - b);
    return `sync_interval=${syncInterval ?? "default(2m)"}: ${appends} appends, p50 ${percentile(samples, 50).toFixed(0)} µs, p99 ${percentile(samples, 99).toFixed(0)} µs, max ${samples[samples.length - 1]!.toFixed(0)} µs`;
  } finally {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function readSpeed(): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "antler-bench-"));
  const server = await startNatsServer({ dir });
  const nc = await connectNats(server.url, "bench");
  const out: string[] = [];
  try {
    await ensureShardLog(nc, 1);
    const js = jetstream(nc);
    const data = new Uint8Array(100).fill(3);
    // Fill quickly: acknowledged publishes in windows of 256 (order is kept by one connection).
    const t0 = performance.now();
    for (let i = 0; i < readCount; i += 256) {
      const n = Math.min(256, readCount - i);
      await Promise.all(Array.from({ length: n }, () => js.publish("antler.log.1", data)));
    }
    out.push(`filled ${readCount} records of 100 B in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const reader of ["direct", "ordered", "direct", "ordered"] as const) {
      for (const batch of [1024, 4096]) {
        const fresh = await ensureShardLog(nc, 1, { readBatchSize: batch, reader });
        const t1 = performance.now();
        let count = 0;
        await fresh.readAll(1, () => count++);
        const ms = performance.now() - t1;
        out.push(`${reader} batch=${batch}: ${count} records in ${ms.toFixed(0)} ms (${((count / ms) * 1000).toFixed(0)} records/s)`);
      }
    }
  } finally {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

if (appends > 0) for (const sync of [undefined, "always", undefined, "always"]) console.log(await appendLatency(sync));
for (const line of await readSpeed()) console.log(line);
