/**
 * Real servers and network namespaces for integration tests.
 *
 *   const nats = await startNatsServer({ dir });      // JetStream on 127.0.0.1:<free port>
 *   const redis = await startRedis({ dir });          // redis-server on 127.0.0.1:<free port>
 *   after(async () => { await nats.stop(); await redis.stop(); });
 *
 *   await withNetns("antler-mytest-1", "10.213.77.1", async (ns) => {
 *     await ns.exec("mfsmount", [mnt, "-H", ns.address]);  // runs inside the namespace
 *   });
 *
 * Guarantees:
 * - Each start resolves only once the server answers (nats: a JetStream API request when
 *   JetStream is on, else the INFO line; redis: PING → PONG) and rejects with the server's own
 *   log excerpt if it exits or stays silent for `readyTimeoutMs`.
 * - stop() is idempotent: SIGTERM, SIGKILL after 5 s, resolves once the process is gone.
 * - Everything started here is also registered for cleanup when the test process exits (normal
 *   exit, uncaught error, SIGINT/SIGTERM): servers are SIGKILLed by PID (only while that PID is
 *   still the process we started), namespaces are deleted. Children are unref'd and write to log
 *   files, so a forgotten stop() never keeps a test process alive.
 * - Only PIDs we started are ever signalled; nothing is looked up or killed by name.
 *
 * Binaries: nats-server is ANTLER_NATS_SERVER, else /opt/antler/bin/nats-server (installed by
 * tools/setup.sh), else `nats-server` on PATH; redis-server is ANTLER_REDIS_SERVER, else
 * `redis-server` on PATH. natsServerBinary()/redisServerBinary() return undefined when missing,
 * for `test(..., { skip })`.
 *
 * Network: servers listen on 127.0.0.1 only. Namespaces get one address on their own loopback
 * (use 10.213.N.1: chunkservers refuse a master on 127.x); commands enter them with
 * `nsenter --net=`, so FUSE mounts made inside stay visible to the test process.
 */
import {
  execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions,
} from "node:child_process";
import {
  accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, writeFileSync,
} from "node:fs";
import { createServer, Socket } from "node:net";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** How long a server may take to answer after it was spawned. */
const readyTimeoutMs = 20_000;
/** Graceful stop: SIGTERM, then SIGKILL after this long. */
const stopGraceMs = 5_000;
const pollMs = 20;
const probeTimeoutMs = 1_000;
/** A random port can be taken between freePort() and the server's bind: retry that often. */
const portAttemptsMax = 3;

/** A server started by this module. */
export interface ManagedServer {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** The server's stdout and stderr. */
  readonly logFile: string;
  /** Idempotent; resolves once the process is gone. */
  stop(): Promise<void>;
}

export interface NatsServerHandle extends ManagedServer {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly storeDir: string;
}

export interface NatsServerOptions {
  /** Working directory: config, log and (with JetStream) the store go here. Created if missing. */
  dir: string;
  /** Default: a free port. */
  port?: number;
  /** Default true. */
  jetstream?: boolean;
  /**
   * fsync every JetStream write before acknowledging (`sync_interval: always`, as `antler up`
   * runs it). Default false: faster, and tests rarely cut power.
   */
  syncAlways?: boolean;
  readyTimeoutMs?: number;
}

export interface RedisHandle extends ManagedServer {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
}

export interface RedisOptions {
  /** Working directory: config, log and data files. Created if missing. */
  dir: string;
  port?: number;
  /** Persist with an append-only file (fsync every second), as `antler up` does. Default false. */
  appendOnly?: boolean;
  readyTimeoutMs?: number;
}

/** A server binary could not be found, or the server did not come up. */
export class ServerStartError extends Error {
  override name = "ServerStartError";
}

// --- cleanup on exit -----------------------------------------------------------------------------

const exitCleanups = new Set<() => void>();
let exitHooksInstalled = false;

function runExitCleanups(): void {
  for (const cleanup of [...exitCleanups]) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is exiting.
    }
  }
  exitCleanups.clear();
}

