/**
 * `antler up`: decides the cluster's configuration (cluster.json), prepares the namespace, and
 * starts the supervisor (supervise.ts) inside it: attached (this process waits for it and
 * forwards signals) or, with --detach, in its own session, returning once the cluster serves.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { supervisorCommandName, type UpCommand } from "./args.ts";
import { executablesFromEnvironment, findExecutable, missingExecutables } from "./children.ts";
import {
  layoutOf, profileTopologies, resolveClusterConfig, servicePlan, type ClusterConfig, type Layout,
  type NatsClusterPorts,
} from "./config.ts";
import { stopLeftovers, supervisorAlive } from "./down.ts";
import { detachStartPerServiceMs, detachStartTimeoutMs, pollIntervalMs } from "./limits.ts";
import { deleteNetns, ensureNetns, netnsEnterArgv, usedNetnsOctets } from "./netns.ts";
import { logTail, sleep } from "./processes.ts";
import { printSummary, readClusterConfig } from "./supervise.ts";
import { readState, writeState, type ClusterState } from "./state.ts";

/** A failure the user can act on; the CLI prints the message and exits 1. */
export class UpError extends Error {
  override name = "UpError";
}

const cliPath = join(import.meta.dirname, "cli.ts");

/** A port on 127.0.0.1 nobody listens on right now (the kernel's pick). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("no port assigned"));
      });
    });
  });
}

function loopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * Stops what an earlier supervisor left running (it was killed): a fresh start needs its ports.
 * Returns the earlier state, if any.
 */
async function clearEarlierRun(
  layout: Layout,
  out: (line: string) => void,
): Promise<ClusterState | undefined> {
  const earlier = readState(layout.stateFile);
  if (earlier === undefined) return undefined;
  if (supervisorAlive(earlier)) {
    throw new UpError(
      `a cluster is already running from ${layout.dataDir} ` +
        `(supervisor pid ${earlier.supervisor.pid}); ` +
        `see antler status --data ${layout.dataDir}`,
    );
  }
  const leftovers = await stopLeftovers(earlier);
  if (leftovers.length > 0) {
    out(`antler: stopped processes left by an earlier run: ${leftovers.join(", ")}`);
    const updatedAt = new Date().toISOString();
    writeState(layout.stateFile, { ...earlier, phase: "stopped", updatedAt });
  }
  return earlier;
}

/** `count` distinct free loopback ports (the kernel may hand out a just-closed one again). */
async function freeLoopbackPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < count * 20; attempt++) {
    ports.add(await freeLoopbackPort());
  }
  if (ports.size < count) throw new UpError(`could not find ${count} free ports on 127.0.0.1`);
  return [...ports];
}

async function freshHostPorts(natsNodes: number, journalNodes = 0): Promise<{
  nats: number; redis: number; natsCluster?: NatsClusterPorts; journalPorts?: number[];
}> {
  const extra = natsNodes > 1 ? 2 * natsNodes : 0;
  const [nats = 0, redis = 0, ...rest] = await freeLoopbackPorts(2 + extra + journalNodes);
  const journal = journalNodes > 0 ? { journalPorts: rest.slice(extra) } : {};
  if (natsNodes === 1) return { nats, redis, ...journal };
  const clientPorts = rest.slice(0, natsNodes);
  return { nats: clientPorts[0] ?? nats, redis, natsCluster: { clientPorts, routePorts: rest.slice(natsNodes, extra) }, ...journal };
}

async function resolveConfig(command: UpCommand, layout: Layout): Promise<ClusterConfig> {
  const stored = readClusterConfig(layout);
  const needsOctet = stored === undefined && command.host === undefined;
  const hostMode = command.host !== undefined || stored?.network.mode === "host";
  const profile = stored?.profile ?? command.profile ?? "minimal";
  const config = resolveClusterConfig({
    up: command,
    stored,
    usedOctets: needsOctet ? await usedNetnsOctets() : new Set(),
    freshHostPorts: hostMode
      ? await freshHostPorts(profileTopologies[profile].natsNodes, profileTopologies[profile].journalNodes)
      : { nats: 0, redis: 0 },
  });
  if (config.network.mode === "host") {
    // A stored port may have been taken since the last run; the services learn the new one.
    if (!(await loopbackPortFree(config.redisPort))) config.redisPort = await freeLoopbackPort();
    if (config.journalPorts !== undefined) {
      const taken = await Promise.all(config.journalPorts.map(async (port) => !(await loopbackPortFree(port))));
      // Journal servers have no routes: the shards learn new ports from their environment.
      if (taken.some((isTaken) => isTaken)) config.journalPorts = await freeLoopbackPorts(config.journalPorts.length);
    }
    const cluster = config.natsCluster;
    if (cluster === undefined) {
      if (!(await loopbackPortFree(config.natsPort))) config.natsPort = await freeLoopbackPort();
    } else {
      const stale = [...cluster.clientPorts, ...cluster.routePorts];
      const taken = await Promise.all(stale.map(async (port) => !(await loopbackPortFree(port))));
      if (taken.some((isTaken) => isTaken)) {
        // The nodes only find each other through these ports: pick them all again, together.
        const fresh = await freshHostPorts(cluster.clientPorts.length);
        if (fresh.natsCluster !== undefined) config.natsCluster = fresh.natsCluster;
        config.natsPort = fresh.nats;
      }
    }
  }
  return config;
}

