/**
 * The benchmark's own limits and timings, each with what it protects. They belong to an operator
 * tool, not to the metadata protocol, so they live here and not in @antler/base.
 */

/** Largest master→client frame payload the load generator buffers (a READDIR of a huge dir). */
export const replyBytesMax = 64 * 1024 * 1024;
/** A request without a reply after this long counts as an error and its slot moves on. */
export const requestTimeoutMs = 10_000;
/** TCP connect + REGISTER must finish within this long. */
export const registerTimeoutMs = 5_000;
/** The load generator sends a NOP when it has been silent this long (mfsmaster drops after 10 s). */
export const keepaliveIdleMs = 2_000;
/** Progress lines go to stderr about this often while a phase runs. */
export const progressIntervalMs = 1_000;

/** One phase stops after this long even if not all its operations ran (reported as truncated). */
export const phaseSecondsDefault = 300;
export const phaseSecondsMax = 3_600;
/** Bounds on user-settable sizes, to catch typos like --sessions 10000. */
export const sessionsMax = 256;
export const inflightPerSessionMax = 1_024;
export const opsMax = 10_000_000;
export const roundsMax = 50;
/**
 * `--profile all` must finish within 15 minutes on a loaded 2-core machine: three clusters to start
 * (twice each with --breakdown), 2 × 2 rounds of 8 phases per profile, the HA profiles doing a few
 * thousand operations per second. 3000 operations per phase keep a round at about 10–20 s.
 */
export const opsAllProfilesDefault = 3_000;
/** The sharded profile: 4 shards × 3 replicas (ARCHITECTURE's smallest sharded layout). */
export const shardedShardsDefault = 4;
export const shardsMax = 64;
/**
 * Operations per phase of the traced round: every request is traced, so a few hundred give
 * stable medians and a usable p99 without the span files growing large (~1 KB per operation).
 */
export const breakdownOpsDefault = 300;
/** Files (and directories) per bucket directory, as mdtest's items per directory. */
export const entriesPerDirDefault = 100;
export const entriesPerDirMax = 100_000;

/** A server (mfsmaster, Antler, mfsmount) that does not serve within this long fails the run. */
export const serverReadyTimeoutMs = 120_000;
/**
 * `antler up` of a whole cluster: the launcher starts its processes one after the other, each
 * waiting for the previous to be ready; the sharded profile has 12 shard replicas, which took
 * more than 2 minutes on the shared 2-core machine. The launcher bounds each process's readiness
 * itself; this only catches a launcher that hangs.
 */
export const antlerStartTimeoutMs = 600_000;
/** Readiness probes repeat this often. */
export const pollIntervalMs = 50;
/** Graceful stop: SIGTERM (or `antler down`), then SIGKILL after this long. */
export const stopGraceMs = 20_000;
/** The load-generator child gets this long beyond its phase budget before it is killed. */
export const childSlackMs = 60_000;
/** Bytes of a child's stdout kept (its JSON result); more is a protocol error. */
export const childStdoutBytesMax = 64 * 1024 * 1024;

/**
 * The shard-scaling benchmark (`npm run bench:shards`). 4000 files per phase keep one turn of one
 * cluster at about 10–20 s on the loaded 2-core machine (a few thousand creates per second); 512
 * directories give each shard of a 4-shard cluster about 128 of them, so the spread of files over
 * the shards and the share of cross-shard mkdirs come close to their expectation, and the mkdir
 * phase (slower: most of its operations are coordinated transactions) still lasts long enough to
 * be timed.
 */
export const shardScalingFilesDefault = 4_000;
export const shardScalingDirsDefault = 512;
/** The clusters of one run are up at the same time (each in its own namespace): bound their number. */
export const shardScalingClustersMax = 6;
/** A shard's stats request (ShardStats) must be answered within this long, else the count is unknown. */
export const shardStatsTimeoutMs = 3_000;