/** Registers a synchronous cleanup for process exit; returns its unregister function. */
function onExit(cleanup: () => void): () => void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.on("exit", runExitCleanups);
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      // Only when nobody else handles the signal: ours cleans up, then lets it kill the process.
      if (process.listenerCount(signal) > 0) continue;
      process.once(signal, () => {
        runExitCleanups();
        process.kill(process.pid, signal);
      });
    }
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

// --- processes -----------------------------------------------------------------------------------

/** Start time in clock ticks of a live, non-zombie process (guards against PID reuse). */
export function startTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Finds an executable by path or on PATH. */
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
      // Try the next one.
    }
  }
  return undefined;
}

export function natsServerBinary(): string | undefined {
  const configured = process.env["ANTLER_NATS_SERVER"];
  if (configured !== undefined) return findExecutable(configured);
  return findExecutable("/opt/antler/bin/nats-server") ?? findExecutable("nats-server");
}

export function redisServerBinary(): string | undefined {
  return findExecutable(process.env["ANTLER_REDIS_SERVER"] ?? "redis-server");
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A port on `host` that nobody listens on right now (the kernel's pick). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("no port assigned"));
      });
    });
  });
}

interface Spawned {
  pid: number;
  exited: () => boolean;
  stop: () => Promise<void>;
}

function spawnLogged(command: string, args: string[], cwd: string, logFile: string): Spawned {
  const logFd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd, stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  let exited = false;
  child.once("exit", () => { exited = true; });
  child.once("error", () => { exited = true; });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new ServerStartError(`could not start ${command}`);
  const ticks = startTicksOf(pid);
  const alive = (): boolean => !exited && ticks !== undefined && startTicksOf(pid) === ticks;
  const kill = (signal: NodeJS.Signals): void => {
    if (!alive()) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
  };
  const unregister = onExit(() => kill("SIGKILL"));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      kill("SIGTERM");
      const deadline = Date.now() + stopGraceMs;
      while (alive() && Date.now() < deadline) await sleep(pollMs);
      kill("SIGKILL");
      while (alive()) await sleep(pollMs);
      unregister();
    })();
    return stopping;
  };
  return { pid, exited: () => !alive(), stop };
}

function logExcerpt(logFile: string): string {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-10).join("\n");
  } catch {
    return "";
  }
}

/**
 * Starts a server on a free (or given) port and waits for `probe`; retries with another free
 * port when the chosen one was taken in the meantime.
 */
async function startServer(
  what: string,
  givenPort: number | undefined,
  timeoutMs: number,
  launch: (port: number) => { spawned: Spawned; logFile: string },
  probe: (port: number, spawned: Spawned) => Promise<boolean>,
): Promise<{ spawned: Spawned; port: number; logFile: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = givenPort ?? (await freePort());
    const { spawned, logFile } = launch(port);
    const deadline = Date.now() + timeoutMs;
    while (!spawned.exited() && Date.now() < deadline) {
      if (await probe(port, spawned)) return { spawned, port, logFile };
      await sleep(pollMs);
    }
    await spawned.stop();
    const excerpt = logExcerpt(logFile);
    const portTaken = /address already in use/i.test(excerpt);
    if (portTaken && givenPort === undefined && attempt < portAttemptsMax) continue;
    const why = spawned.exited() && Date.now() < deadline
      ? "exited"
      : `was not ready after ${timeoutMs} ms`;
    throw new ServerStartError(`${what} on 127.0.0.1:${port} ${why}; log ${logFile}:\n${excerpt}`);
  }
}

// --- probes --------------------------------------------------------------------------------------

/**
 * Connects to 127.0.0.1:port, writes `firstWrite` if given, and hands everything received so far
 * to `onData` (which may write more) until it returns a verdict; false on error or timeout.
 */
function exchange(
  port: number,
  onData: (received: string, write: (text: string) => void) => boolean | undefined,
  firstWrite?: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let received = "";
    let settled = false;
    const finish = (result: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(false), probeTimeoutMs);
    socket.setEncoding("utf8");
    socket.once("error", () => finish(false));
    socket.once("close", () => finish(false));
    socket.on("data", (chunk: string) => {
      received += chunk;
      const verdict = onData(received, (text) => socket.write(text));
      if (verdict !== undefined) finish(verdict);
    });
    socket.connect(port, "127.0.0.1", () => {
      if (firstWrite !== undefined) socket.write(firstWrite);
    });
  });
}

