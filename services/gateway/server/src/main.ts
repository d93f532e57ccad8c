/**
 * The gateway process: MooseFS clients (port 9421) and chunkservers (port 9420) on one side; the
 * metadata tier over NATS, the session store and the chunkserver registry in Redis on the other. This file is the composition root: it builds every
 * adapter and starts the parts in an order whose reasons are written next to each step, and stops
 * them in reverse on SIGTERM/SIGINT. Run by the launcher as `node services/gateway/server/src/main.ts`;
 * prints one `READY {json}` line on stdout once it accepts clients.
 */
import { randomBytes } from "node:crypto";
import { createChunkserverConnection, createClientConnection, ExportsParseError, parseExports } from "@antler/gateway-core";
import { connectNats, ensureClusterMetaId, openBucket } from "@antler/io-nats";
import { connectRedis, createChunkserverRegistry, createSessionStore, startGatewayHeartbeat } from "@antler/io-redis";
import { createLogger, startTelemetry } from "@antler/telemetry";
import { serveChunkOps } from "./chunk-op-service.ts";
import { ChunkReports } from "./chunk-reports.ts";
import { listenForChunkservers } from "./chunkserver-listener.ts";
import { startChunkserverLocator } from "./chunkserver-locator.ts";
import { listenForClients } from "./client-listener.ts";
import { startClusterSpaceCache } from "./cluster-space.ts";
import { ConfigError, gatewayEnv, readGatewayConfig } from "./config.ts";
import { readExportsText } from "./exports-file.ts";
import { createMetaCaller } from "./meta-caller.ts";
import { createNatsMetaTransport } from "./nats-meta-transport.ts";
import { parseSessionRecord } from "./session-record.ts";

