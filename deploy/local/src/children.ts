/**
 * The cluster's processes as supervisor ChildSpecs, in start order, and the files they need.
 *
 * Order, and why:
 *   1. nats-server: every service keeps its state in JetStream and talks over NATS.
 *   2. redis-server: the gateway restores client sessions from it as soon as clients reconnect.
 *   3. router, shards, gateway (see config.ts servicePlan for their order).
 *   4. chunkservers: they connect to the gateway's chunkserver port, which must be served.
 * Readiness: nats answers a JetStream API request, redis answers PING, a service prints
 * `READY <json>` on stdout (the gateway also counts as ready once its client port accepts TCP),
 * a chunkserver accepts TCP on its own port.
 */
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { RunSettings } from "./args.ts";
import {
  chunkserverArgs, chunkserverBinary, chunkserverConfigText, chunkserverFilesOf,
  chunkserverPortOf, hddConfigText,
} from "./chunkserver.ts";
import {
  chunkserverDirOf, defaultExportsText, journalNodesOf, logFileOf, natsNodesOf, natsUrlOf, redisUrlOf,
  serviceDirOf, serviceEnvironment, servicePlan, topologyOf, type ClusterConfig, type Layout,
  type NatsNode,
} from "./config.ts";
import { chunkserverReadyTimeoutMs, readyTimeoutMs } from "./limits.ts";
import {
  natsClusterName, natsConfigText, natsServerDefaultPath, probeJetStream, probeNatsInfo,
} from "./nats.ts";
import { provisionReplicatedStores } from "./provision.ts";
import { scanForReady, tcpAccepts } from "./processes.ts";
import { pingRedis, redisConfigText } from "./redis.ts";
import type { ChildRun, ChildSpec } from "./supervisor.ts";

/** The repository root (deploy/local/src → ../../..). */
export const repoRoot = join(import.meta.dirname, "..", "..", "..");

/** Executables the cluster needs; each may be overridden by an environment variable. */
export interface Executables {
  node: string;
  natsServer: string;
  redisServer: string;
  chunkserver: string;
  /** Directory holding <service>/server/src/main.ts (ANTLER_SERVICES_DIR, default services/). */
  servicesDir: string;
}

/** Finds `name` on PATH (or checks it when it is a path); undefined when it is not executable. */
export function findExecutable(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (process.env["PATH"] ?? "").split(delimiter)
      .filter((dir) => dir !== "")
      .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next PATH entry.
    }
  }
  return undefined;
}

export function executablesFromEnvironment(environment: NodeJS.ProcessEnv): Executables {
  const nats = environment["ANTLER_NATS_SERVER"] ??
    (existsSync(natsServerDefaultPath) ? natsServerDefaultPath : "nats-server");
  return {
    node: process.execPath,
    natsServer: nats,
    redisServer: environment["ANTLER_REDIS_SERVER"] ?? "redis-server",
    chunkserver: environment["ANTLER_CHUNKSERVER"] ?? chunkserverBinary,
    servicesDir: environment["ANTLER_SERVICES_DIR"] ?? join(repoRoot, "services"),
  };
}

/** Names missing executables, one line each; empty when everything the run needs is there. */
export function missingExecutables(
  executables: Executables,
  config: ClusterConfig,
  settings: RunSettings,
): string[] {
  const needed: Array<[string, string]> = [
    [executables.natsServer, "nats-server (run `npm run setup`, or set ANTLER_NATS_SERVER)"],
    [executables.redisServer, "redis-server (run `npm run setup`, or set ANTLER_REDIS_SERVER)"],
  ];
  if (!settings.onlyInfra && config.chunkservers > 0) {
    needed.push([executables.chunkserver, "mfschunkserver (run `npm run setup`)"]);
  }
  return needed.filter(([name]) => findExecutable(name) === undefined).map(([, what]) => what);
}

export function serviceMainOf(executables: Executables, service: string): string {
  return join(executables.servicesDir, service, "server", "src", "main.ts");
}

/** Creates the directories and (re)writes the generated configuration files under DIR. */
export function prepareFiles(config: ClusterConfig, settings: RunSettings, layout: Layout): void {
  for (const dir of [layout.logsDir, layout.natsDir, layout.redisDir]) {
    mkdirSync(dir, { recursive: true });
  }
  const nodes = natsNodesOf(config, layout);
  for (const node of nodes) {
    mkdirSync(node.dir, { recursive: true });
    writeFileSync(node.configFile, natsConfigText(natsConfigInputOf(node, nodes)));
  }
  for (const node of journalNodesOf(config, layout)) {
    mkdirSync(node.dir, { recursive: true });
    writeFileSync(node.configFile, natsConfigText({ port: node.clientPort, storeDir: node.storeDir, serverName: node.serverName }));
  }
  writeFileSync(
    layout.redisConfig,
    redisConfigText({ port: config.redisPort, dir: layout.redisDir }),
  );
  if (settings.onlyInfra) return;
  // The exports file is the operator's to edit: written once, never overwritten.
  if (!existsSync(layout.exportsFile)) writeFileSync(layout.exportsFile, defaultExportsText);
  for (const plan of servicePlan(config)) {
    mkdirSync(serviceDirOf(layout, plan.name), { recursive: true });
  }
  for (let index = 0; index < config.chunkservers; index++) {
    const files = chunkserverFilesOf(chunkserverDirOf(layout, index));
    mkdirSync(files.hddDir, { recursive: true });
    writeFileSync(files.configFile, chunkserverConfigText(config, index, files));
    writeFileSync(files.hddConfigFile, hddConfigText(files));
  }
}

