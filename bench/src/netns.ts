/**
 * Network namespaces for the servers under test. Each gets a /32 address on its own loopback
 * (chunkservers and mounts refuse 127.x masters; the machine's real address is off limits), and
 * every process that must reach it runs through `nsenter --net=/run/netns/<name>`. nsenter without
 * --fork execs the program, so the PID we spawn is the program's own PID.
 */
import * as benchLimits from "./limits.ts";
import { isAlive, killQuietly, runChecked, runCommand, sleep } from "./processes.ts";

export interface Namespace {
  name: string;
  address: string;
  /** Prefix for a command run inside the namespace (network only; mounts stay visible). */
  enter: readonly string[];
}

const commandTimeoutMs = 10_000;

/** Creates `antler-bench-<pid>-<index>` with 10.213.(200+index).1/32 on lo. */
export async function createNamespace(index: number): Promise<Namespace> {
  if (!Number.isInteger(index) || index < 0 || index > 55) throw new RangeError(`namespace index ${index} outside 0..55`);
  const name = `antler-bench-${process.pid}-${index}`;
  const address = `10.213.${200 + index}.1`;
  await runChecked("ip", ["netns", "add", name], { timeoutMs: commandTimeoutMs });
  try {
    await runChecked("ip", ["-n", name, "link", "set", "lo", "up"], { timeoutMs: commandTimeoutMs });
    await runChecked("ip", ["-n", name, "addr", "add", `${address}/32`, "dev", "lo"], { timeoutMs: commandTimeoutMs });
  } catch (error) {
    await deleteNamespace(name);
    throw error;
  }
  return { name, address, enter: ["nsenter", `--net=/run/netns/${name}`] };
}

/**
 * Deletes a namespace this run created. Processes still inside it (a server whose orderly stop
 * failed) can only be ours — the name is unique to this run — and would keep it alive: they get
 * SIGTERM, then SIGKILL, by PID. Returns how many there were.
 */
export async function deleteNamespace(name: string): Promise<number> {
  const leftover = await namespacePids(name);
  for (const pid of leftover) killQuietly(pid, "SIGTERM");
  const deadline = Date.now() + benchLimits.stopGraceMs;
  while (leftover.some(isAlive) && Date.now() < deadline) await sleep(benchLimits.pollIntervalMs);
  for (const pid of leftover.filter(isAlive)) killQuietly(pid, "SIGKILL");
  await runCommand("ip", ["netns", "delete", name], { timeoutMs: commandTimeoutMs });
  return leftover.length;
}

async function namespacePids(name: string): Promise<number[]> {
  const result = await runCommand("ip", ["netns", "pids", name], { timeoutMs: commandTimeoutMs });
  if (result.code !== 0) return [];
  return result.stdout
    .split("\n")
    .filter((line) => /^[0-9]+$/.test(line.trim()))
    .map((line) => Number(line.trim()));
}

/** True when a TCP connect to address:port succeeds from inside the namespace. */
export async function portOpen(namespace: Namespace, port: number): Promise<boolean> {
  const probe = `exec 3<>/dev/tcp/${namespace.address}/${port}`;
  const result = await runCommand(namespace.enter[0]!, [...namespace.enter.slice(1), "bash", "-c", probe], { timeoutMs: 2_000 });
  return result.code === 0;
}

/** Polls until the port accepts connections; throws after timeoutMs or when `gone()` says the server died. */
export async function waitForPort(namespace: Namespace, port: number, what: string, gone: () => string | null, timeoutMs = benchLimits.serverReadyTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reason = gone();
    if (reason !== null) throw new Error(`${what} stopped before it served: ${reason}`);
    if (await portOpen(namespace, port)) return;
    await sleep(benchLimits.pollIntervalMs * 4);
  }
  throw new Error(`${what} did not accept connections on ${namespace.address}:${port} within ${timeoutMs} ms`);
}
