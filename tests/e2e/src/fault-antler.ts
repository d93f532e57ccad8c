// The Antler cluster of the fault test: `bin/antler up --profile ha` (or minimal) inside a test
// namespace, and what the test needs to hurt it precisely: every process from
// `antler status --json`, the shard's leader (from its lease), the NATS server leading the shard's
// log stream (from JetStream), the gateway holding the client's connection (from `ss`), and waits
// until the supervisor has restarted what was killed and the cluster is whole again.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { antlerBin, antlerUnavailableReason } from "./antler.ts";
import { registerCleanup, runSync, stopPidSync, type CleanupHandle } from "./cleanup.ts";
import type { StreamPlacement } from "./fault-nats-query.ts";
import type { Netns } from "./netns.ts";
import { describeFailure, waitFor } from "./proc.ts";
import { startTicksOf } from "@antler/testkit";

export type Profile = "minimal" | "ha";

/** A process as `antler status --json` shows it. */
export interface StatusProcess {
  readonly name: string;
  readonly role: string;
  readonly pid: number | null;
  readonly alive: boolean;
  readonly status: string;
  readonly restarts: number;
  readonly shardId?: number;
  readonly replicaId?: number;
  readonly leader?: boolean;
  readonly addresses: readonly string[];
}

const upTimeoutMs = 180_000;
const downTimeoutMs = 90_000;
const queryTimeoutMs = 10_000;
const queryScript = fileURLToPath(new URL("./fault-nats-query.ts", import.meta.url));

/** JetStream names the services use (`shardLogStream`, `leaseBucket`, `shardLeaseKey` in @antler/ops). */
export const shardLogStreamOf = (shardId: number): string => `ANTLER_SHARD_${shardId}`;
const leaseBucket = "antler-leases";
const leaseKeyOf = (shardId: number): string => `shard.${shardId}`;

export class FaultAntler {
  readonly netns: Netns;
  readonly dataDir: string;
  readonly profile: Profile;
  readonly shardReplicas: number | undefined;
  /** `--shards N` (the launcher's default, 1, when undefined). */
  readonly shards: number | undefined;
  private downHandle: CleanupHandle | undefined;
  private queries: QueryClient | undefined;

  constructor(netns: Netns, dataDir: string, profile: Profile, shardReplicas?: number, shards?: number) {
    this.netns = netns;
    this.dataDir = dataDir;
    this.profile = profile;
    this.shardReplicas = shardReplicas;
    this.shards = shards;
  }

  async up(): Promise<void> {
    const reason = antlerUnavailableReason();
    if (reason !== undefined) throw new Error(`cannot start Antler: ${reason}`);
    this.downHandle ??= registerCleanup(`antler cluster ${this.dataDir}`, () => this.downSync());
    const argv = [antlerBin, "up", "--data", this.dataDir, "--host", this.netns.address, "--detach", "--chunkservers", "1", "--profile", this.profile];
    if (this.shardReplicas !== undefined) argv.push("--shard-replicas", String(this.shardReplicas));
    if (this.shards !== undefined) argv.push("--shards", String(this.shards));
    const result = await this.netns.run(argv, { timeoutMs: upTimeoutMs });
    if (result.code !== 0) throw new Error(`antler up failed:\n${describeFailure(result)}`);
  }

  down(): void {
    this.queries?.close();
    this.queries = undefined;
    this.downHandle?.forget();
    this.downHandle = undefined;
    this.downSync();
  }

  private downSync(): void {
    const result = runSync([...this.netns.prefix, antlerBin, "down", "--data", this.dataDir], downTimeoutMs);
    if (result.status !== 0) throw new Error(`antler down --data ${this.dataDir} failed: ${result.output}`);
  }

  /**
   * Every process as the supervisor recorded it in DIR/state.json (the file `antler status`
   * reads; deploy/local/README.md), each checked against /proc like `status` does: alive only
   * while its PID still has the recorded start time. Reading the file is much cheaper than
   * running `antler status` many times a second.
   */
  async processes(): Promise<StatusProcess[]> {
    const state = JSON.parse(readFileSync(join(this.dataDir, "state.json"), "utf8")) as { processes?: Array<Record<string, unknown>> };
    if (!Array.isArray(state.processes)) throw new Error(`${this.dataDir}/state.json has no processes`);
    return state.processes.map((record): StatusProcess => {
      const pid = typeof record["pid"] === "number" ? record["pid"] : null;
      const startTicks = typeof record["startTicks"] === "number" ? record["startTicks"] : null;
      return {
        name: String(record["name"]),
        role: String(record["role"]),
        pid,
        alive: pid !== null && startTicks !== null && startTicksOf(pid) === startTicks,
        status: String(record["status"]),
        restarts: Number(record["restarts"] ?? 0),
        ...(typeof record["shardId"] === "number" ? { shardId: record["shardId"] } : {}),
        ...(typeof record["replicaId"] === "number" ? { replicaId: record["replicaId"] } : {}),
        ...(typeof record["leader"] === "boolean" ? { leader: record["leader"] } : {}),
        addresses: Array.isArray(record["addresses"]) ? record["addresses"].map(String) : [],
      };
    });
  }

