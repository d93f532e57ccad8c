/**
 * The shard process, minus the choice of state machine (main.ts passes the real one; tests pass
 * a fake). Every process is one replica of its shard (ANTLER_REPLICA_ID); the replicas elect a
 * leader through the shard's lease (ARCHITECTURE §4, @antler/shard-core Election).
 *
 * Composition order: telemetry, NATS, the log stream, the cluster metaid and shard map (the state
 * machine needs both), the snapshot store and worker, the restore (newest usable snapshot + log
 * tail, restore.ts). Then the replica is a STANDBY: it follows the log (every new record applied
 * to its state machine and its snapshot replica) and takes part in the election. When it wins the
 * lease it stops following, reads the log to its end (fenced appends make that safe: a record a
 * deposed leader adds later only fences our own first append) and serves; the snapshotter is fed
 * by every acknowledged append. A single replica finds the key missing, released or held by its own
 * previous incarnation and leads at once, as before.
 *
 * Output: READY when the process is up, with `role` ("leader" or "standby") and `epoch`, and the
 * restore (`snapshotSeq` (0 = none), `entriesReplayed`/`tailRecords` (the tail), `snapshotLoadMs`,
 * `replayMs`, `restoreMs`); every later change of role prints `ROLE {"role":...}` (a takeover with
 * its epoch and how long it took, a step-down with the reason).
 *
 * Losing the lease while leading (renewals failed, a stall longer than the lease, another holder)
 * stops the serving at once — requests and replies are dropped by the lease guard — and hands the
 * lease over; once the appends the server had started are settled, the replica follows the log
 * again as a standby (no restart: a starved leader costs one failover, not a replay).
 *
 * Exit codes: 0 after SIGTERM/SIGINT (a leader finishes what it accepted, then hands the lease
 * over so a standby takes over at once), 1 on any failure — notably a fenced append (another
 * leader wrote: this replica's state has entries the log will never have): it stops at once,
 * without replying further, and the supervisor restarts it as a standby that replays the log.
 */
import { limits } from "@antler/base";
import {
  connectNats, ensureClusterCreatedSeconds, ensureClusterMetaId, ensureShardLog, FencedError, followLog, followQuorumLog, openBucket, openKvLeaseStore,
  openLeaseMirror, openQuorumLeaseStore, openQuorumLogStream, openSnapshotStore, type LeaseStore, type LogRecord,
  type LogFollower, type SnapshotStore,
} from "@antler/io-nats";
import { txnBucket } from "@antler/ops";
import { Election, isEarlierIncarnation, leaseHolderId, leaseReplicaName } from "@antler/shard-core";
import { createPlacement, type Placement } from "@antler/slots";
import { createLogger, startTelemetryFromEnv, type Logger } from "@antler/telemetry";
import { ElectionRunner } from "./election-runner.ts";
import { leaseGuardedConnection, watchedLog, type LeaseGuard } from "./lease-guard.ts";
import { applyLogRecord, replayLog } from "./replay.ts";
import { restoreShard } from "./restore.ts";
import { loadShardMap, slotsOwnedBy } from "./shard-map.ts";
import { startShardServer, type ShardServer } from "./shard-server.ts";
import { WorkerReplica } from "./snapshot-replica.ts";
import { Snapshotter, type SnapshotPolicy } from "./snapshotter.ts";
import { isSnapshottable, type ShardStateMachine } from "./state-machine.ts";

