/**
 * The cluster's configuration: what `antler up` decides once and stores in DIR/cluster.json so that
 * every later `up` on the same DIR resumes the same cluster (same namespace and address, same
 * ports, same shard count, same NATS store), plus everything derived from it: the file layout
 * under DIR, the environment each service gets, the mount command. No I/O here except the hash.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { UsageError, profiles, type Profile, type RunSettings, type UpCommand } from "./args.ts";

export const defaultClientPort = 9421;
export const defaultCsPort = 9420;
export const defaultChunkservers = 2;
export const defaultShards = 1;
/** Inside our own namespace nothing else listens, so NATS and Redis keep their usual ports. */
export const netnsNatsPort = 4222;
export const netnsRedisPort = 6379;
/** HA profile in a namespace: NATS node i serves clients on 4222+i and its cluster routes on 6222+i. */
export const netnsNatsRoutePortBase = 6222;
/** HA profile in a namespace: quorum-journal server i (ADR 0007) serves on 4232+i. */
export const netnsJournalPortBase = 4232;
/** Chunkserver i listens on chunkserverPortBase + i (MooseFS's usual 9422 for the first). */
export const chunkserverPortBase = 9422;
/** Namespace addresses are 10.213.N.1/32 on the namespace's lo; N is unique per namespace. */
export const netnsAddressPrefix = "10.213.";
export const clusterFileFormat = 1;

/**
 * How many processes of each kind a profile runs. `storeReplicas` is the replica count of every
 * JetStream stream and bucket (shard logs, snapshots, the cluster bucket): with 3 NATS servers
 * any one of them can die without losing an acknowledged write.
 */
export interface Topology {
  natsNodes: number;
  /**
   * Independent nats-servers (no cluster) holding the shards' logs and leases as a quorum journal
   * (ADR 0007): losing one costs milliseconds instead of a Raft election. 0 = the log and lease
   * live in the main NATS's JetStream.
   */
  journalNodes: number;
  storeReplicas: number;
  shardReplicas: number;
  gateways: number;
  routers: number;
}

export const profileTopologies: Readonly<Record<Profile, Topology>> = {
  minimal: { natsNodes: 1, journalNodes: 0, storeReplicas: 1, shardReplicas: 1, gateways: 1, routers: 1 },
  ha: { natsNodes: 3, journalNodes: 3, storeReplicas: 3, shardReplicas: 3, gateways: 2, routers: 2 },
};

/** HA only: each NATS node's client port and cluster-route port (natsPort is clientPorts[0]). */
export interface NatsClusterPorts {
  clientPorts: number[];
  routePorts: number[];
}

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
  /** Absent in cluster files written before profiles existed: minimal. */
  profile?: Profile;
  /** Absent: the profile's count. */
  shardReplicas?: number;
  /** Present exactly when the profile runs several NATS nodes. */
  natsCluster?: NatsClusterPorts;
  /** Client ports of the quorum-journal servers; absent when the profile runs none. */
  journalPorts?: number[];
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
  /**
   * Free 127.0.0.1 ports for NATS and Redis, used when a new cluster runs with --host; with
   * several NATS nodes also `natsCluster` (one client and one route port per node).
   */
  freshHostPorts: { nats: number; redis: number; natsCluster?: NatsClusterPorts; journalPorts?: number[] };
}

export function profileOf(config: ClusterConfig): Profile {
  return config.profile ?? "minimal";
}