async function main(): Promise<void> {
  // Configuration first: a bad value must stop the process before anything is opened.
  let config;
  try {
    config = readGatewayConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    exitForConfig(err.message);
  }

  // Telemetry before any connection, so every later span and log line has somewhere to go.
  const telemetry = startTelemetry({ serviceName: "antler-gateway", exporter: config.otelExporter });
  const log = createLogger("gateway", { level: config.logLevel }).child({ gateway: config.gatewayId });

  // Exports before connections: wrong rules fail the start without touching Redis or NATS.
  const exportsSource = await readExportsText(config.exportsFile);
  let exports;
  try {
    exports = parseExports(exportsSource.text);
  } catch (err) {
    if (!(err instanceof ExportsParseError)) throw err;
    exitForConfig(`${gatewayEnv.exportsFile} ${exportsSource.source}: ${err.message}`);
  }
  log.info("exports loaded", { source: exportsSource.source, rules: exports.length });

  // Redis before NATS: sessions are needed by the first REGISTER; if Redis is unreachable the
  // gateway must not report READY.
  const redis = await connectRedis(config.redisUrl, { connectionName: `antler-gateway-${config.gatewayId}` });
  const sessions = createSessionStore(redis, { parse: parseSessionRecord });

  const nats = await connectNats(config.natsUrl, `antler-gateway-${config.gatewayId}`, { logger: log });

  // The metadata id comes from the cluster (NATS KV) and goes into every REGISTER reply; no client
  // may be accepted before it is known, or mounts would see two different filesystems.
  const metaId = await ensureClusterMetaId(await openBucket(nats));
  log.info("cluster metadata id", { metaId });

  // Request ids must never repeat across connections and restarts (shards recognise retries by
  // them): every link gets a random boot id plus a counter as the prefix of its ids. The boot id
  // also names this process's subject for replies that arrive in parts.
  const bootId = randomBytes(8).toString("hex");
  const caller = createMetaCaller({ transport: createNatsMetaTransport(nats, `antler.gw.${bootId}.parts`), log });
  let linkCounter = 0;

  // Chunkservers before clients: STATFS and (later) chunk placement read what they registered.
  // They share the client address (MooseFS has one master address for both ports).
  const chunkservers = createChunkserverRegistry(redis);
  const clusterSpace = startClusterSpaceCache(chunkservers, log);
  await clusterSpace.refresh();
  // Where clients reach chunkservers (READ_CHUNK/WRITE_CHUNK replies) and replication sources are.
  const locator = startChunkserverLocator(chunkservers, log);
  await locator.refresh();
  // Chunk reports are system requests; their ids share the boot id but never a client link's form.
  let reportCounter = 0;
  const reportLog = log.child({ link: "chunk-reports" });
  const chunkserverListener = await listenForChunkservers({
    host: config.clientHost,
    port: config.chunkserverPort,
    createConnection: (peerIp) => createChunkserverConnection({ peerIp, metaId }),
    context: {
      gatewayId: config.gatewayId,
      registry: chunkservers,
      log: log.child({ link: "chunkserver" }),
      nowMs: Date.now,
      createReports: () => new ChunkReports({ caller, log: reportLog, requestIds: () => `${bootId}.r${(++reportCounter).toString(36)}` }),
    },
  });
  // Shard leaders' chunk operations for the chunkservers linked here.
  const chunkOps = serveChunkOps({
    nats,
    gatewayId: config.gatewayId,
    linkOf: (csid) => chunkserverListener.linkOf(csid),
    addressOf: (csid) => locator.resolve(csid),
    log: log.child({ link: "chunk-ops" }),
  });

  const listener = await listenForClients({
    host: config.clientHost,
    port: config.clientPort,
    createConnection: (peerIp, requestIdPrefix) =>
      createClientConnection({ peerIp, metaId, exports, requestIdPrefix, chunkserverSpace: clusterSpace.current, chunkserverLocator: locator.locate }),
    context: {
      gatewayId: config.gatewayId,
      caller,
      sessions,
      log,
      nowMs: Date.now,
      inFlight: { count: 0 },
      linkIds: () => `${bootId}.${(++linkCounter).toString(36)}`,
    },
  });

  // Liveness after listening: the key announces a gateway that can take clients.
  const clientAddress = `${listener.host}:${listener.port}`;
  const heartbeat = await startGatewayHeartbeat(
    redis,
    { gatewayId: config.gatewayId, clientAddress, pid: process.pid, startedMs: Date.now() },
    {
      onError: (err) => log.warn("gateway liveness key cannot be refreshed (Redis down?)", { err }),
      onRecovered: () => log.info("gateway liveness key refreshed again"),
    },
  );

  process.stdout.write(
    `READY ${JSON.stringify({
      service: "gateway",
      gatewayId: config.gatewayId,
      clientHost: listener.host,
      clientPort: listener.port,
      chunkserverPort: chunkserverListener.port,
      pid: process.pid,
    })}\n`,
  );
  log.info("gateway ready", { clientAddress, chunkserverAddress: `${chunkserverListener.host}:${chunkserverListener.port}` });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    // Reverse order. Clients first: stop accepting and reading, let the calls in flight answer
    // (bounded), then end the connections; mounts reconnect elsewhere and re-send the rest.
    await listener.close();
    // Chunkservers next: no new chunk operations; each link answers what is out (CSNOTPRESENT) and
    // writes its last registry record (disconnected) before Redis closes.
    chunkOps.stop();
    await chunkserverListener.close();
    clusterSpace.stop();
    locator.stop();
    // Retries still pending (their sockets are gone) give up now instead of for 30 s.
    caller.abort();
    await heartbeat.stop().catch((err: unknown) => log.warn("heartbeat stop failed", { err }));
    // Drain lets in-flight NATS requests finish before the connection closes.
    await nats.drain().catch((err: unknown) => log.warn("nats drain failed", { err }));
    await redis.quit().catch(() => redis.disconnect());
    await telemetry.shutdown();
    log.info("stopped");
  };
  const stopAndExit = (signal: string): void => {
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error("unclean stop", { err });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stopAndExit("SIGTERM"));
  process.once("SIGINT", () => stopAndExit("SIGINT"));
}

/** A configuration the operator must fix (retrying cannot help): one line, exit status 2. */
function exitForConfig(message: string): never {
  process.stderr.write(`gateway: ${message}\n`);
  process.exit(2);
}

main().catch((err: unknown) => {
  // Startup failed (Redis or NATS unreachable, unreadable exports): one line, non-zero exit, and
  // the supervisor decides whether to retry.
  const message = err instanceof Error ? `${err.name}: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ""}` : String(err);
  process.stderr.write(`gateway: startup failed: ${message}\n`);
  process.exit(1);
});
