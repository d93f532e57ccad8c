/**
 * Router process: composition root. Order matters: telemetry first (so connection spans exist),
 * then NATS, the shard map (requests cannot be routed without it), then the subscription and the
 * coordinator service (it coordinates cross-shard operations while this router holds the
 * coordinator lease); READY is printed only once requests are being taken. Shutdown runs in
 * reverse.
 *
 * ANTLER_LOG_REPLICAS (default 1): replicas of the decision bucket and the lease bucket when this
 * router creates them (the shards create them with the same count; existing ones keep theirs).
 */
import { limits } from "@antler/base";
import { connectNats, openBucket, watchShardLeases } from "@antler/io-nats";
import { coordinatorLeaseKey, leaseBucket, shardMapKey, txnBucket } from "@antler/ops";
import { decodeShardMap, LeaderLiveness } from "@antler/router-core";
import { createPlacement } from "@antler/slots";
import { createLogger, startTelemetryFromEnv } from "@antler/telemetry";
import { startRouter } from "./router.ts";
import { createDecisionStore } from "./coordinator-decisions.ts";
import { bucketLeaseStore } from "./coordinator-lease.ts";
import { natsCoordinatorPorts } from "./coordinator-ports.ts";
import { startCoordinatorService } from "./coordinator-service.ts";
import { loadOrCreateShardMap } from "./shard-map-store.ts";

const logger = createLogger("router");

function requiredInt(name: string, fallback?: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is required`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  const natsUrl = process.env.ANTLER_NATS_URL ?? "nats://127.0.0.1:4222";
  const shardCount = requiredInt("ANTLER_SHARD_COUNT", 1);
  const storeReplicas = Math.max(1, requiredInt("ANTLER_LOG_REPLICAS", 1));
  const telemetry = startTelemetryFromEnv("antler-router");
  const nc = await connectNats(natsUrl, "antler-router", { logger });
  const bucket = await openBucket(nc);
  const placement = await createPlacement();
  const map = await loadOrCreateShardMap(bucket, placement, shardCount, logger);
  // Which shards' leaders may be changing (their leases stopped renewing): those are forwarded
  // checked, so a gateway hears "no responders" at once during a failover.
  const liveness = new LeaderLiveness({ suspectAfterMs: limits.routerLeaderSuspectMs, takeoverGraceMs: limits.routerTakeoverGraceMs });
  const leaseWatch = watchShardLeases(nc, (shardId, observation) => liveness.observe(shardId, observation, performance.now()), {
    onError: (err) => logger.debug("shard lease watch", { err }),
  });
  const router = startRouter({ nc, map, logger, liveness });
  // Later versions of the map (slot moves) take effect as soon as they are stored.
  const mapWatch = await bucket.watch(shardMapKey, (entry) => {
    try {
      router.updateMap(decodeShardMap(entry.value));
    } catch (err) {
      logger.error("ignoring an invalid shard map", { revision: entry.revision, err });
    }
  });
  // Decisions must be read where they were written (the stream leader), or an attempt already
  // decided could look undecided; the lease key is the shards' kind of record (history 1).
  const decisionBucket = await openBucket(nc, txnBucket, { replicas: storeReplicas, history: 1, directGets: false });
  const leases = await openBucket(nc, leaseBucket, { replicas: storeReplicas, history: 1, directGets: false });
  const decisions = createDecisionStore(decisionBucket, { onError: (err) => logger.debug("deleting a decision failed", { err }) });
  const coordinatorService = startCoordinatorService({
    nc,
    logger,
    holder: `router.${process.pid}.${Date.now().toString(36)}`,
    leaseStore: bucketLeaseStore(leases, coordinatorLeaseKey, (err) => logger.warn("coordinator lease value is not a lease record", { err })),
    ports: (event) =>
      natsCoordinatorPorts({
        nc,
        map: () => router.map(),
        refreshMap: async () => {
          const stored = await bucket.get(shardMapKey);
          if (stored !== null) router.updateMap(decodeShardMap(stored.value));
        },
        placement,
        decisions,
        logger,
        event,
      }),
  });
  // The subscription is registered with the server once the flush round trip completes.
  await nc.flush();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping", { signal });
    mapWatch.stop();
    leaseWatch.stop();
    await coordinatorService.stop();
    decisions.stop();
    await router.drain();
    await nc.drain();
    await telemetry.shutdown();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  void nc.closed().then((err) => {
    if (stopping) return;
    logger.error("nats connection closed", { err });
    process.exit(1);
  });

  logger.info("serving", { mapVersion: map.version, shardCount: map.shardCount });
  process.stdout.write(`READY ${JSON.stringify({ service: "router", pid: process.pid, mapVersion: map.version, shardCount: map.shardCount })}\n`);
}

main().catch((err: unknown) => {
  logger.error("router failed to start", { err });
  process.exit(1);
});