/**
 * nats: the INFO line must carry our unique server name (so another server that already held
 * the port does not pass for ours); with JetStream, `$JS.API.INFO` must get a non-error reply.
 */
function probeNats(port: number, jetstream: boolean, serverName: string): Promise<boolean> {
  let requested = false;
  return exchange(port, (received, write) => {
    const lineEnd = received.indexOf("\r\n");
    if (lineEnd === -1) return undefined;
    if (!received.startsWith("INFO ")) return false;
    const nameField = `"server_name":${JSON.stringify(serverName)}`;
    if (!received.slice(0, lineEnd).includes(nameField)) return false;
    if (!jetstream) return true;
    if (!requested) {
      requested = true;
      write('CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n' +
        "SUB _testkit_probe 1\r\nPUB $JS.API.INFO _testkit_probe 0\r\n\r\n");
      return undefined;
    }
    const rest = received.slice(lineEnd + 2);
    if (/(^|\r\n)(-ERR|HMSG)/.test(rest)) return false;
    const message = /(?:^|\r\n)MSG [^\r\n]* (\d+)\r\n/.exec(rest);
    if (message === null) return undefined;
    const body = rest.slice((message.index ?? 0) + message[0].length);
    const size = Number(message[1]);
    if (body.length < size) return undefined;
    return !body.slice(0, size).includes('"error"');
  });
}

/**
 * redis: PING → +PONG (a server still loading its data answers -LOADING: not ready), and
 * `INFO server` must report our PID (not another server that already held the port).
 */
function probeRedis(port: number, pid: number): Promise<boolean> {
  return exchange(port, (received) => {
    const firstEnd = received.indexOf("\r\n");
    if (firstEnd === -1) return undefined;
    if (!received.startsWith("+PONG\r\n")) return false;
    const processId = /\r\nprocess_id:(\d+)\r\n/.exec(received);
    if (processId === null) return received.length > 100_000 ? false : undefined;
    return Number(processId[1]) === pid;
  }, "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n");
}

/** Numbers server names, which must be unique per start (see probeNats). */
let serversStarted = 0;

// --- servers -------------------------------------------------------------------------------------

export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerHandle> {
  const binary = natsServerBinary();
  if (binary === undefined) {
    throw new ServerStartError(
      "nats-server not found (run `npm run setup` or set ANTLER_NATS_SERVER)",
    );
  }
  const jetstream = options.jetstream ?? true;
  const storeDir = join(options.dir, "jetstream-store");
  const serverName = `testkit-${process.pid}-${++serversStarted}`;
  mkdirSync(storeDir, { recursive: true });
  const started = await startServer(
    "nats-server", options.port, options.readyTimeoutMs ?? readyTimeoutMs,
    (port) => {
      const configFile = join(options.dir, "nats-server.conf");
      const lines = [`server_name: ${JSON.stringify(serverName)}`, `listen: "127.0.0.1:${port}"`];
      if (jetstream) {
        lines.push("jetstream {", `  store_dir: ${JSON.stringify(storeDir)}`);
        if (options.syncAlways === true) lines.push("  sync_interval: always");
        lines.push("}");
      }
      writeFileSync(configFile, `${lines.join("\n")}\n`);
      const logFile = join(options.dir, "nats-server.log");
      return { spawned: spawnLogged(binary, ["-c", configFile], options.dir, logFile), logFile };
    },
    (port) => probeNats(port, jetstream, serverName),
  );
  return {
    pid: started.spawned.pid, host: "127.0.0.1", port: started.port, logFile: started.logFile,
    url: `nats://127.0.0.1:${started.port}`, storeDir, stop: started.spawned.stop,
  };
}

