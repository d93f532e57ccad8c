/**
 * The cluster's configuration: what `antler up` decides once and stores in DIR/cluster.json so that
 * every later `up` on the same DIR resumes the same cluster (same namespace and address, same
 * ports, same shard count, same NATS store), plus everything derived from it: the file layout
 * under DIR, the environment each service gets, the mount command. No I/O here except the hash.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { UsageError, type RunSettings, type UpCommand } from "./args.ts";

export const defaultClientPort = 9421;
export const defaultCsPort = 9420;
export const defaultChunkservers = 2;
export const defaultShards = 1;
/** Inside our own namespace nothing else listens, so NATS and Redis keep their usual ports. */
export const netnsNatsPort = 4222;
export const netnsRedisPort = 6379;
/** Chunkserver i listens on chunkserverPortBase + i (MooseFS's usual 9422 for the first). */
export const chunkserverPortBase = 9422;
/** Namespace addresses are 10.213.N.1/32 on the namespace's lo; N is unique per namespace. */
export const netnsAddressPrefix = "10.213.";
export const clusterFileFormat = 1;

export type NetworkConfig =
  | { mode: "netns"; netns: string; address: string }
  | { mode: "host"; address: string };

/** DIR/cluster.json. */
export interface ClusterConfig {
  format: typeof clusterFileFormat;
  dataDir: string;
  network: NetworkConfig;
  /** NATS and Redis listen on 127.0.0.1 at these ports (inside the namespace, if any). */
  natsPort: number;
  redisPort: number;
  clientPort: number;
  csPort: number;
  chunkservers: number;
  shards: number;
}

/** Where everything lives under DIR. */
export interface Layout {
  dataDir: string;
  clusterFile: string;
  stateFile: string;
  lockFile: string;
  logsDir: string;
  supervisorLog: string;
  natsDir: string;
  natsConfig: string;
  redisDir: string;
  redisConfig: string;
  exportsFile: string;
}

export function layoutOf(dataDir: string): Layout {
  return {
    dataDir,
    clusterFile: join(dataDir, "cluster.json"),
    stateFile: join(dataDir, "state.json"),
    lockFile: join(dataDir, "supervisor.lock"),
    logsDir: join(dataDir, "logs"),
    supervisorLog: join(dataDir, "logs", "supervisor.log"),
    natsDir: join(dataDir, "nats"),
    natsConfig: join(dataDir, "nats", "nats-server.conf"),
    redisDir: join(dataDir, "redis"),
    redisConfig: join(dataDir, "redis", "redis.conf"),
    exportsFile: join(dataDir, "mfsexports.cfg"),
  };
}

export function logFileOf(layout: Layout, processName: string): string {
  return join(layout.logsDir, `${processName}.log`);
}

export function chunkserverDirOf(layout: Layout, index: number): string {
  return join(layout.dataDir, `cs${index}`);
}

/** Each service gets a private working directory (ANTLER_DATA_DIR). */
export function serviceDirOf(layout: Layout, processName: string): string {
  return join(layout.dataDir, "services", processName);
}

/** A stable default namespace name per data directory, short enough for /run/netns. */
export function netnsNameFor(dataDir: string): string {
  return `antler-${createHash("sha256").update(dataDir).digest("hex").slice(0, 8)}`;
}

/** The lowest N in 1..254 that no existing namespace uses for 10.213.N.x. */
export function pickNetnsOctet(used: ReadonlySet<number>): number {
  for (let octet = 1; octet <= 254; octet++) {
    if (!used.has(octet)) return octet;
  }
  throw new UsageError("every 10.213.N.1 address (N = 1..254) is used by some namespace");
}

export interface ResolveInput {
  up: UpCommand;
  /** cluster.json of an earlier run on the same DIR, if any. */
  stored: ClusterConfig | undefined;
  /** Third octets of 10.213.x addresses in use by existing namespaces. */
  usedOctets: ReadonlySet<number>;
  /** Two free 127.0.0.1 ports for NATS and Redis, used when a new cluster runs with --host. */
  freshHostPorts: { nats: number; redis: number };
}