export function topologyOf(config: ClusterConfig): Topology {
  const topology = { ...profileTopologies[profileOf(config)] };
  if (config.shardReplicas !== undefined) topology.shardReplicas = config.shardReplicas;
  return topology;
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
  const profile = stored === undefined ? (up.profile ?? "minimal") : (stored.profile ?? "minimal");
  if (stored !== undefined && up.profile !== undefined && up.profile !== profile) {
    // The NATS store of one server cannot become that of a 3-node cluster (or back).
    throw new UsageError(
      `${up.dataDir} holds a cluster with --profile ${profile}; changing it is not supported`,
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
    profile,
  };
  const shardReplicas = up.shardReplicas ?? stored?.shardReplicas;
  if (shardReplicas !== undefined) config.shardReplicas = shardReplicas;
  const natsNodes = profileTopologies[profile].natsNodes;
  if (natsNodes > 1) {
    config.natsCluster = {
      clientPorts: Array.from({ length: natsNodes }, (_, index) => netnsNatsPort + index),
      routePorts: Array.from({ length: natsNodes }, (_, index) => netnsNatsRoutePortBase + index),
    };
  }
  const journalNodes = profileTopologies[profile].journalNodes;
  if (journalNodes > 0) {
    // Journal servers have no routes between them: their ports may change from run to run.
    config.journalPorts = network.mode === "host"
      ? (stored?.network.mode === "host" ? stored.journalPorts : undefined) ?? input.freshHostPorts.journalPorts
      : Array.from({ length: journalNodes }, (_, index) => netnsJournalPortBase + index);
    if (config.journalPorts === undefined || config.journalPorts.length !== journalNodes) {
      throw new UsageError(`--profile ${profile} needs ${journalNodes} journal ports`);
    }
  }
  if (network.mode === "host") {
    const reuse = stored?.network.mode === "host";
    const ports = reuse && stored !== undefined
      ? { nats: stored.natsPort, redis: stored.redisPort, natsCluster: stored.natsCluster }
      : input.freshHostPorts;
    config.natsPort = ports.nats;
    config.redisPort = ports.redis;
    if (natsNodes > 1) {
      const cluster = ports.natsCluster;
      if (cluster === undefined || cluster.clientPorts.length !== natsNodes ||
        cluster.routePorts.length !== natsNodes) {
        throw new UsageError(`--profile ${profile} with --host needs ${natsNodes} NATS port pairs`);
      }
      config.natsCluster = cluster;
      config.natsPort = cluster.clientPorts[0] ?? config.natsPort;
    }
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
  if (record["profile"] !== undefined && !profiles.includes(record["profile"] as Profile)) {
    bad("profile is unknown");
  }
  const replicas = record["shardReplicas"];
  if (replicas !== undefined && (typeof replicas !== "number" || !Number.isInteger(replicas) ||
    replicas < 1)) {
    bad("shardReplicas is not a valid number");
  }
  const natsNodes = profileTopologies[(record["profile"] as Profile | undefined) ?? "minimal"]
    .natsNodes;
  if (natsNodes > 1) {
    const cluster = record["natsCluster"] as Record<string, unknown> | undefined;
    const validPorts = (ports: unknown): boolean => Array.isArray(ports) &&
      ports.length === natsNodes &&
      ports.every((port) => Number.isInteger(port) && port > 0 && port <= 65_535);
    if (typeof cluster !== "object" || cluster === null ||
      !validPorts(cluster["clientPorts"]) || !validPorts(cluster["routePorts"])) {
      bad(`natsCluster must hold ${natsNodes} client and route ports`);
    }
  }
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
  /**
   * Process name: log file, state entry. A kind with one process keeps the plain name (`router`,
   * `shard-0`, `gateway`); several get an index (`router-1`, `shard-0-r2`, `gateway-1`).
   */
  name: string;
  service: ServiceName;
  shardId?: number;
  /** Shards: which of the shard's replicas (0..shardReplicas-1) this process is. */
  replicaId?: number;
  /** Routers and gateways: which of their kind (0..count-1). */
  index?: number;
}

/**
 * Start order, and why: the routers first (shards and the gateways look shards up through them),
 * then every shard replica (the gateways' first request needs a shard to answer), the gateways
 * last (they are what clients and chunkservers connect to, so they must not accept them before
 * the rest can serve).
 */
export function servicePlan(config: ClusterConfig): ServicePlan[] {
  const topology = topologyOf(config);
  const plan: ServicePlan[] = [];
  for (let index = 0; index < topology.routers; index++) {
    plan.push({ name: topology.routers > 1 ? `router-${index}` : "router", service: "router", index });
  }
  for (let shardId = 0; shardId < config.shards; shardId++) {
    for (let replicaId = 0; replicaId < topology.shardReplicas; replicaId++) {
      const name = topology.shardReplicas > 1 ? `shard-${shardId}-r${replicaId}` : `shard-${shardId}`;
      plan.push({ name, service: "shard", shardId, replicaId });
    }
  }
  for (let index = 0; index < topology.gateways; index++) {
    const name = topology.gateways > 1 ? `gateway-${index}` : "gateway";
    plan.push({ name, service: "gateway", index });
  }
  return plan;
}

/** One nats-server of the cluster: its name (process and JetStream server name), ports, files. */
export interface NatsNode {
  name: string;
  serverName: string;
  clientPort: number;
  /** Cluster-route port; absent for the single server of the minimal profile. */
  routePort?: number;
  dir: string;
  /** JetStream's store_dir (the server adds a `jetstream` directory below it). */
  storeDir: string;
  configFile: string;
}

/**
 * The minimal profile's single server keeps the layout it always had (DIR/nats/, server name
 * "antler"); HA node i is `nats-i` with its own store under DIR/nats/nats-i/.
 */
export function natsNodesOf(config: ClusterConfig, layout: Layout): NatsNode[] {
  const cluster = config.natsCluster;
  if (cluster === undefined) {
    return [{
      name: "nats", serverName: "antler", clientPort: config.natsPort, dir: layout.natsDir,
      storeDir: layout.natsDir, configFile: layout.natsConfig,
    }];
  }
  return cluster.clientPorts.map((clientPort, index) => {
    const name = `nats-${index}`;
    const dir = join(layout.natsDir, name);
    return {
      name, serverName: name, clientPort, routePort: cluster.routePorts[index] ?? 0, dir,
      // nats-server keeps its streams in <store_dir>/jetstream: DIR/nats/nats-i/jetstream.
      storeDir: dir, configFile: join(dir, "nats-server.conf"),
    };
  });
}

/** The quorum-journal servers (ADR 0007): standalone, JetStream fsynced, store under DIR/nats/journal-i. */
export function journalNodesOf(config: ClusterConfig, layout: Layout): NatsNode[] {
  return (config.journalPorts ?? []).map((clientPort, index) => {
    const name = `journal-${index}`;
    const dir = join(layout.natsDir, name);
    return { name, serverName: `antler-${name}`, clientPort, dir, storeDir: dir, configFile: join(dir, "nats-server.conf") };
  });
}

/** The journal servers' URLs, comma-separated, in journal order (ANTLER_NATS_JOURNAL_URLS). */
export function journalUrlsOf(config: ClusterConfig): string {
  return (config.journalPorts ?? []).map((port) => `nats://127.0.0.1:${port}`).join(",");
}

/** Every NATS node's client URL, comma-separated (the form connectNats and nats.js take). */
export function natsUrlOf(config: ClusterConfig): string {
  const ports = config.natsCluster?.clientPorts ?? [config.natsPort];
  return ports.map((port) => `nats://127.0.0.1:${port}`).join(",");
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
  const topology = topologyOf(config);
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
  if (plan.service === "gateway" && config.natsCluster !== undefined) {
    // The gateway's config accepts one URL only (services/gateway/server/src/config.ts). The
    // client learns the other nodes from the server (INFO connect_urls) and fails over to them;
    // spreading the gateways over the nodes keeps one NATS death from cutting all of them.
    const urls = natsUrlOf(config).split(",");
    environment["ANTLER_NATS_URL"] = urls[(plan.index ?? 0) % urls.length] ?? urls[0] ?? "";
  }
  if (plan.service === "router") {
    // The coordinating router opens the lease bucket (coordinator lease) and the transaction
    // decision bucket; whoever creates a bucket first fixes its replica count for good.
    environment["ANTLER_LOG_REPLICAS"] = String(topology.storeReplicas);
  }
  if (plan.shardId !== undefined) {
    environment["ANTLER_SHARD_ID"] = String(plan.shardId);
    environment["ANTLER_REPLICA_ID"] = String(plan.replicaId ?? 0);
    environment["ANTLER_SHARD_REPLICAS"] = String(topology.shardReplicas);
    environment["ANTLER_LOG_REPLICAS"] = String(topology.storeReplicas);
    if (config.journalPorts !== undefined && config.journalPorts.length > 0) {
      environment["ANTLER_LOG_MODE"] = "quorum";
      environment["ANTLER_NATS_JOURNAL_URLS"] = journalUrlsOf(config);
    }
  }
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