export interface ShardConfig {
  readonly natsUrl: string;
  readonly shardId: number;
  readonly shardCount: number;
  /** Which replica of the shard this process is (stable across its restarts; names its lease holder). */
  readonly replicaId: number;
  /** Replicas of the log stream and the lease bucket when they are created (existing ones keep theirs). */
  readonly logReplicas: number;
  /** When to snapshot (ADR 0006); `entries: 0` turns snapshots off (restore still uses stored ones). */
  readonly snapshots: SnapshotPolicy;
  /**
   * Where the log and the lease live (ADR 0007): "jetstream" = a stream and a KV key on the main
   * NATS (replicated by NATS's Raft when logReplicas > 1); "quorum" = write-once slots on three
   * independent NATS servers (`journalUrls`), committed on two, so losing one costs milliseconds.
   */
  readonly logMode: "jetstream" | "quorum";
  readonly journalUrls: readonly string[];
  /** Leader lease timing (defaults: limits.shardLease*); every replica of a shard must agree. */
  readonly lease: { readonly renewMs: number; readonly expiryMs: number; readonly selfFenceMarginMs: number };
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

/** A sortable incarnation: start time then pid, fixed width, so a later start sorts after (holder.ts). */
function incarnationOf(startMs: number, pid: number): string {
  return `${startMs.toString(36).padStart(10, "0")}.${pid.toString().padStart(7, "0")}`;
}

/** A quorum journal is three servers: two acknowledgements commit, one may be lost. */
const quorumJournalServers = 3;

function logModeFromEnv(env: NodeJS.ProcessEnv): ShardConfig["logMode"] {
  const mode = env.ANTLER_LOG_MODE ?? "jetstream";
  if (mode !== "jetstream" && mode !== "quorum") throw new ShardConfigError(`ANTLER_LOG_MODE must be jetstream or quorum, got ${JSON.stringify(mode)}`);
  return mode;
}

export function shardConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ShardConfig {
  const config = {
    natsUrl: env.ANTLER_NATS_URL ?? "nats://127.0.0.1:4222",
    shardId: intFromEnv(env, "ANTLER_SHARD_ID"),
    shardCount: intFromEnv(env, "ANTLER_SHARD_COUNT", 1),
    replicaId: intFromEnv(env, "ANTLER_REPLICA_ID", 0),
    logReplicas: intFromEnv(env, "ANTLER_LOG_REPLICAS", 1),
    logMode: logModeFromEnv(env),
    journalUrls: (env.ANTLER_NATS_JOURNAL_URLS ?? "").split(",").map((url) => url.trim()).filter((url) => url !== ""),
    snapshots: {
      entries: intFromEnv(env, "ANTLER_SNAPSHOT_ENTRIES", limits.shardSnapshotEntries),
      intervalMinMs: intFromEnv(env, "ANTLER_SNAPSHOT_INTERVAL_MIN_MS", limits.shardSnapshotIntervalMinMs),
      intervalMaxMs: intFromEnv(env, "ANTLER_SNAPSHOT_INTERVAL_MAX_MS", limits.shardSnapshotIntervalMaxMs),
    },
    lease: {
      renewMs: intFromEnv(env, "ANTLER_SHARD_LEASE_RENEW_MS", limits.shardLeaseRenewMs),
      expiryMs: intFromEnv(env, "ANTLER_SHARD_LEASE_EXPIRY_MS", limits.shardLeaseExpiryMs),
      selfFenceMarginMs: intFromEnv(env, "ANTLER_SHARD_LEASE_MARGIN_MS", limits.shardLeaseSelfFenceMarginMs),
    },
  };
  if (config.shardId >= config.shardCount) throw new ShardConfigError(`ANTLER_SHARD_ID ${config.shardId} must be below ANTLER_SHARD_COUNT ${config.shardCount}`);
  if (config.logReplicas < 1) throw new ShardConfigError("ANTLER_LOG_REPLICAS must be at least 1");
  if (config.logMode === "quorum" && config.journalUrls.length !== quorumJournalServers) {
    throw new ShardConfigError(`ANTLER_LOG_MODE=quorum needs exactly ${quorumJournalServers} URLs in ANTLER_NATS_JOURNAL_URLS, got ${config.journalUrls.length}`);
  }
  const { renewMs, expiryMs, selfFenceMarginMs } = config.lease;
  // The leader must renew several times within its own lease, which must end before a standby claims.
  if (selfFenceMarginMs < 1 || selfFenceMarginMs >= expiryMs || renewMs < 1 || renewMs * 2 > expiryMs - selfFenceMarginMs) {
    throw new ShardConfigError(`lease timing renew ${renewMs} ms, expiry ${expiryMs} ms, margin ${selfFenceMarginMs} ms: need 1 <= margin < expiry and 2 * renew <= expiry - margin`);
  }
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
  /** Ends the process at once: nothing more is answered (used for every loss of leadership). */
  const die = (message: string, fields: Record<string, unknown> = {}): never => {
    logger.error(message, fields);
    process.exit(1);
  };
  try {
    const config = shardConfigFromEnv();
    logger = logger.child({ shard: config.shardId, replica: config.replicaId });
    const telemetry = startTelemetryFromEnv("antler-shard");
    const nc = await connectNats(config.natsUrl, `antler-shard-${config.shardId}-${config.replicaId}`, { logger });
    // Quorum mode: one connection per journal server, each with only its own URL, so a client
    // never fails over to another replica's server (ADR 0007).
    const journal = config.logMode === "quorum"
      ? await Promise.all(config.journalUrls.map((url, i) => connectNats(url, `antler-shard-${config.shardId}-${config.replicaId}-journal-${i}`, { logger })))
      : [];
    const quorumLog = config.logMode === "quorum" ? await openQuorumLogStream(journal, config.shardId, { logger }) : null;
    const log = quorumLog ?? await ensureShardLog(nc, config.shardId, { replicas: config.logReplicas });
    const bucket = await openBucket(nc);
    const metaId = await ensureClusterMetaId(bucket);
    const createdSeconds = await ensureClusterCreatedSeconds(bucket);
    const placement = await createPlacement();
    const map = await loadShardMap(bucket, placement, config.shardCount);
    if (config.shardId >= map.shardCount) throw new ShardConfigError(`shard ${config.shardId} is not in the shard map (${map.shardCount} shards)`);
    const slots = slotsOwnedBy(map, config.shardId);
    // Decisions of cross-shard transactions: replicated like the lease bucket, one revision per
    // key, read at the stream leader (as the coordinator reads it: a follower may lag a decision).
    const txDecisions = await openBucket(nc, txnBucket, { replicas: config.logReplicas, history: 1, directGets: false });
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
    const sm = restored.sm;
    logger.info("restored", { snapshotSeq, skipped: restored.skipped, tailRecords: restored.tailRecords, tailEntries: restored.tailEntries, lastSeq: restored.lastSeq, ms: Math.round(restoreMs) });

    // Standby: apply every record the leader appends, as it appears.
    let appliedSeq = restored.lastSeq;
    let follower: LogFollower | null = null;
    const follow = async (): Promise<void> => {
      const onRecord = (record: LogRecord): void => {
        applyLogRecord(sm, record.seq, record.data);
        replica?.record(record.seq, record.data);
        appliedSeq = record.seq;
      };
      const started = quorumLog !== null
        ? followQuorumLog(quorumLog, appliedSeq + 1, onRecord, { logger })
        : await followLog(nc, log.name, appliedSeq + 1, onRecord);
      follower = started;
      void started.done.catch((err: unknown) => die("following the log failed", { err }));
    };
    await follow();

    const holder = leaseHolderId(leaseReplicaName(config.shardId, config.replicaId), incarnationOf(Date.now(), process.pid));
    const election = new Election({
      holder,
      leaseMs: config.lease.expiryMs - config.lease.selfFenceMarginMs,
      takeoverMs: config.lease.expiryMs,
      renewIntervalMs: config.lease.renewMs,
      inheritsFrom: (other) => isEarlierIncarnation(holder, other),
    });
    const quorumLease = quorumLog !== null ? await openQuorumLeaseStore(journal, config.shardId, { logger }) : null;
    // Routers and `antler status` watch leases in the KV bucket: mirror the quorum lease there.
    const mirror = quorumLease !== null
      ? await openLeaseMirror(nc, config.shardId, { replicas: config.logReplicas, onError: (err) => logger.debug("lease mirror write failed", { err }) })
      : null;
    const leaseStore: LeaseStore | null = quorumLease === null || mirror === null ? null : {
      read: () => quorumLease.read(),
      watch: (onChange) => quorumLease.watch(onChange),
      compareAndSet: async (record, expectedRevision) => {
        const revision = await quorumLease.compareAndSet(record, expectedRevision);
        if (revision !== null) mirror.publish(record);
        return revision;
      },
    };
    const lease = leaseStore ?? await openKvLeaseStore(nc, config.shardId, {
        replicas: config.logReplicas,
        onError: (err) => logger.warn("lease store", { err }),
      });

    /**
     * The replica's mode: a standby follows the log; promoting = won the lease, catching up;
     * leader = serving; demoting = lost the lease, finishing what the server accepted before
     * following the log again. One leadership at a time; `transition` orders them.
     */
    type Mode = "standby" | "promoting" | "leader" | "demoting";
    let mode = "standby" as Mode;
    /** The epoch this replica leads or last led (for logs; the election forgets it on step-down). */
    let leadingEpoch = 0;
    let transition: Promise<void> = Promise.resolve();
    let stopping = false;
    let printedReady = false;
    let snapshotter: Snapshotter | null = null;
    /** The serving side while leading (or demoting). */
    let session: {
      readonly server: ShardServer;
      readonly appends: {
        /** The last append attempt failed and none succeeded since: the state may be ahead of the log. */
        lastFailed: boolean;
        /** Set once demoted: any further append is refused (and fatal). */
        closed: boolean;
      };
    } | null = null;
    const printRole = (fields: Record<string, unknown>): void => {
      if (printedReady) process.stdout.write(`ROLE ${JSON.stringify(fields)}\n`);
    };
    const guard: LeaseGuard = {
      allowed: () => mode === "leader" && runner.isLeader(),
      onDenied: () => demote("lease ran out while serving (stalled, paused or cut off from the lease store)"),
    };

    /** Won the lease: catch up with the log to its end, then serve. */
    const promote = async (epoch: number): Promise<void> => {
      const wonAt = performance.now();
      mode = "promoting";
      leadingEpoch = epoch;
      await follower?.stop();
      follower = null;
      // Records the follower had not delivered yet: read to the log's end now.
      const tail = await replayLog(log, sm, appliedSeq + 1, (seq, data) => {
        replica?.record(seq, data);
        appliedSeq = seq;
      });
      if (mode !== "promoting" || !runner.isLeader() || stopping) {
        // The lease went while catching up (or we are stopping): nothing was served, so the state
        // is the log's; keep following it.
        logger.warn("lease lost while catching up with the log", { epoch });
        mode = "standby";
        if (!stopping) await follow();
        return;
      }
      const lastSeq = appliedSeq;
      // One snapshotter for the process's life: its replica is fed by the follower while this is a
      // standby, so a later leadership continues with it (closing it would close the replica).
      snapshotter ??= replica === null || store === null ? null : new Snapshotter({ shardId: config.shardId, log, store, replica, logger, policy: config.snapshots, baseSeq: snapshotSeq, lastSeq });
      const appends = { lastFailed: false, closed: false };
      const server = startShardServer({
        nc: leaseGuardedConnection(nc, guard),
        shardId: config.shardId,
        log: watchedLog(log, {
          open: () => !appends.closed,
          onSuccess: () => void (appends.lastFailed = false),
          onFailure: (err) => {
            appends.lastFailed = true;
            // A fenced append (another leader wrote) or one after demotion: our state has entries
            // the log will never have. Nothing more may be answered; a restart replays the log.
            if (err instanceof FencedError) die(appends.closed ? "append attempted after stepping down" : "log append fenced: another leader wrote; exiting", { err, epoch });
          },
        }),
        sm,
        logger,
        lastSeq,
        writerId: holder,
        slots,
        replicaName: leaseReplicaName(config.shardId, config.replicaId),
        txDecisions,
        ...(snapshotter !== null ? { onCommitted: (seq: number, record: Uint8Array, entries: number) => snapshotter?.committed(seq, record, entries) } : {}),
      });
      session = { server, appends };
      mode = "leader";
      await nc.flush();
      const takeoverMs = Math.round(performance.now() - wonAt);
      logger.info("serving as leader", { epoch, lastSeq, caughtUpRecords: tail.records, takeoverMs });
      printRole({ role: "leader", epoch, lastSeq, caughtUpRecords: tail.records, takeoverMs });
      void server.done.then(async (reason) => {
        if (reason.kind === "stopped") return;
        // The log failed under the server (fenced, or unreachable past its retries): exit without
        // draining; replies for entries that are not durable must never go out, and the
        // supervisor restarts us into a fresh replay.
        await telemetry.flush().catch(() => {});
        die(reason.fenced ? "log append fenced: another leader wrote; exiting" : "log append failed; exiting", { err: reason.err });
      });
    };

    /**
     * Lost the lease while leading: stop taking requests at once, let what the server accepted
     * finish (its replies are dropped by the guard; appends land or are fenced), hand the lease
     * over, and follow the log again. The process survives a spurious loss (a stall) without a
     * restart; if an append failed, the state is ahead of the log and the process exits instead.
     */
    const demote = (reason: string): void => {
      if (mode === "promoting") {
        mode = "standby"; // promote() sees it after the catch-up and goes back to following
        return;
      }
      if (mode !== "leader") return;
      mode = "demoting";
      logger.warn("stepping down", { reason, epoch: leadingEpoch });
      runner.resign(reason);
      const ending = session!;
      transition = transition.then(async () => {
        await ending.server.stop();
        if (ending.appends.lastFailed) die("an append failed while stepping down: the state is ahead of the log; exiting");
        ending.appends.closed = true;
        appliedSeq = ending.server.lastSeq();
        session = null;
        mode = "standby";
        printRole({ role: "standby", epoch: leadingEpoch, lastSeq: appliedSeq, reason });
        if (!stopping) await follow();
      });
      transition.catch((err: unknown) => die("stepping down failed", { err }));
    };

    const runner = new ElectionRunner({
      store: lease,
      election,
      logger,
      tickMs: limits.shardLeaseTickMs,
      onBecomeLeader: (epoch) => {
        if (stopping) return;
        transition = transition.then(() => promote(epoch));
        transition.catch((err: unknown) => die("taking over as leader failed", { err, epoch }));
      },
      onStepDown: (reason) => {
        // Released on shutdown: the server was already stopped.
        if (!stopping) demote(reason);
      },
    });
    runner.start();
    await runner.settled();
    await transition;

    const stopOnSignal = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      logger.info("stopping", { signal, mode });
      await transition;
      // A leader finishes what it accepted (its lease still renewed), then hands the lease over.
      const ending = session;
      await ending?.server.stop();
      await runner.release().catch((err: unknown) => logger.warn("lease release failed", { err }));
      if (ending !== null) ending.appends.closed = true;
      await follower?.stop();
      await snapshotter?.close();
      if (quorumLog !== null) {
        quorumLog.close();
        quorumLease?.close();
        await Promise.all(journal.map((connection) => connection.drain()));
      }
      await nc.drain();
      await telemetry.shutdown();
      process.exit(0);
    };
    process.on("SIGTERM", () => void stopOnSignal("SIGTERM"));
    process.on("SIGINT", () => void stopOnSignal("SIGINT"));
    void nc.closed().then((err) => {
      if (stopping) return;
      die("nats connection closed", { err });
    });

    const role = mode === "leader" ? "leader" : "standby";
    process.stdout.write(
      `READY ${JSON.stringify({ service: "shard", pid: process.pid, shardId: config.shardId, replicaId: config.replicaId, role, epoch: election.epoch, holder, metaId: metaId.toString(), slots: slots.length, mapVersion: map.version, lastSeq: appliedSeq, snapshotSeq, snapshotsSkipped: restored.skipped.length, snapshotLoadMs: Math.round(restored.snapshotLoadMs), tailRecords: restored.tailRecords, entriesReplayed: restored.tailEntries, replayMs: Math.round(restored.tailMs), restoreMs: Math.round(restoreMs), snapshots: replica !== null })}\n`,
    );
    printedReady = true;
    logger.info("up", { role, epoch: election.epoch });
    // Runs until a signal (exit 0) or a failure (exit 1) ends the process.
    return await new Promise<never>(() => {});
  } catch (err) {
    logger.error("shard failed", { err });
    process.exit(1);
  }
}
