/**
 * Measures how long a shard log stalls when one NATS server dies (ADR 0007):
 *
 *   node bench/src/nats-failover.ts [--rounds 5] [--mode r3|quorum|both] [--dir /tmp/...]
 *
 * - r3: a 3-node JetStream cluster, one R3 stream; a writer appends sequentially (fenced by
 *   expected last sequence, same msg id on retry); each round SIGKILLs the server leading the
 *   stream, later restarts it and waits until the stream is current on all three again.
 * - quorum: three independent servers and a QuorumLogStream; each round SIGKILLs one of them
 *   (in turn), restarts it, and waits until the journal has repaired it.
 *
 * The stall of a round is the longest gap between two consecutive acknowledged appends, from the
 * gap that spans the kill until two seconds after appends resumed; the longest gap in the second
 * before the kill is printed as the noise floor (this machine is shared). Loopback only; bounded by
 * --round-timeout-ms; every process is one this script started, stopped by its PID.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectNats, FencedError, openQuorumLogStream, type QuorumLogStream } from "@antler/io-nats";
import { createLogger, parseLogLevel, type Logger } from "@antler/telemetry";
import { startIndependentServers, startNatsCluster } from "./nats-failover-servers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RoundResult {
  readonly victim: string;
  /** Longest gap between two acknowledged appends around the kill, ms. */
  readonly stallMs: number;
  /** Kill → first acknowledged append that was sent after the kill, ms. */
  readonly firstAckAfterKillMs: number;
  /** Restart → the restarted server holds the whole log again, ms. */
  readonly catchUpMs: number;
  /** Longest gap between acknowledged appends in the second before the kill (the noise floor), ms. */
  readonly baselineGapMs: number;
  /** Acknowledged appends per second in the second before the kill. */
  readonly appendsPerSecond: number;
  /** Longest event-loop delay of this process during the round, ms (CPU starvation on a shared machine). */
  readonly loopDelayMaxMs: number;
}

/** Measures how late this process's event loop ran during a round. */
function loopDelayMonitor(): { stop(): number } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return {
    stop() {
      histogram.disable();
      return histogram.max / 1e6;
    },
  };
}

