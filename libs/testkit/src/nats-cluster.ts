/**
 * A real 3-node (or N-node) JetStream cluster on loopback, for tests of replicated streams, leases
 * and failover: each node can be killed, paused and restarted on its own.
 *
 *   const cluster = await startNatsCluster({ dir });        // resolves once JetStream answers on all
 *   const nc = await connectNats(cluster.url, "test");      // all URLs, comma-separated
 *   cluster.nodes[1].signal("SIGKILL"); await cluster.nodes[1].restart();
 *   after(() => cluster.stop());
 *
 * Node i is server `<prefix>-i` with its own store under `dir/<name>/`; client and route ports are
 * free ports picked at start and kept across restarts. Everything is killed by PID (only while
 * the PID is still the process started here) at stop() and when the test process exits.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetStreamApi } from "./nats-request.ts";
import { freePort, natsServerBinary, ServerStartError, startTicksOf } from "./processes.ts";

export interface NatsClusterOptions {
  /** Parent directory of the nodes' directories. Created if missing. */
  dir: string;
  /** Default 3. */
  nodes?: number;
  /** `sync_interval: always` (fsync before every acknowledgement), as `antler up` runs it. */
  syncAlways?: boolean;
  readyTimeoutMs?: number;
}

export interface NatsClusterNode {
  /** The JetStream server name (what stream info names as leader). */
  readonly name: string;
  readonly port: number;
  readonly routePort: number;
  readonly url: string;
  readonly logFile: string;
  /** PID of the current process, or undefined while it is down. */
  pid(): number | undefined;
  /** Sends a signal to the current process (SIGKILL, SIGSTOP, SIGCONT, ...); a no-op when down. */
  signal(signal: NodeJS.Signals): void;
  /** Starts the node again (after a kill) and resolves once JetStream answers on it. */
  restart(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's URL, comma-separated (the form connectNats takes). */
  readonly url: string;
  readonly urls: readonly string[];
  /** Kills every node (SIGKILL: the stores are scratch) and waits until they are gone. */
  stop(): Promise<void>;
}

const defaultReadyTimeoutMs = 30_000;
const pollMs = 50;


const liveProcesses = new Set<{ pid: number; ticks: number | undefined }>();
let exitHookInstalled = false;

function killIfOurs(entry: { pid: number; ticks: number | undefined }, signal: NodeJS.Signals): void {
  if (entry.ticks === undefined || startTicksOf(entry.pid) !== entry.ticks) return;
  try {
    process.kill(entry.pid, signal);
  } catch {
    // Gone meanwhile.
  }
}

function track(entry: { pid: number; ticks: number | undefined }): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const each of liveProcesses) killIfOurs(each, "SIGKILL");
    });
  }
  liveProcesses.add(entry);
}

async function answersJetStream(url: string): Promise<boolean> {
  try {
    await jetStreamApi([url], "INFO", {}, 1_000);
    return true;
  } catch {
    return false;
  }
}

export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsClusterHandle> {
  const binary = natsServerBinary();
  if (binary === undefined) throw new ServerStartError("nats-server not found (run `npm run setup` or set ANTLER_NATS_SERVER)");
  const count = options.nodes ?? 3;
  const readyTimeoutMs = options.readyTimeoutMs ?? defaultReadyTimeoutMs;
  const prefix = `testkit-cluster-${process.pid}-${Date.now().toString(36)}`;
  const ports = new Set<number>();
  while (ports.size < 2 * count) ports.add(await freePort());
  const [clientPorts, routePorts] = [[...ports].slice(0, count), [...ports].slice(count)];

  const nodes = clientPorts.map((port, index) => {
    const name = `${prefix}-${index}`;
    const dir = join(options.dir, name);
    mkdirSync(dir, { recursive: true });
    const routePort = routePorts[index]!;
    const configFile = join(dir, "nats-server.conf");
    const logFile = join(dir, "nats-server.log");
    writeFileSync(configFile, [
      `server_name: ${JSON.stringify(name)}`,
      `listen: "127.0.0.1:${port}"`,
      "jetstream {",
      `  store_dir: ${JSON.stringify(dir)}`,
      ...(options.syncAlways === true ? ["  sync_interval: always"] : []),
      "}",
      "cluster {",
      `  name: ${JSON.stringify(prefix)}`,
      `  listen: "127.0.0.1:${routePort}"`,
      `  routes: [${routePorts.filter((other) => other !== routePort).map((other) => `"nats-route://127.0.0.1:${other}"`).join(", ")}]`,
      "}",
      "",
    ].join("\n"));
    let current: { pid: number; ticks: number | undefined } | undefined;
    const spawnNode = (): void => {
      const logFd = openSync(logFile, "a");
      try {
        const child = spawn(binary, ["-c", configFile], { cwd: dir, stdio: ["ignore", logFd, logFd] });
        child.unref();
        if (child.pid === undefined) throw new ServerStartError(`could not start ${name}`);
        current = { pid: child.pid, ticks: startTicksOf(child.pid) };
        track(current);
      } finally {
        closeSync(logFd);
      }
    };
    const url = `nats://127.0.0.1:${port}`;
    const alive = (): boolean => current !== undefined && current.ticks !== undefined && startTicksOf(current.pid) === current.ticks;
    const node: NatsClusterNode & { spawnNode(): void; alive(): boolean } = {
      name, port, routePort, url, logFile,
      pid: () => (alive() ? current?.pid : undefined),
      signal: (signal) => {
        if (current !== undefined) killIfOurs(current, signal);
      },
      restart: async () => {
        if (alive()) throw new ServerStartError(`${name} is still running (pid ${current?.pid})`);
        spawnNode();
        await waitReady([url], readyTimeoutMs, () => excerpt(logFile));
      },
      spawnNode,
      alive,
    };
    return node;
  });

  const stop = async (): Promise<void> => {
    for (const node of nodes) node.signal("SIGKILL");
    while (nodes.some((node) => node.alive())) await new Promise((resolve) => setTimeout(resolve, pollMs));
  };
  for (const node of nodes) node.spawnNode();
  try {
    await waitReady(nodes.map((node) => node.url), readyTimeoutMs, () => nodes.map((node) => `${node.name}:\n${excerpt(node.logFile)}`).join("\n"));
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = nodes.map((node) => node.url);
  return { nodes, urls, url: urls.join(","), stop };
}

/** Until JetStream answers on every URL (a cluster needs its metadata leader for that). */
async function waitReady(urls: readonly string[], timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(urls.map(answersJetStream));
    if (answers.every((answered) => answered)) return;
    if (Date.now() > deadline) throw new ServerStartError(`JetStream cluster not ready after ${timeoutMs} ms:\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function excerpt(logFile: string): string {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-10).join("\n");
  } catch {
    return "";
  }
}
