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
  chunkserverDirOf, defaultExportsText, logFileOf, natsUrlOf, redisUrlOf, serviceDirOf,
  serviceEnvironment, servicePlan, type ClusterConfig, type Layout,
} from "./config.ts";
import { chunkserverReadyTimeoutMs, readyTimeoutMs } from "./limits.ts";
import { natsConfigText, natsServerDefaultPath, probeJetStream } from "./nats.ts";
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
  writeFileSync(layout.natsConfig, natsConfigText({
    port: config.natsPort, storeDir: layout.natsDir, serverName: "antler",
  }));
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

export function clusterChildren(
  config: ClusterConfig,
  settings: RunSettings,
  layout: Layout,
  executables: Executables,
): ChildSpec[] {
  const address = config.network.address;
  const children: ChildSpec[] = [
    {
      name: "nats", role: "nats", command: executables.natsServer, args: ["-c", layout.natsConfig],
      env: {}, cwd: layout.natsDir, logFile: logFileOf(layout, "nats"),
      addresses: [natsUrlOf(config)], readyTimeoutMs,
      probe: () => probeJetStream("127.0.0.1", config.natsPort),
    },
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
    const isGateway = plan.service === "gateway";
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
        return isGateway && (await tcpAccepts(address, config.clientPort));
      },
      precondition: () => (existsSync(main) ? undefined : `${main} does not exist`),
    };
    if (plan.shardId !== undefined) spec.shardId = plan.shardId;
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
