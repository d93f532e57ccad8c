/**
 * The launcher's limits and timings, each with what it protects. They are local to the launcher
 * (an operator tool, not part of the metadata protocol), so they live here, not in @antler/base.
 */

/** A child that does not report ready within this long fails the start (nats, redis, services). */
export const readyTimeoutMs = 30_000;
/** Chunkservers only need to open their listening socket; they connect to the master later. */
export const chunkserverReadyTimeoutMs = 15_000;
/** Readiness probes and "is it gone yet" checks are repeated this often. */
export const pollIntervalMs = 50;
/** One probe connection (TCP connect, NATS or Redis exchange) gives up after this long. */
export const probeTimeoutMs = 1_000;

/** First restart delay after an unexpected exit; doubles on each quick failure... */
export const restartBackoffMinMs = 100;
/** ...up to this. */
export const restartBackoffMaxMs = 2_000;
/** A child that ran at least this long counts as healthy: its backoff starts again at the min. */
export const restartStableUptimeMs = 10_000;
/** More restarts of one child than this within restartWindowMs means it cannot run: stop all. */
export const restartsPerWindowMax = 10;
export const restartWindowMs = 60_000;

/** Graceful stop: SIGTERM, then SIGKILL after this long. Chunkservers flush chunk headers. */
export const stopGraceMs = 10_000;
/** `antler down` waits this long for the supervisor's orderly shutdown before killing by PID. */
export const supervisorStopTimeoutMs = 60_000;
/**
 * `antler up --detach` waits this long, plus detachStartPerServiceMs per service process, for the
 * cluster to serve before it reports failure. Services start one after another, so a cluster of
 * 4 shards × 3 replicas on a loaded machine needs far more than a minimal one.
 */
export const detachStartTimeoutMs = 120_000;
export const detachStartPerServiceMs = 15_000;

/** HA: how long creating the replicated cluster bucket is retried while the NATS cluster forms. */
export const provisionTimeoutMs = 30_000;
/** With standbys, how often the supervisor reads the shards' leases to show the leaders. */
export const leaderPollMs = 500;
/** One lease read gives up after this long (a NATS node may just have died). */
export const leaderReadTimeoutMs = 1_000;

/** Lines of a child's log quoted when it fails to start. */
export const failureLogLinesMax = 15;
/** Bytes read from the end of a log file to find those lines (bounds memory on huge logs). */
export const failureLogBytesMax = 16_384;
/** Bytes of a child's log scanned per readiness poll for its READY line. */
export const readyScanBytesMax = 65_536;

/** Bounds on the user-settable sizes, to catch typos like --chunkservers 1000. */
export const chunkserversMax = 32;
export const shardsMax = 64;
/** A leader and standbys; more than a handful only adds log readers. */
export const shardReplicasMax = 7;

/**
 * `status` and `fsck` connect to the running cluster's NATS; they give up after this long (a
 * cluster that is starting or stopping, or a namespace this user cannot enter).
 */
export const clusterConnectWindowMs = 3_000;
/** `status`: one shard's live figures (shardStatsSubject); a shard that does not answer shows "-". */
export const shardStatsTimeoutMs = 1_000;
/** `fsck`: one fsckdump page, assembled from its parts... */
export const fsckPageTimeoutMs = 10_000;
/** ...tried this often (a shard leader may be failing over: about 1 s without one)... */
export const fsckPageAttempts = 5;
/** ...with this pause between attempts. */
export const fsckRetryPauseMs = 1_000;
/**
 * `fsck` reads the namespace again after this long when the first pass found problems or
 * prepared transactions, and reports only what both passes saw: a problem seen once was an
 * operation in flight, a transaction prepared in both reads outlived limits.txResolveAfterMs.
 */
export const fsckRecheckDelayMs = 3_000;
/** Problems printed one per line; the rest are counted (all are in --json). */
export const fsckProblemsShownMax = 50;
/** A progress line on stderr every this many pages of one shard. */
export const fsckProgressEveryPages = 10;