/**
 * Merges the command line with the stored configuration. Options given now win over stored ones,
 * except those that would turn DIR into a different cluster (namespace, shard count): those
 * must match, or the user gets a one-line UsageError saying why.
 */
export function resolveClusterConfig(input: ResolveInput): ClusterConfig {
  const { up, stored } = input;
  if (stored !== undefined && up.shards !== undefined && up.shards !== stored.shards) {
    throw new UsageError(
      `${up.dataDir} holds a cluster with --shards ${stored.shards}; changing it is not supported`,
    );
  }
  const network = resolveNetwork(input);
  const config: ClusterConfig = {
    format: clusterFileFormat,
    dataDir: up.dataDir,
    network,
    natsPort: netnsNatsPort,
    redisPort: netnsRedisPort,
    clientPort: up.clientPort ?? stored?.clientPort ?? defaultClientPort,
    csPort: up.csPort ?? stored?.csPort ?? defaultCsPort,
    chunkservers: up.chunkservers ?? stored?.chunkservers ?? defaultChunkservers,
    shards: stored?.shards ?? up.shards ?? defaultShards,
  };
  if (network.mode === "host") {
    const reuse = stored?.network.mode === "host";
    const ports = reuse && stored !== undefined
      ? { nats: stored.natsPort, redis: stored.redisPort }
      : input.freshHostPorts;
    config.natsPort = ports.nats;
    config.redisPort = ports.redis;
  }
  if (config.clientPort === config.csPort) {
    throw new UsageError(
      `client port and chunkserver port must differ (both ${config.clientPort})`,
    );
  }
  const lastChunkserverPort = chunkserverPortBase + config.chunkservers - 1;
  for (const port of [config.clientPort, config.csPort]) {
    if (config.chunkservers > 0 && port >= chunkserverPortBase && port <= lastChunkserverPort) {
      throw new UsageError(
        `port ${port} collides with the chunkservers' ports ` +
          `${chunkserverPortBase}-${lastChunkserverPort}`,
      );
    }
  }
  const runsChunkservers = config.chunkservers > 0 && !up.onlyInfra;
  if (network.mode === "host" && network.address.startsWith("127.") && runsChunkservers) {
    throw new UsageError(
      "mfschunkserver refuses a master on 127.x: use --chunkservers 0 with --host 127.x, " +
        "or leave out --host to run in a namespace",
    );
  }
  return config;
}

function resolveNetwork(input: ResolveInput): NetworkConfig {
  const { up, stored } = input;
  if (up.host !== undefined) {
    if (stored?.network.mode === "netns") {
      throw new UsageError(
        `${up.dataDir} was created in namespace ${stored.network.netns}; ` +
          "leave out --host to resume it, or use a new --data directory",
      );
    }
    return { mode: "host", address: up.host };
  }
  if (stored !== undefined) {
    const storedNetns = stored.network.mode === "netns" ? stored.network.netns : undefined;
    if (up.netns !== undefined && storedNetns !== undefined && up.netns !== storedNetns) {
      throw new UsageError(
        `${up.dataDir} was created in namespace ${storedNetns}, not ${up.netns}`,
      );
    }
    if (up.netns !== undefined && stored.network.mode === "host") {
      throw new UsageError(`${up.dataDir} was created with --host; --netns cannot be added later`);
    }
    return stored.network;
  }
  return {
    mode: "netns",
    netns: up.netns ?? netnsNameFor(up.dataDir),
    address: `${netnsAddressPrefix}${pickNetnsOctet(input.usedOctets)}.1`,
  };
}