/** A sequential appender that records the time of every acknowledged append. */
class Appender {
  readonly ackTimes: number[] = [];
  readonly sendTimes: number[] = [];
  failures = 0;
  #running = true;
  #done: Promise<void>;
  constructor(appendOnce: (seq: number) => Promise<void>, startSeq: number) {
    this.#done = (async () => {
      let next = startSeq;
      while (this.#running) {
        const sentAt = performance.now();
        try {
          await appendOnce(next);
          this.sendTimes.push(sentAt);
          this.ackTimes.push(performance.now());
          next++;
        } catch (err) {
          if (err instanceof FencedError) throw err;
          this.failures++;
          await sleep(10);
        }
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

function before(appender: Appender, killAt: number): { baselineGapMs: number; appendsPerSecond: number } {
  const times = appender.ackTimes.filter((t) => t >= killAt - 1_000 && t < killAt);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return { baselineGapMs: gap, appendsPerSecond: times.length };
}

function stallAround(appender: Appender, killAt: number): { stallMs: number; firstAckAfterKillMs: number } {
  const times = appender.ackTimes;
  let firstAfter = -1;
  for (let i = 0; i < times.length; i++) {
    if (appender.sendTimes[i]! >= killAt) {
      firstAfter = i;
      break;
    }
  }
  if (firstAfter < 0) return { stallMs: Number.POSITIVE_INFINITY, firstAckAfterKillMs: Number.POSITIVE_INFINITY };
  let stall = 0;
  for (let i = 1; i < times.length; i++) {
    // Gaps ending after the kill, starting with the one that spans it.
    if (times[i]! < killAt) continue;
    if (times[i - 1]! > times[firstAfter]! + 2_000) break;
    stall = Math.max(stall, times[i]! - times[i - 1]!);
  }
  return { stallMs: stall, firstAckAfterKillMs: times[firstAfter]! - killAt };
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // Not yet.
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function measureR3(dir: string, rounds: number, roundTimeoutMs: number): Promise<RoundResult[]> {
  const nodes = await startNatsCluster(join(dir, "r3"));
  let nc: NatsConnection | undefined;
  try {
    // The nodes were just spawned: retry until one accepts the connection.
    await waitUntil("the cluster to accept connections", roundTimeoutMs, async () => {
      nc = await connect({ servers: nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      return true;
    });
    const js = jetstream(nc!);
    const stream = "FAILOVER";
    let manager: JetStreamManager | undefined;
    await waitUntil("the cluster's meta leader", roundTimeoutMs, async () => {
      manager ??= await jetstreamManager(nc!);
      await manager.streams.add({
        name: stream, subjects: ["failover.log"], storage: StorageType.File, num_replicas: 3,
        retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old,
      });
      return true;
    });
    const jsm = manager!;
    const results: RoundResult[] = [];
    let expected = 0;
    const appendOnce = async (seq: number): Promise<void> => {
      const ack = await js.publish("failover.log", new Uint8Array(100), {
        expect: { lastSequence: seq - 1 }, msgID: `w:${seq}`, timeout: 250, retries: 0,
      }).catch(async (err: unknown) => {
        // The ack of a stored append was lost: the retry is refused as a wrong sequence.
        const stored = await jsm.direct.getMessage(stream, { seq }).catch(() => null);
        if (stored?.header?.get("Nats-Msg-Id") === `w:${seq}`) return { seq };
        throw err;
      });
      expected = ack.seq;
    };
    for (let round = 0; round < rounds; round++) {
      const loop = loopDelayMonitor();
      const appender = new Appender(appendOnce, expected + 1);
      await sleep(1_000);
      const info = await jsm.streams.info(stream);
      const leader = nodes.find((n) => n.name === info.cluster?.leader);
      if (leader === undefined) throw new Error(`no leader for ${stream}: ${JSON.stringify(info.cluster)}`);
      const killAt = performance.now();
      await leader.kill();
      await waitUntil("appends after the kill", roundTimeoutMs, async () => appender.sendTimes.some((sentAt) => sentAt > killAt));
      await sleep(2_000);
      await appender.stop();
      const loopDelayMaxMs = loop.stop();
      const { stallMs, firstAckAfterKillMs } = stallAround(appender, killAt);
      const restartAt = performance.now();
      await leader.restart();
      await waitUntil("the restarted replica to be current", roundTimeoutMs, async () => {
        const state = await jsm.streams.info(stream);
        const replicas = state.cluster?.replicas ?? [];
        return replicas.length === 2 && replicas.every((r) => r.current && !r.offline && (r.lag ?? 0) === 0) && state.cluster?.leader !== undefined;
      });
      results.push({ victim: leader.name, stallMs, firstAckAfterKillMs, catchUpMs: performance.now() - restartAt, loopDelayMaxMs, ...before(appender, killAt) });
      console.error(`r3 round ${round + 1}: killed ${leader.name}, stall ${stallMs.toFixed(0)} ms, first ack after kill ${firstAckAfterKillMs.toFixed(0)} ms, ${appender.failures} failed attempts`);
    }
    return results;
  } finally {
    await nc?.close().catch(() => {});
    for (const node of nodes) await node.stop();
  }
}

async function measureQuorum(dir: string, rounds: number, roundTimeoutMs: number, logger: Logger | undefined): Promise<RoundResult[]> {
  const nodes = await startIndependentServers(join(dir, "quorum"));
  const connections: NatsConnection[] = [];
  try {
    for (const [i, node] of nodes.entries()) connections.push(await connectNats(node.url, `failover-journal-${i}`));
    const log: QuorumLogStream = await openQuorumLogStream(connections, 9, { replicaTimeoutMs: 1_000, ...(logger !== undefined ? { logger } : {}) });
    const results: RoundResult[] = [];
    let lastSeq = await log.lastSeq();
    const appendOnce = async (seq: number): Promise<void> => {
      lastSeq = await log.append(new Uint8Array(100), seq - 1, `w:${seq}`);
    };
    for (let round = 0; round < rounds; round++) {
      const loop = loopDelayMonitor();
      const appender = new Appender(appendOnce, lastSeq + 1);
      await sleep(1_000);
      const victimIndex = round % nodes.length;
      const victim = nodes[victimIndex]!;
      const killAt = performance.now();
      logger?.info("killing", { victim: victim.name });
      await victim.kill();
      await waitUntil("appends after the kill", roundTimeoutMs, async () => appender.sendTimes.some((sentAt) => sentAt > killAt));
      await sleep(2_000);
      const loopDelayMaxMs = loop.stop();
      const { stallMs, firstAckAfterKillMs } = stallAround(appender, killAt);
      const restartAt = performance.now();
      await victim.restart();
      // Appends keep running while the journal backfills the restarted server.
      await waitUntil("the restarted replica to be repaired", roundTimeoutMs, async () => log.replicaStates()[victimIndex] === "tracking");
      const catchUpMs = performance.now() - restartAt;
      await appender.stop();
      results.push({ victim: victim.name, stallMs, firstAckAfterKillMs, catchUpMs, loopDelayMaxMs, ...before(appender, killAt) });
      console.error(`quorum round ${round + 1}: killed ${victim.name}, stall ${stallMs.toFixed(0)} ms, first ack after kill ${firstAckAfterKillMs.toFixed(0)} ms, repaired in ${catchUpMs.toFixed(0)} ms`);
    }
    log.close();
    return results;
  } finally {
    for (const nc of connections) await nc.close().catch(() => {});
    for (const node of nodes) await node.stop();
  }
}

function summary(label: string, results: readonly RoundResult[]): string {
  const stalls = results.map((r) => r.stallMs).sort((a, b) => a - b);
  const p50 = stalls[Math.floor((stalls.length - 1) / 2)] ?? NaN;
  const max = stalls.at(-1) ?? NaN;
  const catchUp = results.map((r) => r.catchUpMs).sort((a, b) => a - b);
  return [
    `${label}: ${results.length} rounds, stall p50 ${p50.toFixed(0)} ms, max ${max.toFixed(0)} ms`,
    `  stalls (sorted, ms): ${stalls.map((s) => s.toFixed(0)).join(", ")}`,
    `  kill → first ack of an append sent after the kill (ms): ${results.map((r) => r.firstAckAfterKillMs.toFixed(0)).join(", ")}`,
    `  restart → replica current again (ms): ${catchUp.map((s) => s.toFixed(0)).join(", ")}`,
    `  before the kill: longest gap (ms) ${results.map((r) => r.baselineGapMs.toFixed(0)).join(", ")}; appends/s ${results.map((r) => r.appendsPerSecond).join(", ")}`,
    `  longest event-loop delay of the writer per round (ms): ${results.map((r) => r.loopDelayMaxMs.toFixed(0)).join(", ")}`,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "5" },
      mode: { type: "string", default: "both" },
      dir: { type: "string" },
      "round-timeout-ms": { type: "string", default: "60000" },
      /** Journal log level (debug shows every replica leaving and rejoining). */
      "log-level": { type: "string" },
    },
  });
  const rounds = Number(values.rounds);
  const roundTimeoutMs = Number(values["round-timeout-ms"]);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a positive integer");
  if (!["r3", "quorum", "both"].includes(values.mode)) throw new Error("--mode must be r3, quorum or both");
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), "antler-nats-failover-"));
  try {
    if (values.mode !== "quorum") console.log(summary("R3 stream, 3-node cluster, kill the stream leader", await measureR3(dir, rounds, roundTimeoutMs)));
    const level = values["log-level"] === undefined ? undefined : parseLogLevel(values["log-level"]);
    const logger = level === undefined ? undefined : createLogger("nats-failover", { level });
    if (values.mode !== "r3") console.log(summary("quorum journal, 3 independent servers, kill one", await measureQuorum(dir, rounds, roundTimeoutMs, logger)));
  } finally {
    if (values.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