  async process(name: string): Promise<StatusProcess> {
    const found = (await this.processes()).find((entry) => entry.name === name);
    if (found === undefined) throw new Error(`no process ${name} in antler status`);
    return found;
  }

  /** Every NATS node's client URL, from the status (`nats://127.0.0.1:<port>`). */
  /** The quorum-journal servers (HA profile, ADR 0007): nats processes named journal-i. */
  journalServers(processes: readonly StatusProcess[]): StatusProcess[] {
    return processes.filter((entry) => entry.role === "nats" && entry.name.startsWith("journal-"));
  }

  /** The nodes of the main NATS cluster (routing, KV, object store). */
  clusterNatsNodes(processes: readonly StatusProcess[]): StatusProcess[] {
    return processes.filter((entry) => entry.role === "nats" && !entry.name.startsWith("journal-"));
  }

  natsUrls(processes: readonly StatusProcess[]): string[] {
    return this.clusterNatsNodes(processes).flatMap((entry) => entry.addresses.filter((address) => address.startsWith("nats://")));
  }

  private async query(processes: readonly StatusProcess[], args: readonly string[]): Promise<unknown> {
    if (this.queries?.exited === true) this.queries = undefined;
    this.queries ??= new QueryClient([...this.netns.prefix, process.execPath, queryScript]);
    return this.queries.ask(this.natsUrls(processes), args);
  }

  async logPlacement(processes: readonly StatusProcess[], shardId = 0): Promise<StreamPlacement> {
    return (await this.query(processes, ["stream", shardLogStreamOf(shardId)])) as StreamPlacement;
  }

  /** The latest value of `key` in the KV bucket `bucket` as text, or null when there is none. */
  async kvValue(bucket: string, key: string): Promise<string | null> {
    const { value } = (await this.query(await this.processes(), ["kv", bucket, key])) as { value: string | null };
    return value;
  }

  /** The holder id in the shard's lease (`s<shard>.r<replica>/<incarnation>`), or null. */
  async leaseHolder(processes: readonly StatusProcess[], shardId = 0): Promise<string | null> {
    const { value } = (await this.query(processes, ["kv", leaseBucket, leaseKeyOf(shardId)])) as { value: string | null };
    if (value === null) return null;
    try {
      const holder = (JSON.parse(value) as { holder?: unknown }).holder;
      return typeof holder === "string" && holder !== "" ? holder : null;
    } catch {
      return null;
    }
  }

  /**
   * The running process leading the shard: the only replica when there is one, else the replica
   * the lease names (`s<shard>.r<replica>/...`).
   */
  async shardLeader(shardId = 0): Promise<StatusProcess> {
    const processes = await this.processes();
    const replicas = processes.filter((entry) => entry.role === "shard" && entry.shardId === shardId);
    if (replicas.length === 1) return replicas[0]!;
    const holder = await this.leaseHolder(processes, shardId);
    const match = holder === null ? null : /^s(\d+)\.r(\d+)\//.exec(holder);
    const leader = match === null ? undefined : replicas.find((entry) => entry.replicaId === Number(match[2]));
    if (leader === undefined || !leader.alive) throw new Error(`no live leader for shard ${shardId}: lease holder ${holder}`);
    return leader;
  }

  /** The NATS server leading the shard's log stream (the only one in the minimal profile). */
  async logLeaderNats(shardId = 0): Promise<StatusProcess> {
    const processes = await this.processes();
    const nodes = this.clusterNatsNodes(processes);
    if (nodes.length === 1) return nodes[0]!;
    const { leader } = await this.logPlacement(processes, shardId);
    const node = nodes.find((entry) => entry.name === leader);
    if (node === undefined) throw new Error(`the log stream of shard ${shardId} has no leader among ${nodes.map((entry) => entry.name).join(", ")} (leader ${leader})`);
    return node;
  }

