// An Antler cluster under test: `bin/antler up --data DIR --host ADDR --detach --chunkservers 1 [--shards N]`
// run inside a test namespace (so the launcher, its supervisor and every service share that
// namespace and serve on its address), `bin/antler status --json` to find the services' PIDs, and
// `bin/antler down` to stop it. `down` is also in the cleanup registry, and removing the
// namespace afterwards kills anything the launcher left running in it.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runSync } from "./cleanup.ts";
import type { Netns } from "./netns.ts";
import { registerCleanup, type CleanupHandle } from "./cleanup.ts";
import { describeFailure, waitFor } from "./proc.ts";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const antlerBin = `${repoRoot}bin/antler`;
/** `up --detach` waits up to 120 s for the cluster itself (deploy/local/src/limits.ts). */
const upTimeoutMs = 150_000;
const statusTimeoutMs = 20_000;
const downTimeoutMs = 90_000;

/** The part of `antler status --json` the tests rely on. */
export interface AntlerProcess {
  readonly name: string;
  readonly role: string;
  readonly pid: number | null;
  readonly status: string;
  readonly restarts: number;
  readonly shardId?: number;
  readonly leader?: boolean;
}

export interface AntlerStatus {
  /** The cluster phase ("serving", "failed", ...): `phase` or, in newer launchers, `status`. */
  readonly phase: string;
  readonly processes: readonly AntlerProcess[];
}

/** Why Antler cannot be started here, or undefined when its launcher is in place. */
export function antlerUnavailableReason(): string | undefined {
  if (!existsSync(antlerBin)) return `${antlerBin} does not exist (the launcher has not landed)`;
  if (!existsSync(`${repoRoot}deploy/local/src/cli.ts`)) return "deploy/local/src/cli.ts does not exist";
  return undefined;
}

/** Choices of `antler up` beyond the defaults. */
export interface AntlerClusterOptions {
  /** `--shards N` (metadata shards; the launcher's default, 1, when absent). */
  readonly shards?: number;
}

export class AntlerCluster {
  readonly netns: Netns;
  readonly dataDir: string;
  /** `--chunkservers`: 0 when the test runs its own chunkservers (to stop them by PID). */
  readonly chunkservers: number;
  readonly options: AntlerClusterOptions;
  private downHandle: CleanupHandle | undefined;

  constructor(netns: Netns, dataDir: string, chunkservers = 1, options: AntlerClusterOptions = {}) {
    this.netns = netns;
    this.dataDir = dataDir;
    this.chunkservers = chunkservers;
    this.options = options;
  }

  get address(): string {
    return this.netns.address;
  }

  /** `antler up --detach`: returns once the launcher says the cluster serves. */
  async up(): Promise<void> {
    const reason = antlerUnavailableReason();
    if (reason !== undefined) throw new Error(`cannot start Antler: ${reason}`);
    this.downHandle ??= registerCleanup(`antler cluster ${this.dataDir}`, () => this.downSync());
    const argv = [antlerBin, "up", "--data", this.dataDir, "--host", this.address, "--detach", "--chunkservers", String(this.chunkservers)];
    if (this.options.shards !== undefined) argv.push("--shards", String(this.options.shards));
    const result = await this.netns.run(argv, { timeoutMs: upTimeoutMs });
    if (result.code !== 0) throw new Error(`antler up failed:\n${describeFailure(result)}`);
  }

  /** `antler down`; the cluster's DIR stays, so `up` resumes the same cluster. */
  down(): void {
    this.downHandle?.forget();
    this.downHandle = undefined;
    this.downSync();
  }

  private downSync(): void {
    const result = runSync([...this.netns.prefix, antlerBin, "down", "--data", this.dataDir], downTimeoutMs);
    if (result.status !== 0) throw new Error(`antler down --data ${this.dataDir} failed: ${result.output}`);
  }

  async status(): Promise<AntlerStatus> {
    const result = await this.netns.run([antlerBin, "status", "--data", this.dataDir, "--json"], { timeoutMs: statusTimeoutMs });
    if (result.code !== 0) throw new Error(`antler status failed:\n${describeFailure(result)}`);
    return parseStatus(result.stdout);
  }

  /** The one process of `role` (e.g. "gateway", "shard"); throws if there is not exactly one. */
  async process(role: string): Promise<AntlerProcess> {
    const matches = (await this.status()).processes.filter((entry) => entry.role === role);
    if (matches.length !== 1) throw new Error(`expected one ${role} in antler status, found ${matches.length}`);
    return matches[0]!;
  }

  /** kill -9 of the running `role` process; returns its PID. */
  async kill9(role: string): Promise<number> {
    const target = await this.process(role);
    if (target.pid === null || target.status !== "running") {
      throw new Error(`${role} is not running (status ${target.status}, pid ${target.pid})`);
    }
    process.kill(target.pid, "SIGKILL");
    return target.pid;
  }

  /** Waits until the supervisor reports `role` running again under a PID other than `oldPid`. */
  async waitRestarted(role: string, oldPid: number, timeoutMs: number): Promise<AntlerProcess> {
    let last: AntlerProcess | undefined;
    await waitFor(
      async () => {
        last = await this.process(role);
        return last.status === "running" && last.pid !== null && last.pid !== oldPid;
      },
      timeoutMs,
      () => `${role} not restarted by the supervisor; last status: ${JSON.stringify(last)}`,
      200,
    );
    return last!;
  }
}

export function parseStatus(text: string): AntlerStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`antler status --json printed no JSON: ${text.slice(0, 500)}`, { cause: error });
  }
  const record = value as { phase?: unknown; status?: unknown; processes?: unknown };
  if (typeof record !== "object" || record === null || !Array.isArray(record.processes)) {
    throw new Error(`antler status --json has no processes list: ${text.slice(0, 500)}`);
  }
  const processes = record.processes.map((entry: Record<string, unknown>): AntlerProcess => {
    const pid = entry["pid"];
    return {
      name: String(entry["name"]),
      role: String(entry["role"]),
      pid: typeof pid === "number" ? pid : null,
      status: String(entry["status"]),
      restarts: typeof entry["restarts"] === "number" ? entry["restarts"] : 0,
      ...(typeof entry["shardId"] === "number" ? { shardId: entry["shardId"] } : {}),
      ...(typeof entry["leader"] === "boolean" ? { leader: entry["leader"] } : {}),
    };
  });
  return { phase: String(record.phase ?? record.status), processes };
}
