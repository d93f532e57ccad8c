/**
 * The shard process, minus the choice of state machine (main.ts passes the real one; tests pass
 * a fake). Composition order: telemetry, NATS, the log stream, the cluster metaid and shard map
 * (the state machine needs both), the snapshot store and worker, the restore (newest usable snapshot
 * + log tail, restore.ts), then serving with the snapshotter fed by every acknowledged append;
 * READY is printed only when requests are taken. READY reports the restore: `snapshotSeq` (0 =
 * none), `entriesReplayed`/`tailRecords` (the tail), `snapshotLoadMs`, `replayMs`, `restoreMs`.
 * Exit codes: 0 after SIGTERM/SIGINT, 1 on any failure — notably a fenced append, after which the
 * supervisor restarts the process and it replays the log written by the other writer.
 */
import { limits } from "@antler/base";
import { connectNats, ensureClusterCreatedSeconds, ensureClusterMetaId, ensureShardLog, openBucket, openSnapshotStore, type SnapshotStore } from "@antler/io-nats";
import { createPlacement, type Placement } from "@antler/slots";
import { createLogger, startTelemetryFromEnv, type Logger } from "@antler/telemetry";
import { restoreShard } from "./restore.ts";
import { loadShardMap, slotsOwnedBy } from "./shard-map.ts";
import { startShardServer } from "./shard-server.ts";
import { WorkerReplica } from "./snapshot-replica.ts";
import { Snapshotter, type SnapshotPolicy } from "./snapshotter.ts";
import { isSnapshottable, type ShardStateMachine } from "./state-machine.ts";

export interface ShardConfig {
  readonly natsUrl: string;
  readonly shardId: number;
  readonly shardCount: number;
  /** Replicas of the log stream when it is created (existing streams keep theirs). */
  readonly logReplicas: number;
  /** When to snapshot (ADR 0006); `entries: 0` turns snapshots off (restore still uses stored ones). */
  readonly snapshots: SnapshotPolicy;
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
    snapshots: {
      entries: intFromEnv(env, "ANTLER_SNAPSHOT_ENTRIES", limits.shardSnapshotEntries),
      intervalMinMs: intFromEnv(env, "ANTLER_SNAPSHOT_INTERVAL_MIN_MS", limits.shardSnapshotIntervalMinMs),
      intervalMaxMs: intFromEnv(env, "ANTLER_SNAPSHOT_INTERVAL_MAX_MS", limits.shardSnapshotIntervalMaxMs),
    },
  };
  if (config.shardId >= config.shardCount) throw new ShardConfigError(`ANTLER_SHARD_ID ${config.shardId} must be below ANTLER_SHARD_COUNT ${config.shardCount}`);
  if (config.logReplicas < 1) throw new ShardConfigError("ANTLER_LOG_REPLICAS must be at least 1");
  return config;
}

export interface StateMachineDeps {
  readonly config: ShardConfig;
  readonly metaId: bigint;
  /** When the filesystem was created (seconds): the root directory's initial times. */
  readonly createdSeconds: number;
  readonly logger: Logger;
  /** BLAKE3 placement (directory slots). */
  readonly placement: Placement;
  /** The slots this shard owns in the current shard map. */
  readonly slots: readonly number[];
  readonly mapVersion: number;
}

export type StateMachineFactory<E> = (deps: StateMachineDeps) => ShardStateMachine<E> | Promise<ShardStateMachine<E>>;

export interface ShardProcessOptions {
  /**
   * Snapshots (ADR 0006): the module the snapshot worker loads to build its replica of the same
   * state machine (exports `createReplica`, see snapshot-replica.ts), and the state machine's
   * snapshot format version. Without it the shard neither takes nor reads snapshots.
   */
  readonly snapshots?: { readonly replicaModule: URL; readonly formatVersion: number };
}