function natsConfigInputOf(node: NatsNode, nodes: readonly NatsNode[]): Parameters<typeof natsConfigText>[0] {
  const input: Parameters<typeof natsConfigText>[0] = {
    port: node.clientPort, storeDir: node.storeDir, serverName: node.serverName,
  };
  if (node.routePort !== undefined) {
    input.cluster = {
      name: natsClusterName, port: node.routePort,
      routePorts: nodes.map((each) => each.routePort ?? 0),
    };
  }
  return input;
}

/**
 * The NATS nodes as children. One server is ready when JetStream answers it. A cluster cannot
 * answer JetStream requests before a majority of its nodes runs (its metadata group needs a
 * leader), so every node but the last is ready once it listens, and the last once JetStream
 * answers on every node; then the cluster's shared bucket is created with a replica per node.
 */
function natsChildren(config: ClusterConfig, layout: Layout, executables: Executables): ChildSpec[] {
  const nodes = natsNodesOf(config, layout);
  const storeReplicas = topologyOf(config).storeReplicas;
  return nodes.map((node, index): ChildSpec => {
    const last = index === nodes.length - 1;
    const spec: ChildSpec = {
      name: node.name, role: "nats", command: executables.natsServer,
      args: ["-c", node.configFile], env: {}, cwd: node.dir, logFile: logFileOf(layout, node.name),
      addresses: [`nats://127.0.0.1:${node.clientPort}`], readyTimeoutMs,
      probe: async () => {
        if (nodes.length === 1) return probeJetStream("127.0.0.1", node.clientPort);
        if (!last) return probeNatsInfo("127.0.0.1", node.clientPort);
        const answers = await Promise.all(
          nodes.map((each) => probeJetStream("127.0.0.1", each.clientPort)),
        );
        return answers.every((answered) => answered);
      },
    };
    if (node.routePort !== undefined) spec.addresses.push(`route 127.0.0.1:${node.routePort}`);
    if (last && storeReplicas > 1) {
      spec.afterReady = () => provisionReplicatedStores(natsUrlOf(config), storeReplicas);
    }
    return spec;
  });
}

export function clusterChildren(
  config: ClusterConfig,
  settings: RunSettings,
  layout: Layout,
  executables: Executables,
): ChildSpec[] {
  const address = config.network.address;
  const topology = topologyOf(config);
  const children: ChildSpec[] = [
    ...natsChildren(config, layout, executables),
    ...journalNodesOf(config, layout).map((node): ChildSpec => ({
      name: node.name, role: "nats", command: executables.natsServer,
      args: ["-c", node.configFile], env: {}, cwd: node.dir, logFile: logFileOf(layout, node.name),
      addresses: [`nats://127.0.0.1:${node.clientPort} (journal)`], readyTimeoutMs,
      probe: () => probeJetStream("127.0.0.1", node.clientPort),
    })),
    {
      name: "redis", role: "redis", command: executables.redisServer, args: [layout.redisConfig],
      env: {}, cwd: layout.redisDir, logFile: logFileOf(layout, "redis"),
      addresses: [redisUrlOf(config)], readyTimeoutMs,
      probe: () => pingRedis("127.0.0.1", config.redisPort),
    },
  ];
  if (settings.onlyInfra) return children;

  for (const plan of servicePlan(config)) {
    const main = serviceMainOf(executables, plan.service);
    // With several gateways on one port, the port answering says nothing about this one.
    const isGateway = plan.service === "gateway";
    const portMeansReady = isGateway && topology.gateways === 1;
    const spec: ChildSpec = {
      name: plan.name, role: plan.service, command: executables.node, args: [main],
      env: serviceEnvironment(config, settings, plan, layout), cwd: serviceDirOf(layout, plan.name),
      logFile: logFileOf(layout, plan.name),
      addresses: isGateway
        ? [`client ${address}:${config.clientPort}`, `chunkservers ${address}:${config.csPort}`]
        : [],
      readyTimeoutMs,
      probe: async (run: ChildRun) => {
        const scan = scanForReady(logFileOf(layout, plan.name), run.scanOffset);
        run.scanOffset = scan.offset;
        if ("ready" in scan) {
          run.ready = scan.ready;
          return true;
        }
        return portMeansReady && (await tcpAccepts(address, config.clientPort));
      },
      precondition: () => (existsSync(main) ? undefined : `${main} does not exist`),
    };
    if (plan.shardId !== undefined) {
      spec.shardId = plan.shardId;
      spec.replicaId = plan.replicaId ?? 0;
      spec.shardReplicas = topology.shardReplicas;
    }
    children.push(spec);
  }

  for (let index = 0; index < config.chunkservers; index++) {
    const files = chunkserverFilesOf(chunkserverDirOf(layout, index));
    const port = chunkserverPortOf(index);
    children.push({
      name: `cs${index}`, role: "chunkserver", command: executables.chunkserver,
      args: chunkserverArgs(files), env: {}, cwd: files.dir,
      logFile: logFileOf(layout, `cs${index}`),
      addresses: [`${address}:${port}`], readyTimeoutMs: chunkserverReadyTimeoutMs,
      probe: () => tcpAccepts(address, port),
    });
  }
  return children;
}