  /** The gateway holding the client connection (TCP to the client port); any gateway if none does. */
  async clientGateway(clientPort = 9421): Promise<StatusProcess> {
    const gateways = (await this.processes()).filter((entry) => entry.role === "gateway");
    if (gateways.length === 1) return gateways[0]!;
    const sockets = await this.netns.run(["ss", "-Htnp", "state", "established", `( sport = :${clientPort} )`], { timeoutMs: 5_000 });
    const pids = new Set([...sockets.stdout.matchAll(/pid=(\d+)/g)].map((match) => Number(match[1])));
    return gateways.find((entry) => entry.pid !== null && pids.has(entry.pid)) ?? gateways[0]!;
  }

  /**
   * Waits until the process `name` runs again under a PID other than `oldPid`, and every other
   * process of the cluster runs too.
   */
  async waitRestarted(name: string, oldPid: number, timeoutMs: number): Promise<StatusProcess> {
    let last: StatusProcess[] = [];
    await waitFor(
      async () => {
        last = await this.processes();
        const again = last.find((entry) => entry.name === name);
        return again !== undefined && again.pid !== null && again.pid !== oldPid && last.every((entry) => entry.alive && entry.status === "running");
      },
      timeoutMs,
      () => `${name} (was pid ${oldPid}) not running again: ${JSON.stringify(last.map((entry) => [entry.name, entry.pid, entry.status, entry.alive]))}`,
      200,
    );
    return last.find((entry) => entry.name === name)!;
  }

  /**
   * Waits until the shard's log has a leader and every replica of it is current (a NATS node that
   * was killed has caught up), and the shard's lease names a live replica: only then may the next
   * fault come, or two faults would overlap.
   */
  async waitWhole(timeoutMs: number, shardId = 0): Promise<void> {
    let why = "";
    await waitFor(
      async () => {
        try {
          const processes = await this.processes();
          if (!processes.every((entry) => entry.alive && entry.status === "running")) {
            why = `not all running: ${processes.filter((entry) => !entry.alive).map((entry) => entry.name).join(", ")}`;
            return false;
          }
          // A log on the quorum journal has no stream leader to wait for; the journal repairs itself.
          if (this.natsUrls(processes).length > 1 && this.journalServers(processes).length === 0) {
            const placement = await this.logPlacement(processes, shardId);
            if (placement.leader === null || placement.replicas.some((replica) => !replica.current || replica.offline)) {
              why = `log stream not whole: ${JSON.stringify(placement)}`;
              return false;
            }
          }
          await this.shardLeader(shardId);
          return true;
        } catch (error) {
          why = String(error);
          return false;
        }
      },
      timeoutMs,
      () => `cluster not whole again: ${why}`,
      250,
    );
  }
}


/** The query server (fault-nats-query.ts) inside the namespace: one JSON line per query. */
class QueryClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly handle: CleanupHandle;
  private readonly waiting = new Map<number, (reply: { result?: unknown; error?: string }) => void>();
  private nextId = 1;
  private stderr = "";
  exited = false;

  constructor(argv: readonly string[]) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const pid = this.child.pid;
    this.handle = registerCleanup(`JetStream query server (pid ${pid})`, () => {
      if (pid !== undefined) stopPidSync(pid, 1_000);
    });
    this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-2_000);
    });
    // A write after the server died fails its query through the exit handler, not as a crash.
    this.child.stdin.on("error", () => {});
    this.child.on("exit", () => {
      this.exited = true;
      this.handle.forget();
      for (const resolve of this.waiting.values()) resolve({ error: `the query server exited: ${this.stderr}` });
      this.waiting.clear();
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const reply = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
  }

  async ask(urls: readonly string[], query: readonly string[]): Promise<unknown> {
    const id = this.nextId++;
    let timer: NodeJS.Timeout | undefined;
    const reply = await new Promise<{ result?: unknown; error?: string }>((resolve) => {
      this.waiting.set(id, resolve);
      timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ error: `no answer within ${queryTimeoutMs} ms` });
      }, queryTimeoutMs);
      this.child.stdin.write(`${JSON.stringify({ id, urls, query })}\n`);
    });
    clearTimeout(timer);
    if (reply.error !== undefined) throw new Error(`JetStream query ${query.join(" ")} failed: ${reply.error}`);
    return reply.result;
  }

  close(): void {
    this.child.stdin.end();
    this.handle.release();
  }
}