/** Runs the shard until a signal or a fatal error; never returns. */
export async function runShardProcess<E>(createStateMachine: StateMachineFactory<E>, options: ShardProcessOptions = {}): Promise<never> {
  let logger = createLogger("shard");
  try {
    const config = shardConfigFromEnv();
    logger = logger.child({ shard: config.shardId });
    const telemetry = startTelemetryFromEnv("antler-shard");
    const nc = await connectNats(config.natsUrl, `antler-shard-${config.shardId}`, { logger });
    const log = await ensureShardLog(nc, config.shardId, { replicas: config.logReplicas });
    const bucket = await openBucket(nc);
    const metaId = await ensureClusterMetaId(bucket);
    const createdSeconds = await ensureClusterCreatedSeconds(bucket);
    const placement = await createPlacement();
    const map = await loadShardMap(bucket, placement, config.shardCount);
    if (config.shardId >= map.shardCount) throw new ShardConfigError(`shard ${config.shardId} is not in the shard map (${map.shardCount} shards)`);
    const slots = slotsOwnedBy(map, config.shardId);
    const newStateMachine = async () => {
      const sm = await createStateMachine({ config, metaId, createdSeconds, logger, placement, slots, mapVersion: map.version });
      if (options.snapshots !== undefined && !isSnapshottable(sm)) throw new ShardConfigError("snapshots need a state machine with exportState/importState");
      return sm;
    };
    const store: SnapshotStore | null = options.snapshots === undefined ? null : await openSnapshotStore(nc, { replicas: config.logReplicas });
    // The replica starts before the restore so it loads the same snapshot and tail in parallel.
    const takeSnapshots = options.snapshots !== undefined && config.snapshots.entries > 0;
    const replica = takeSnapshots
      ? await WorkerReplica.start(
          options.snapshots!.replicaModule,
          { shardId: config.shardId, metaId, createdSeconds, slots },
          { natsUrl: config.natsUrl, replicas: config.logReplicas, formatVersion: options.snapshots!.formatVersion },
        )
      : null;

    logger.info("restoring", { stream: log.name });
    const restoreStarted = performance.now();
    const restored = await restoreShard({
      shardId: config.shardId,
      log,
      store,
      createStateMachine: newStateMachine,
      logger,
      ...(options.snapshots !== undefined ? { formatVersion: options.snapshots.formatVersion } : {}),
      ...(replica !== null ? { onRecord: (seq: number, data: Uint8Array) => replica.record(seq, data) } : {}),
      onSnapshotLoaded: (bytes, lastSeq) => replica?.load(bytes, lastSeq),
    });
    const restoreMs = performance.now() - restoreStarted;
    const snapshotSeq = restored.snapshot?.lastSeq ?? 0;
    logger.info("restored", { snapshotSeq, skipped: restored.skipped, tailRecords: restored.tailRecords, tailEntries: restored.tailEntries, lastSeq: restored.lastSeq, ms: Math.round(restoreMs) });

    const snapshotter =
      replica === null || store === null
        ? null
        : new Snapshotter({ shardId: config.shardId, log, store, replica, logger, policy: config.snapshots, baseSeq: snapshotSeq, lastSeq: restored.lastSeq });
    const server = startShardServer({
      nc,
      shardId: config.shardId,
      log,
      sm: restored.sm,
      logger,
      lastSeq: restored.lastSeq,
      ...(snapshotter !== null ? { onCommitted: (seq: number, record: Uint8Array, entries: number) => snapshotter.committed(seq, record, entries) } : {}),
    });
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
      `READY ${JSON.stringify({ service: "shard", pid: process.pid, shardId: config.shardId, metaId: metaId.toString(), slots: slots.length, mapVersion: map.version, lastSeq: restored.lastSeq, snapshotSeq, snapshotsSkipped: restored.skipped.length, snapshotLoadMs: Math.round(restored.snapshotLoadMs), tailRecords: restored.tailRecords, entriesReplayed: restored.tailEntries, replayMs: Math.round(restored.tailMs), restoreMs: Math.round(restoreMs), snapshots: snapshotter !== null })}\n`,
    );

    const reason = await server.done;
    if (reason.kind === "stopped") {
      await server.stop();
      await snapshotter?.close();
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
