/**
 * `antler status --data DIR [--json]`: the cluster's processes as the supervisor recorded them,
 * each checked against the live system (a recorded PID counts as alive only while it is the same
 * process, by start time). Works on a stopped cluster too: everything then shows as stopped.
 * While the cluster runs, each shard leader's live figures are added (shard-stats.ts).
 */
import type { StatusCommand } from "./args.ts";
import { readClusterConfig } from "./cluster-file.ts";
import { ClusterUnreachable, connectToCluster } from "./cluster-link.ts";
import { layoutOf, mountCommandOf, type ClusterConfig, type NetworkConfig } from "./config.ts";
import { supervisorAlive } from "./down.ts";
import { insideNetns } from "./netns.ts";
import { isSameProcess } from "./processes.ts";
import { readShardStats, shardStatsHeader, shardStatsRows, type ShardStatsRow } from "./shard-stats.ts";
import { readState, type ClusterState, type ProcessRecord } from "./state.ts";

export interface ProcessStatusView extends ProcessRecord {
  alive: boolean;
}

export interface StatusView {
  dataDir: string;
  /**
   * "running" while a live supervisor serves, "starting"/"stopping" in between, "orphaned" when
   * the supervisor is gone but some of its children still run (`antler down` stops them), else
   * "stopped", "failed" (the last run's error is in `error`) or "not created".
   */
  status: "running" | "starting" | "stopping" | "stopped" | "failed" | "orphaned" | "not created";
  error?: string;
  supervisor: { pid: number; alive: boolean } | null;
  network: NetworkConfig | null;
  clientPort: number | null;
  csPort: number | null;
  mountCommand: string | null;
  processes: ProcessStatusView[];
  /**
   * Set by `antler status` (not by statusView) while the cluster runs: every shard's live figures
   * as its leader reports them, or `shardsError` when the cluster's NATS could not be asked.
   */
  shards?: ShardStatsRow[];
  shardsError?: string;
}

export function statusView(dataDir: string): StatusView {
  const layout = layoutOf(dataDir);
  const config = readClusterConfig(layout);
  const state = readState(layout.stateFile);
  const alive = state !== undefined && supervisorAlive(state);
  const view: StatusView = {
    dataDir,
    status: overallStatus(state, alive, config !== undefined),
    supervisor: state === undefined ? null : { pid: state.supervisor.pid, alive },
    network: config?.network ?? null,
    clientPort: config?.clientPort ?? null,
    csPort: config?.csPort ?? null,
    mountCommand: config === undefined ? null : mountCommandOf(config),
    processes: (state?.processes ?? []).map((record) => ({
      ...record, alive: isSameProcess(record.pid, record.startTicks),
    })),
  };
  if (state?.error !== undefined) view.error = state.error;
  if (!alive && view.processes.some((entry) => entry.alive)) view.status = "orphaned";
  return view;
}

function overallStatus(
  state: ClusterState | undefined,
  alive: boolean,
  created: boolean,
): StatusView["status"] {
  if (state === undefined) return created ? "stopped" : "not created";
  if (!alive) return state.phase === "failed" ? "failed" : "stopped";
  if (state.phase === "serving") return "running";
  if (state.phase === "starting" || state.phase === "stopping") return state.phase;
  return "stopped";
}

export function formatStatus(view: StatusView): string {
  const lines: string[] = [];
  const supervisor = view.supervisor?.alive ? ` (supervisor pid ${view.supervisor.pid})` : "";
  lines.push(`cluster ${view.dataDir}: ${view.status}${supervisor}`);
  if (view.error !== undefined) lines.push(`error: ${view.error}`);
  if (view.status === "orphaned") {
    lines.push(
      `the supervisor is gone but processes still run: antler down --data ${view.dataDir}`,
    );
  }
  if (view.network !== null) {
    const where = view.network.mode === "netns"
      ? `namespace ${view.network.netns}, `
      : "current namespace, ";
    lines.push(`network: ${where}address ${view.network.address}, ` +
      `client port ${view.clientPort}, chunkserver port ${view.csPort}`);
  }
  if (view.processes.length > 0) {
    const header = [
      "NAME", "ROLE", "PID", "ALIVE", "SHARD", "LEADER", "RESTARTS", "STATUS", "ADDRESSES",
    ];
    const rows = view.processes.map((entry) => [
      entry.name, entry.role, entry.alive && entry.pid !== null ? String(entry.pid) : "-",
      entry.alive ? "yes" : "no", entry.shardId === undefined ? "-" : String(entry.shardId),
      entry.leader === undefined ? "-" : entry.leader && entry.alive ? "yes" : "no",
      String(entry.restarts), view.status === "running" || entry.alive ? entry.status : "stopped",
      entry.addresses.join(", ") || "-",
    ]);
    lines.push(...formatTable(header, rows));
  }
  if (view.shards !== undefined) {
    lines.push("", "shards (live, from each shard's leader):", ...formatTable(shardStatsHeader, shardStatsRows(view.shards)));
    const silent = view.shards.filter((row) => row.stats === null);
    if (silent.length > 0) {
      lines.push(`no answer from shard ${silent.map((row) => `${row.shardId} (${row.error ?? "?"})`).join(", ")}`);
    }
  }
  if (view.shardsError !== undefined) lines.push(`shards: no live figures: ${view.shardsError}`);
  if (view.mountCommand !== null) lines.push(`mount: ${view.mountCommand}`);
  return lines.join("\n");
}

/** Columns padded to their widest cell, two spaces apart. */
function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) =>
    row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
}

/**
 * Adds the shards' live figures to the view of a running cluster. cli.ts runs `status` inside the
 * cluster's namespace when it can (root); otherwise the reason is in `shardsError`.
 */
export async function addShardStats(view: StatusView, config: ClusterConfig): Promise<void> {
  const hasShards = view.processes.some((entry) => entry.role === "shard");
  if (view.status !== "running" || !hasShards) return;
  if (config.network.mode === "netns" && !insideNetns(config.network.netns)) {
    view.shardsError = `the cluster's NATS is inside namespace ${config.network.netns}; ` +
      "run antler status as root to enter it";
    return;
  }
  let nc;
  try {
    nc = await connectToCluster(config, "antler-status");
  } catch (error) {
    if (!(error instanceof ClusterUnreachable)) throw error;
    view.shardsError = error.message;
    return;
  }
  try {
    view.shards = await readShardStats(nc, config.shards);
  } finally {
    await nc.close();
  }
}

export async function status(command: StatusCommand, out: (line: string) => void): Promise<number> {
  const view = statusView(command.dataDir);
  const config = readClusterConfig(layoutOf(command.dataDir));
  if (config !== undefined) await addShardStats(view, config);
  out(command.json ? JSON.stringify(view, null, 2) : formatStatus(view));
  return 0;
}
