/**
 * Router process: composition root. Order matters: telemetry first (so connection spans exist),
 * then NATS, the shard map (requests cannot be routed without it), then the subscription; READY
 * is printed only once requests are being taken. Shutdown runs in reverse.
 */
import { limits } from "@antler/base";
import { connectNats, openBucket, watchShardLeases } from "@antler/io-nats";
import { shardMapKey } from "@antler/ops";
import { decodeShardMap, LeaderLiveness } from "@antler/router-core";
import { createPlacement } from "@antler/slots";
import { createLogger, startTelemetryFromEnv } from "@antler/telemetry";
import { startRouter } from "./router.ts";
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
  const telemetry = startTelemetryFromEnv("antler-router");
  const nc = await connectNats(natsUrl, "antler-router", { logger });
  const bucket = await openBucket(nc);
  const map = await loadOrCreateShardMap(bucket, await createPlacement(), shardCount, logger);
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
  // The subscription is registered with the server once the flush round trip completes.
  await nc.flush();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping", { signal });
    mapWatch.stop();
    leaseWatch.stop();
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
