/**
 * DIR/state.json: what the supervisor is running right now. The supervisor rewrites it (atomically:
 * temporary file + rename) on every change; `status` and `down` only read it. A process is
 * identified by its PID *and* its start time in clock ticks (field 22 of /proc/PID/stat), so a PID
 * reused by an unrelated process is never mistaken for ours, and never signalled.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { UsageError } from "./args.ts";

export const stateFileFormat = 1;

export const processRoles = ["nats", "redis", "router", "shard", "gateway", "chunkserver"] as const;
export type ProcessRole = (typeof processRoles)[number];

/**
 * starting: spawned (or restarted), not ready yet; running: ready (after a restart: ready again,
 * or alive past its ready timeout);
 * restarting: exited unexpectedly, waiting for its backoff; stopped: stopped by the supervisor;
 * failed: could not be started or kept running.
 */
export type ProcessStatus = "starting" | "running" | "restarting" | "stopped" | "failed";

export interface ProcessRecord {
  name: string;
  role: ProcessRole;
  pid: number | null;
  /** Start time of `pid` in clock ticks since boot; with the PID it names one process. */
  startTicks: number | null;
  shardId?: number;
  /** Shards only: which replica of its shard (0..replicas-1). */
  replicaId?: number;
  /**
   * Shards only: whether this process leads its shard. Always true for a shard's only process;
   * with standbys, what the lease said when the supervisor last looked (absent: not known).
   */
  leader?: boolean;
  /** Where it can be reached, e.g. "nats://127.0.0.1:4222" or "client 10.213.1.1:9421". */
  addresses: string[];
  restarts: number;
  status: ProcessStatus;
  logFile: string;
  /** argv the supervisor starts it with. */
  command: string[];
  /** The JSON a service printed on its READY line, if any. */
  ready?: unknown;
}

/**
 * starting → serving → stopping → stopped, or → failed (with `error`) when a start fails
 * or a child keeps crashing; a failed cluster has been stopped as well.
 */
export type ClusterPhase = "starting" | "serving" | "stopping" | "stopped" | "failed";

export interface ClusterState {
  format: typeof stateFileFormat;
  dataDir: string;
  phase: ClusterPhase;
  error?: string;
  supervisor: { pid: number; startTicks: number | null; attached: boolean };
  /** The namespace the cluster runs in; `owned` when this run created it (and will remove it). */
  netns?: { name: string; address: string; owned: boolean };
  processes: ProcessRecord[];
  mountCommand: string;
  updatedAt: string;
}

export function writeState(file: string, state: ClusterState): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, file);
}

/** undefined when the file does not exist; UsageError when it exists but is not a state file. */
export function readState(file: string): ClusterState | undefined {
  const found = readJsonFile(file);
  return found === undefined ? undefined : parseState(found.value, file);
}

/**
 * The JSON in `file` (wrapped, so that a file holding `null` is told from a missing one);
 * undefined when the file does not exist; UsageError when it is not JSON.
 */
export function readJsonFile(file: string): { readonly value: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    throw new UsageError(`${file} is not valid JSON`);
  }
}

export function parseState(value: unknown, source: string): ClusterState {
  const bad = (why: string): never => {
    throw new UsageError(`${source} is not a valid state file: ${why}`);
  };
  if (typeof value !== "object" || value === null) return bad("not an object");
  const record = value as Record<string, unknown>;
  if (record["format"] !== stateFileFormat) bad(`format is not ${stateFileFormat}`);
  if (typeof record["dataDir"] !== "string") bad("dataDir is missing");
  const supervisor = record["supervisor"] as Record<string, unknown> | null | undefined;
  if (typeof supervisor !== "object" || supervisor === null || !isPid(supervisor["pid"])) {
    bad("supervisor.pid is missing");
  }
  const processes = record["processes"];
  if (!Array.isArray(processes)) return bad("processes is not a list");
  for (const [index, entry] of processes.entries()) {
    const item = entry as Record<string, unknown> | null;
    if (typeof item !== "object" || item === null) bad(`processes[${index}] is not an object`);
    else {
      if (typeof item["name"] !== "string") bad(`processes[${index}].name is missing`);
      if (!processRoles.includes(item["role"] as ProcessRole)) {
        bad(`processes[${index}].role is unknown`);
      }
      if (item["pid"] !== null && !isPid(item["pid"])) bad(`processes[${index}].pid is invalid`);
    }
  }
  return value as ClusterState;
}

function isPid(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}
