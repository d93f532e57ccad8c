/**
 * The shard process, minus the choice of state machine (main.ts passes the real one; tests pass
 * a fake). Composition order: telemetry, NATS, the log stream, the cluster metaid and shard map
 * (the state machine needs both), the state machine, replay of the whole log, then serving; READY is printed only when requests are taken.
 * Exit codes: 0 after SIGTERM/SIGINT, 1 on any failure — notably a fenced append, after which the
 * supervisor restarts the process and it replays the log written by the other writer.
 */
import { connectNats, ensureClusterMetaId, ensureShardLog, openBucket } from "@antler/io-nats";
import { createPlacement, type Placement } from "@antler/slots";
import { createLogger, startTelemetryFromEnv, type Logger } from "@antler/telemetry";
import { replayLog } from "./replay.ts";
import { loadShardMap, slotsOwnedBy } from "./shard-map.ts";
import { startShardServer } from "./shard-server.ts";
import type { ShardStateMachine } from "./state-machine.ts";

export interface ShardConfig {
  readonly natsUrl: string;
  readonly shardId: number;
  readonly shardCount: number;
  /** Replicas of the log stream when it is created (existing streams keep theirs). */
  readonly logReplicas: number;
}

export class ShardConfigError extends Error {
  override name = "ShardConfigError";
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const text = env[name];
  if (text === undefined || text === "") {
    if (fallback !== undefined) return fallback;
    throw new ShardConfigError(`${name} is required`);
  }
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ShardConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

export function shardConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ShardConfig {
  const config = {
    natsUrl: env.ANTLER_NATS_URL ?? "nats://127.0.0.1:4222",
    shardId: intFromEnv(env, "ANTLER_SHARD_ID"),
    shardCount: intFromEnv(env, "ANTLER_SHARD_COUNT", 1),
    logReplicas: intFromEnv(env, "ANTLER_LOG_REPLICAS", 1),
  };
  if (config.shardId >= config.shardCount) throw new ShardConfigError(`ANTLER_SHARD_ID ${config.shardId} must be below ANTLER_SHARD_COUNT ${config.shardCount}`);
  if (config.logReplicas < 1) throw new ShardConfigError("ANTLER_LOG_REPLICAS must be at least 1");
  return config;
}

export interface StateMachineDeps {
  readonly config: ShardConfig;
  readonly metaId: bigint;
  readonly logger: Logger;
  /** BLAKE3 placement (directory slots). */
  readonly placement: Placement;
  /** The slots this shard owns in the current shard map. */
  readonly slots: readonly number[];
  readonly mapVersion: number;
}

export type StateMachineFactory<E> = (deps: StateMachineDeps) => ShardStateMachine<E> | Promise<ShardStateMachine<E>>;

/** Runs the shard until a signal or a fatal error; never returns. */
export async function runShardProcess<E>(createStateMachine: StateMachineFactory<E>): Promise<never> {
  let logger = createLogger("shard");
  try {
    const config = shardConfigFromEnv();
    logger = logger.child({ shard: config.shardId });
    const telemetry = startTelemetryFromEnv("antler-shard");
    const nc = await connectNats(config.natsUrl, `antler-shard-${config.shardId}`, { logger });
    const log = await ensureShardLog(nc, config.shardId, { replicas: config.logReplicas });
    const bucket = await openBucket(nc);
    const metaId = await ensureClusterMetaId(bucket);
    const placement = await createPlacement();
    const map = await loadShardMap(bucket, placement, config.shardCount);
    if (config.shardId >= map.shardCount) throw new ShardConfigError(`shard ${config.shardId} is not in the shard map (${map.shardCount} shards)`);
    const slots = slotsOwnedBy(map, config.shardId);
    const sm = await createStateMachine({ config, metaId, logger, placement, slots, mapVersion: map.version });

    logger.info("replaying the log", { stream: log.name });
    const replay = await replayLog(log, sm);
    logger.info("replayed the log", { records: replay.records, entries: replay.entries, lastSeq: replay.lastSeq, ms: Math.round(replay.durationMs) });

    const server = startShardServer({ nc, shardId: config.shardId, log, sm, logger, lastSeq: replay.lastSeq });
    await nc.flush();
    let stopping = false;
    const stopOnSignal = (signal: string) => {
      stopping = true;
      logger.info("stopping", { signal });
      void server.stop();
    };
    process.on("SIGTERM", () => stopOnSignal("SIGTERM"));
    process.on("SIGINT", () => stopOnSignal("SIGINT"));
    void nc.closed().then((err) => {
      if (stopping) return;
      logger.error("nats connection closed", { err });
      process.exit(1);
    });

    process.stdout.write(
      `READY ${JSON.stringify({ service: "shard", pid: process.pid, shardId: config.shardId, metaId: metaId.toString(), slots: slots.length, mapVersion: map.version, lastSeq: replay.lastSeq, entriesReplayed: replay.entries, replayMs: Math.round(replay.durationMs) })}\n`,
    );

    const reason = await server.done;
    if (reason.kind === "stopped") {
      await server.stop();
      await nc.drain();
      await telemetry.shutdown();
      process.exit(0);
    }
    // Fatal (fenced or log unreachable): exit without draining; replies for entries that are not
    // durable must never go out, and the supervisor restarts us into a fresh replay.
    await telemetry.flush().catch(() => {});
    process.exit(1);
  } catch (err) {
    logger.error("shard failed", { err });
    process.exit(1);
  }
}
