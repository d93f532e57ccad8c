/**
 * Measurements behind docs/decisions/0001-shard-log-on-jetstream.md for the whole shard path
 * (NATS request → execute → group-committed append → reply), in one process with the real
 * state machine. Not a test; run by hand:
 *   node services/shard/server/src/shard.bench.ts [creates] [concurrency...]
 * For each fsync setting and concurrency: creates/s, request p50/p99, entries per append; then
 * the time to replay the resulting log into a fresh state machine.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats, ensureShardLog } from "@antler/io-nats";
import { startNatsServer } from "@antler/testkit";
import { encodeMessage, nameFromText, shardRequestSubject } from "@antler/ops";
import { createStateMachine } from "@antler/shard-core";
import { createPlacement } from "@antler/slots";
import { createLogger } from "@antler/telemetry";
import { replayLog } from "./replay.ts";
import { startShardServer } from "./shard-server.ts";

const creates = Number(process.argv[2] ?? 20_000);
const concurrencies = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1, 64];
const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const logger = createLogger("bench", { level: "error" });
const placement = await createPlacement();
const newMachine = () => createStateMachine({ shardId: 0, metaId: 1n, slotOfNewDirectory: (p, n) => placement.directorySlot(p, n) });

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

for (const sync of [undefined, "always"]) {
  for (const concurrency of concurrencies) {
    const dir = await mkdtemp(join(tmpdir(), "antler-bench-"));
    const server = await startNatsServer({ dir, syncAlways: sync === "always" });
    const nc = await connectNats(server.url, "bench");
    try {
      const log = await ensureShardLog(nc, 0);
      const sm = newMachine();
      const shard = startShardServer({ nc, shardId: 0, log, sm, logger, lastSeq: 0, maintainIntervalMs: 0 });
      await nc.flush();
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < creates) {
            const name = nameFromText(`file-${next++}`);
            const t0 = performance.now();
            await nc.request(shardRequestSubject(0), encodeMessage({ ctx, cmd: { kind: "create", parent: 1, name, mode: 0o644, umask: 0 } }), { timeout: 10_000 });
            latencies.push((performance.now() - t0) * 1000);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await shard.stop();
      const records = await log.lastSeq();
      latencies.sort((a, b) => a - b);
      console.log(
        `sync=${sync ?? "default"} concurrency=${concurrency}: ${(creates / seconds).toFixed(0)} creates/s, p50 ${pct(latencies, 50).toFixed(0)} µs, p99 ${pct(latencies, 99).toFixed(0)} µs, ${(creates / records).toFixed(1)} entries/append`,
      );
      const replay = await replayLog(log, newMachine());
      console.log(`  replay: ${replay.entries} entries in ${replay.records} records, ${replay.durationMs.toFixed(0)} ms (${((replay.entries / replay.durationMs) * 1000).toFixed(0)} entries/s)`);
    } finally {
      await nc.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }
}