export async function startRedis(options: RedisOptions): Promise<RedisHandle> {
  const binary = redisServerBinary();
  if (binary === undefined) {
    throw new ServerStartError(
      "redis-server not found (run `npm run setup` or set ANTLER_REDIS_SERVER)",
    );
  }
  mkdirSync(options.dir, { recursive: true });
  const started = await startServer(
    "redis-server", options.port, options.readyTimeoutMs ?? readyTimeoutMs,
    (port) => {
      const configFile = join(options.dir, "redis.conf");
      const lines = [
        "bind 127.0.0.1", `port ${port}`, "daemonize no", 'logfile ""', 'save ""',
        `dir ${JSON.stringify(options.dir)}`,
        options.appendOnly === true ? "appendonly yes\nappendfsync everysec" : "appendonly no",
      ];
      writeFileSync(configFile, `${lines.join("\n")}\n`);
      const logFile = join(options.dir, "redis-server.log");
      return { spawned: spawnLogged(binary, [configFile], options.dir, logFile), logFile };
    },
    (port, spawned) => probeRedis(port, spawned.pid),
  );
  return {
    pid: started.spawned.pid, host: "127.0.0.1", port: started.port, logFile: started.logFile,
    url: `redis://127.0.0.1:${started.port}`, stop: started.spawned.stop,
  };
}

// --- network namespaces --------------------------------------------------------------------------

export interface Netns {
  readonly name: string;
  readonly address: string;
  /** argv prefix that runs a command inside the namespace: nsenter --net=/run/netns/NAME -- */
  readonly enterArgv: readonly string[];
  /** Runs a command inside the namespace and returns its output; rejects on non-zero exit. */
  exec(
    command: string,
    args: readonly string[],
    options?: { timeoutMs?: number },
  ): Promise<{ stdout: string; stderr: string }>;
  /** Spawns a long-running command inside the namespace; the caller stops it (else: SIGKILL at
   * exit). */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Deletes the namespace (idempotent). Processes still inside keep running in it. */
  delete(): Promise<void>;
}

export class NetnsError extends Error {
  override name = "NetnsError";
}

async function ip(args: string[]): Promise<void> {
  try {
    await execFileAsync("ip", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    const reason = stderr || String(error);
    throw new NetnsError(`ip ${args.join(" ")} failed: ${reason}`, { cause: error });
  }
}

/**
 * Creates namespace `name` (it must not exist yet) with lo up and `address`/32 on lo. Needs root.
 * Registered for deletion at process exit; call delete() when done.
 */
export async function createNetns(name: string, address: string): Promise<Netns> {
  if (!isRoot()) throw new NetnsError("network namespaces need root");
  if (existsSync(`/run/netns/${name}`)) throw new NetnsError(`namespace ${name} already exists`);
  await ip(["netns", "add", name]);
  const unregister = onExit(() => {
    if (existsSync(`/run/netns/${name}`)) {
      execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
    }
  });
  const remove = async (): Promise<void> => {
    if (existsSync(`/run/netns/${name}`)) await ip(["netns", "delete", name]);
    unregister();
  };
  try {
    await ip(["-n", name, "link", "set", "lo", "up"]);
    await ip(["-n", name, "addr", "add", `${address}/32`, "dev", "lo"]);
  } catch (error) {
    await remove();
    throw error;
  }
  const enterArgv = ["nsenter", `--net=/run/netns/${name}`, "--"] as const;
  return {
    name,
    address,
    enterArgv,
    async exec(command, args, options = {}) {
      const [file, ...prefix] = enterArgv;
      const { stdout, stderr } = await execFileAsync(file, [...prefix, command, ...args], {
        encoding: "utf8", timeout: options.timeoutMs ?? 60_000,
      });
      return { stdout, stderr };
    },
    spawn(command, args, options = {}) {
      const [file, ...prefix] = enterArgv;
      const child = spawn(file, [...prefix, command, ...args], options);
      // nsenter execs the command, so child.pid is the command itself: kill it if left running.
      const pid = child.pid;
      const ticks = pid === undefined ? undefined : startTicksOf(pid);
      if (pid !== undefined && ticks !== undefined) {
        const unregisterChild = onExit(() => {
          if (startTicksOf(pid) === ticks) process.kill(pid, "SIGKILL");
        });
        child.once("exit", unregisterChild);
      }
      return child;
    },
    delete: remove,
  };
}

/** Creates a namespace, runs `body` with it, and deletes it afterwards (also when body throws). */
export async function withNetns<T>(
  name: string,
  address: string,
  body: (netns: Netns) => Promise<T>,
): Promise<T> {
  const netns = await createNetns(name, address);
  try {
    return await body(netns);
  } finally {
    await netns.delete();
  }
}