export async function up(command: UpCommand, out: (line: string) => void): Promise<number> {
  const layout = layoutOf(command.dataDir);
  mkdirSync(layout.logsDir, { recursive: true });
  const earlier = await clearEarlierRun(layout, out);
  const config = await resolveConfig(command, layout);

  const missing = missingExecutables(executablesFromEnvironment(process.env), config, command);
  if (config.network.mode === "netns") {
    if (process.getuid?.() !== 0) {
      throw new UpError("creating a network namespace needs root (or use --host)");
    }
    for (const tool of ["ip", "nsenter"]) {
      if (findExecutable(tool) === undefined) {
        missing.push(`${tool} (apt-get install iproute2 util-linux)`);
      }
    }
  }
  if (missing.length > 0) throw new UpError(`missing programs: ${missing.join("; ")}`);

  writeFileSync(layout.clusterFile, `${JSON.stringify(config, null, 2)}\n`);
  let ownsNetns = false;
  if (config.network.mode === "netns") {
    const created = await ensureNetns(config.network.netns, config.network.address);
    // A namespace an earlier run created and could not remove (its supervisor was killed) is
    // still ours: the new supervisor removes it when it stops.
    const inherited = earlier?.netns?.owned === true && earlier.netns.name === config.network.netns;
    ownsNetns = created || inherited;
  }

  const argv = [
    ...(config.network.mode === "netns" ? netnsEnterArgv(config.network.netns) : []),
    process.execPath, cliPath, supervisorCommandName, "--data", layout.dataDir,
    "--log-level", command.logLevel, "--otel", command.otelExporter,
    ...(command.onlyInfra ? ["--only-infra"] : []),
    ...(ownsNetns ? ["--owns-netns"] : []),
    ...(command.detach ? [] : ["--attached"]),
  ];
  // If the supervisor failed before it could clean up (or never ran), the namespace this run
  // owns must not stay behind, unless a live supervisor of DIR is still using it.
  const removeNetnsIfUnused = async (): Promise<void> => {
    if (!ownsNetns || config.network.mode !== "netns") return;
    const state = readState(layout.stateFile);
    if (state !== undefined && supervisorAlive(state)) return;
    await deleteNetns(config.network.netns);
  };
  if (!command.detach) {
    const code = await runAttached(argv);
    await removeNetnsIfUnused();
    return code;
  }
  try {
    return await startDetached(argv, config, layout, command.onlyInfra, out);
  } catch (error) {
    await removeNetnsIfUnused();
    throw error;
  }
}

/** Runs the supervisor with this terminal; Ctrl-C reaches it directly (same process group). */
function runAttached(argv: string[]): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, { stdio: "inherit" });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  // SIGINT from the terminal already reached the supervisor; only keep this process alive.
  process.on("SIGINT", () => {});
  return new Promise((resolve, reject) => {
    child.once("error", (error) => {
      reject(new UpError(`could not start the supervisor: ${error.message}`));
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + 15)));
  });
}

async function startDetached(
  argv: string[],
  config: ClusterConfig,
  layout: Layout,
  onlyInfra: boolean,
  out: (line: string) => void,
): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]];
  const logFd = openSync(layout.supervisorLog, "a");
  // detached: the supervisor calls setsid(), so it outlives this command and its terminal.
  const child = spawn(file, args, { stdio: ["ignore", "ignore", logFd], detached: true });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.once("exit", (code) => { exited = code; });
  child.once("error", () => { exited = 1; });
  child.unref();
  const budgetMs = detachStartTimeoutMs + (onlyInfra ? 0 : servicePlan(config).length * detachStartPerServiceMs);
  const deadline = Date.now() + budgetMs;
  for (;;) {
    await sleep(pollIntervalMs);
    const state = readState(layout.stateFile);
    const ours = state !== undefined && state.supervisor.pid === child.pid;
    if (ours && state.phase === "serving") {
      printSummary(config, layout, onlyInfra);
      out(`  supervisor: pid ${child.pid}, log ${layout.supervisorLog}`);
      return 0;
    }
    if (ours && (state.phase === "failed" || state.phase === "stopped")) {
      await waitExit(() => exited !== undefined);
      throw new UpError(state.error ?? "the cluster stopped while starting");
    }
    if (exited !== undefined) {
      throw new UpError(
        `the supervisor exited while starting; last lines of ${layout.supervisorLog}:\n` +
          logTail(layout.supervisorLog),
      );
    }
    if (Date.now() > deadline) {
      // The supervisor stops what it started and removes its namespace itself.
      child.kill("SIGTERM");
      await waitExit(() => exited !== undefined);
      throw new UpError(`the cluster did not serve within ${budgetMs / 1000} s; ` +
        `stopped it (see ${layout.supervisorLog})`);
    }
  }
}

async function waitExit(done: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200 && !done(); attempt++) await sleep(pollIntervalMs);
}