/** Throws a UsageError naming the first problem when `value` is not a ClusterConfig. */
export function parseClusterConfig(value: unknown, source: string): ClusterConfig {
  const bad = (why: string): never => {
    throw new UsageError(`${source} is not a valid cluster file: ${why}`);
  };
  if (typeof value !== "object" || value === null) return bad("not an object");
  const record = value as Record<string, unknown>;
  if (record["format"] !== clusterFileFormat) return bad(`format is not ${clusterFileFormat}`);
  for (const key of ["natsPort", "redisPort", "clientPort", "csPort", "chunkservers", "shards"]) {
    const field = record[key];
    if (typeof field !== "number" || !Number.isInteger(field) || field < 0 || field > 65_535) {
      bad(`${key} is not a valid number`);
    }
  }
  if (typeof record["dataDir"] !== "string") bad("dataDir is missing");
  const network = record["network"] as Record<string, unknown> | undefined;
  if (typeof network !== "object" || network === null) return bad("network is missing");
  if (typeof network["address"] !== "string") bad("network.address is missing");
  if (network["mode"] === "netns") {
    if (typeof network["netns"] !== "string") bad("network.netns is missing");
  } else if (network["mode"] !== "host") {
    bad("network.mode is neither netns nor host");
  }
  return value as ClusterConfig;
}

/** The services the cluster runs, in start order. */
export type ServiceName = "router" | "shard" | "gateway";

export interface ServicePlan {
  /** Process name: log file, state entry (`router`, `shard-0`, `gateway`). */
  name: string;
  service: ServiceName;
  shardId?: number;
}

/**
 * Start order, and why: the router first (shards and the gateway look shards up through it), then
 * every shard (the gateway's first request needs a shard to answer), the gateway last (it is what
 * clients and chunkservers connect to, so it must not accept them before the rest can serve).
 */
export function servicePlan(config: ClusterConfig): ServicePlan[] {
  const plan: ServicePlan[] = [{ name: "router", service: "router" }];
  for (let shardId = 0; shardId < config.shards; shardId++) {
    plan.push({ name: `shard-${shardId}`, service: "shard", shardId });
  }
  plan.push({ name: "gateway", service: "gateway" });
  return plan;
}

export function natsUrlOf(config: ClusterConfig): string {
  return `nats://127.0.0.1:${config.natsPort}`;
}

export function redisUrlOf(config: ClusterConfig): string {
  return `redis://127.0.0.1:${config.redisPort}`;
}

/**
 * The environment of a service process. This is the services' whole configuration interface;
 * deploy/local/README.md documents each variable.
 */
export function serviceEnvironment(
  config: ClusterConfig,
  settings: RunSettings,
  plan: ServicePlan,
  layout: Layout,
): Record<string, string> {
  const environment: Record<string, string> = {
    ANTLER_PROCESS_NAME: plan.name,
    ANTLER_NATS_URL: natsUrlOf(config),
    ANTLER_REDIS_URL: redisUrlOf(config),
    ANTLER_SHARD_COUNT: String(config.shards),
    ANTLER_CLIENT_HOST: config.network.address,
    ANTLER_CLIENT_PORT: String(config.clientPort),
    ANTLER_CS_PORT: String(config.csPort),
    ANTLER_EXPORTS_FILE: layout.exportsFile,
    ANTLER_DATA_DIR: serviceDirOf(layout, plan.name),
    ANTLER_OTEL_EXPORTER: settings.otelExporter,
    ANTLER_LOG_LEVEL: settings.logLevel,
  };
  if (plan.shardId !== undefined) environment["ANTLER_SHARD_ID"] = String(plan.shardId);
  return environment;
}

/** The default exports file: everyone may mount everything read-write, root stays root. */
export const defaultExportsText =
  "# MooseFS exports (mfsexports.cfg format), read by the gateway.\n* / rw,alldirs,maproot=0\n";

/** The exact command a user runs to mount the filesystem of this cluster. */
export function mountCommandOf(config: ClusterConfig, mountPoint = "/mnt/antler"): string {
  const mount = `mfsmount ${mountPoint} -H ${config.network.address} -P ${config.clientPort}`;
  return config.network.mode === "netns"
    ? `nsenter --net=/run/netns/${config.network.netns} ${mount}`
    : mount;
}
