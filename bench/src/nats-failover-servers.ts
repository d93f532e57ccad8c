/**
 * nats-server processes for the NATS failover measurement (nats-failover.ts): a 3-node JetStream
 * cluster (for the R3 baseline) or independent single servers (for the quorum journal), each
 * node killable with SIGKILL and restartable on the same port and store. Loopback only; every
 * process is stopped by the PID we started (also at exit), never by name.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, natsServerBinary, startNatsServer, type NatsServerHandle } from "@antler/testkit";

export interface FailoverNode {
  readonly name: string;
  readonly url: string;
  /** PID of the running process, undefined while killed. */
  pid(): number | undefined;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts the node again with the same name, port and store. */
  restart(): Promise<void>;
  /** Graceful stop (idempotent). */
  stop(): Promise<void>;
}

/** PIDs we started that may still run, with their config file (proof that a PID is still ours). */
const started = new Map<number, string>();
let exitHookInstalled = false;

/** True while `pid` is the nats-server we started with `configFile` (guards against PID reuse). */
function isOurs(pid: number, configFile: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(configFile);
  } catch {
    return false;
  }
}

function track(pid: number, configFile: string): void {
  started.set(pid, configFile);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [p, config] of started) {
      if (!isOurs(p, config)) continue;
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  });
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8");
    const field = state.slice(state.lastIndexOf(")") + 2).split(" ")[0];
    return field !== "Z" && field !== "X";
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Signals a process we started; it may have exited meanwhile (then there is nothing to do). */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

async function waitGone(pid: number): Promise<void> {
  while (alive(pid)) await sleep(10);
  started.delete(pid);
}

/** Three (or `size`) nats-servers routed into one JetStream cluster; resolves once they accept clients. */
export async function startNatsCluster(dir: string, size = 3, syncAlways = true): Promise<FailoverNode[]> {
  const binary = natsServerBinary();
  if (binary === undefined) throw new Error("nats-server not found");
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const clusterName = `antler-failover-${process.pid}`;
  const nodes: FailoverNode[] = [];
  for (let i = 0; i < size; i++) {
    const nodeDir = join(dir, `n${i}`);
    mkdirSync(nodeDir, { recursive: true });
    const name = `n${i}-${process.pid}`;
    const config = [
      `server_name: ${JSON.stringify(name)}`,
      `listen: "127.0.0.1:${clientPorts[i]}"`,
      "jetstream {",
      `  store_dir: ${JSON.stringify(join(nodeDir, "store"))}`,
      ...(syncAlways ? ["  sync_interval: always"] : []),
      "}",
      "cluster {",
      `  name: ${JSON.stringify(clusterName)}`,
      `  listen: "127.0.0.1:${routePorts[i]}"`,
      `  routes: [${routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]`,
      "}",
    ].join("\n");
    const configFile = join(nodeDir, "nats-server.conf");
    writeFileSync(configFile, `${config}\n`);
    let pid: number | undefined;
    const launch = (): void => {
      const logFd = openSync(join(nodeDir, "nats-server.log"), "a");
      try {
        const child = spawn(binary, ["-c", configFile], { cwd: nodeDir, stdio: ["ignore", logFd, logFd] });
        child.unref();
        if (child.pid === undefined) throw new Error(`could not start ${name}`);
        pid = child.pid;
        track(pid, configFile);
      } finally {
        closeSync(logFd);
      }
    };
    launch();
    const port = clientPorts[i]!;
    nodes.push({
      name,
      url: `nats://127.0.0.1:${port}`,
      pid: () => pid,
      async kill() {
        if (pid === undefined) return;
        const victim = pid;
        pid = undefined;
        signal(victim, "SIGKILL");
        await waitGone(victim);
      },
      async restart() {
        if (pid !== undefined) throw new Error(`${name} is running`);
        launch();
      },
      async stop() {
        if (pid === undefined) return;
        const victim = pid;
        pid = undefined;
        signal(victim, "SIGTERM");
        const deadline = Date.now() + 5_000;
        while (alive(victim) && Date.now() < deadline) await sleep(20);
        if (alive(victim)) signal(victim, "SIGKILL");
        await waitGone(victim);
      },
    });
  }
  return nodes;
}

/** `size` independent (unclustered) JetStream servers, each with its own store. */
export async function startIndependentServers(dir: string, size = 3, syncAlways = true): Promise<FailoverNode[]> {
  const nodes: FailoverNode[] = [];
  for (let i = 0; i < size; i++) {
    const nodeDir = join(dir, `s${i}`);
    let handle: NatsServerHandle | undefined = await startNatsServer({ dir: nodeDir, syncAlways });
    const port = handle.port;
    nodes.push({
      name: `s${i}`,
      url: handle.url,
      pid: () => handle?.pid,
      async kill() {
        if (handle === undefined) return;
        const victim = handle;
        handle = undefined;
        process.kill(victim.pid, "SIGKILL");
        await victim.stop();
      },
      async restart() {
        if (handle !== undefined) throw new Error(`s${i} is running`);
        handle = await startNatsServer({ dir: nodeDir, port, syncAlways });
      },
      async stop() {
        const victim = handle;
        handle = undefined;
        await victim?.stop();
      },
    });
  }
  return nodes;
}
