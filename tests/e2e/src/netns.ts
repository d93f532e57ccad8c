// Network namespaces for the e2e tests. Real chunkservers refuse a master on 127.0.0.0/8, and the
// machine's own address is off limits, so each cluster under test gets its own namespace with a
// private address on that namespace's loopback device.
//
// Commands run inside with `nsenter --net=/run/netns/NAME`: that switches only the network
// namespace, so a FUSE mount made by `mfsmount` inside stays visible in the host's mount
// namespace, where the workload runs (`ip netns exec` would give every command a private mount
// namespace and hide the mount).

import { existsSync } from "node:fs";
import { isAlive, registerCleanup, runSync, sleepSync, stopPidSync } from "./cleanup.ts";
import { run, startDaemon, type Daemon, type RunOptions, type RunResult } from "./proc.ts";

export interface Netns {
  readonly name: string;
  /** The namespace's own IPv4 address (a /32 on its lo). */
  readonly address: string;
  /** The argv prefix that runs a command inside the namespace. */
  readonly prefix: readonly string[];
  run(argv: readonly string[], options: RunOptions): Promise<RunResult>;
  startDaemon(label: string, argv: readonly string[], logPath: string, env?: NodeJS.ProcessEnv): Daemon;
  /** PIDs of every process whose network namespace is this one. */
  pids(): number[];
  /** Kills whatever still runs inside and deletes the namespace. */
  remove(): void;
}

let namespacesCreated = 0;

/** Creates `antler-e2e-<pid>-<n>` with 10.213.<100+n>.1/32 on its lo, registered for cleanup. */
export function createNetns(): Netns {
  const index = namespacesCreated++;
  if (index > 150) throw new Error("too many namespaces in one test process");
  const name = `antler-e2e-${process.pid}-${index}`;
  const address = `10.213.${100 + index}.1`;
  const path = `/run/netns/${name}`;
  // A namespace of this name can only be left over from a dead process with our PID.
  if (existsSync(path)) removeNamespace(name);
  mustSucceed(["ip", "netns", "add", name]);
  const handle = registerCleanup(`namespace ${name}`, () => removeNamespace(name));
  mustSucceed(["ip", "-n", name, "link", "set", "lo", "up"]);
  mustSucceed(["ip", "-n", name, "addr", "add", `${address}/32`, "dev", "lo"]);
  const prefix = ["nsenter", `--net=${path}`, "--"] as const;
  return {
    name,
    address,
    prefix,
    run: (argv, options) => run([...prefix, ...argv], options),
    startDaemon: (label, argv, logPath, env) => startDaemon(label, [...prefix, ...argv], logPath, env),
    pids: () => namespacePids(name),
    remove: () => handle.release(),
  };
}

function mustSucceed(argv: readonly string[]): void {
  const result = runSync(argv, 10_000);
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed: ${result.output}`);
}

function namespacePids(name: string): number[] {
  const result = runSync(["ip", "netns", "pids", name], 10_000);
  if (result.status !== 0) return [];
  return result.output
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map(Number)
    .filter(isAlive);
}

/**
 * Every process in one of our namespaces was started by this test process (directly or by a
 * launcher it ran), so stopping them all by PID is stopping only what we started.
 */
function removeNamespace(name: string): void {
  for (let round = 0; round < 3; round++) {
    const pids = namespacePids(name);
    if (pids.length === 0) break;
    for (const pid of pids) stopPidSync(pid, round === 0 ? 3_000 : 500);
    sleepSync(50);
  }
  const result = runSync(["ip", "netns", "del", name], 10_000);
  if (result.status !== 0 && existsSync(`/run/netns/${name}`)) throw new Error(`ip netns del ${name}: ${result.output}`);
}
