/**
 * @antler/launcher: the local cluster launcher behind `antler up/status/fsck/down`. Other packages
 * (e2e tests, benchmarks) use these to start and stop clusters and to read their state without
 * parsing CLI output.
 */
export { parseArgs, UsageError, usageText } from "./args.ts";
export type { Command, LogLevel, OtelExporter, Profile, UpCommand } from "./args.ts";
export { LauncherError, startCluster, stopCluster } from "./control.ts";
export type { StartClusterOptions } from "./control.ts";
export { layoutOf, mountCommandOf, serviceEnvironment } from "./config.ts";
export type { ClusterConfig, Layout, NetworkConfig } from "./config.ts";
export { readState } from "./state.ts";
export type {
  ClusterPhase, ClusterState, ProcessRecord, ProcessRole, ProcessStatus,
} from "./state.ts";
export { statusView } from "./status.ts";
export type { StatusView } from "./status.ts";
export { checkCluster, fsckExit, FsckReadError } from "./fsck.ts";
export type { FsckReport } from "./fsck.ts";
export { checkNamespace } from "./fsck-check.ts";
export type { FsckFindings, NamespaceDump, ShardDump } from "./fsck-check.ts";
export type { ShardStatsRow } from "./shard-stats.ts";
