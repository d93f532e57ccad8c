/**
 * The shard-scaling benchmark's record (JSON) and its one table (text for the terminal, Markdown
 * for the results file and docs/benchmarks.md): per phase and shard count, throughput and its
 * ratio to the first (smallest) shard count, latency, the share of operations that needed a
 * cross-shard transaction, and where the CPU went. Pure: no I/O, unit-tested.
 */
import { formatMicros } from "./phase-runner.ts";
import { clientSideProcesses } from "./process-cpu.ts";
import { type MachineInfo, renderTable, type TableStyle } from "./report.ts";
import { type PhaseSummary, summarizePhase } from "./result.ts";
import type { ShardScalingOptions } from "./shard-scaling-args.ts";
import type { ShardLoadResult, ShardPhaseResult } from "./shard-workload.ts";

/** One cluster of the run (one shard count). */
export interface ShardCluster {
  shards: number;
  description: string;
  /** Seconds `antler up` took until the client port served. */
  startSeconds: number;
}

/** One turn of one cluster. */
export interface ShardRun {
  round: number;
  shards: number;
  result: ShardLoadResult;
  /** CPU the other, idle clusters used meanwhile, in cores (their background: leases, heartbeats). */
  idleClustersCores: number | null;
}

export interface ShardPhaseSummary extends PhaseSummary {
  shards: number;
  /** Σ forwarded ÷ successful operations over the rounds; null when a round could not read it. */
  crossShardMeasured: number | null;
  /** Σ computed ÷ successful operations over the rounds. */
  crossShardComputed: number | null;
  /** Server CPU seconds ÷ wall seconds over the rounds: cores the cluster kept busy. */
  serverCores: number | null;
  coresByProcess: Record<string, number>;
}

export interface ShardScalingSuite {
  startedAt: string;
  finishedAt: string;
  elapsedSeconds: number;
  machine: MachineInfo;
  options: ShardScalingOptions;
  clusters: ShardCluster[];
  runs: ShardRun[];
  summary: ShardPhaseSummary[];
  notes: string[];
  /** Stages that failed (a cluster that did not start, a crashed load generator); the run went on. */
  failures: string[];
}

/** Phase by phase, shard count by shard count, in the order they ran. */
export function summarizeShardRuns(runs: readonly ShardRun[], shardCounts: readonly number[]): ShardPhaseSummary[] {
  const phaseNames = [...new Set(runs.flatMap((run) => run.result.phases.map((phase) => phase.phase)))];
  const summaries: ShardPhaseSummary[] = [];
  for (const phase of phaseNames) {
    for (const shards of shardCounts) {
      const rounds = runs
        .filter((run) => run.shards === shards)
        .flatMap((run) => run.result.phases.filter((candidate) => candidate.phase === phase));
      if (rounds.length === 0) continue;
      summaries.push(summarizeShardPhase(phase, shards, rounds));
    }
  }
  return summaries;
}

function summarizeShardPhase(phase: string, shards: number, rounds: readonly ShardPhaseResult[]): ShardPhaseSummary {
  const base = summarizePhase(phase, rounds);
  const count = base.count;
  const measured = rounds.every((round) => round.crossShard.forwarded !== null)
    ? rounds.reduce((sum, round) => sum + round.crossShard.forwarded!, 0)
    : null;
  const computed = rounds.reduce((sum, round) => sum + round.crossShard.computed, 0);
  const elapsed = rounds.reduce((sum, round) => sum + round.elapsedSeconds, 0);
  const cpuByProcess: Record<string, number> = {};
  for (const round of rounds) {
    for (const [name, seconds] of Object.entries(round.serverCpuSeconds)) cpuByProcess[name] = (cpuByProcess[name] ?? 0) + seconds;
  }
  const names = Object.keys(cpuByProcess);
  const coresByProcess = Object.fromEntries(names.map((name) => [name, elapsed > 0 ? cpuByProcess[name]! / elapsed : 0]));
  const serverSeconds = names.filter((name) => !clientSideProcesses.has(name)).reduce((sum, name) => sum + cpuByProcess[name]!, 0);
  return {
    ...base,
    shards,
    crossShardMeasured: measured === null || count === 0 ? null : measured / count,
    crossShardComputed: count === 0 ? null : computed / count,
    serverCores: names.length === 0 || elapsed <= 0 ? null : serverSeconds / elapsed,
    coresByProcess,
  };
}

function formatPercent(share: number | null): string {
  if (share === null) return "–";
  const percent = share * 100;
  return `${percent === 0 || percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}

function formatRatioTo(value: number, baseline: number | undefined): string {
  if (baseline === undefined || baseline === 0 || value === 0) return "–";
  return `${(value / baseline).toFixed(2)}×`;
}

function formatRate(opsPerSecond: number): string {
  return opsPerSecond >= 100 ? String(Math.round(opsPerSecond)) : opsPerSecond.toFixed(1);
}

function formatCores(cores: number | null): string {
  return cores === null ? "–" : cores.toFixed(2);
}

/** "gateway 0.61 · shard-0 0.40 · router 0.22" (cores, busiest first, idle processes left out). */
export function formatCoresByProcess(coresByProcess: Record<string, number>): string {
  return Object.entries(coresByProcess)
    .filter(([, cores]) => cores >= 0.005)
    .sort(([nameA, a], [nameB, b]) => b - a || nameA.localeCompare(nameB))
    .map(([name, cores]) => `${name} ${cores.toFixed(2)}`)
    .join(" · ");
}

/** The one table: a row per phase and shard count. */
export function formatShardTable(summary: readonly ShardPhaseSummary[], style: TableStyle): string {
  const baselineShards = Math.min(...summary.map((row) => row.shards));
  const baselineOf = (phase: string) => summary.find((row) => row.phase === phase && row.shards === baselineShards)?.opsPerSecond;
  const headers = [
    "phase", "shards", "ops/s", `vs ${baselineShards} shard${baselineShards === 1 ? "" : "s"}`, "p50", "p99",
    "cross-shard measured", "cross-shard computed", "errors", "cpu/op (µs)", "cores", "cores by process",
  ];
  const rows = summary.map((row) => [
    row.phase + (row.truncated ? " (truncated)" : ""),
    String(row.shards),
    formatRate(row.opsPerSecond),
    formatRatioTo(row.opsPerSecond, baselineOf(row.phase)),
    formatMicros(row.p50Micros),
    formatMicros(row.p99Micros),
    formatPercent(row.crossShardMeasured),
    formatPercent(row.crossShardComputed),
    String(row.errors),
    row.serverCpuMicrosPerOp === null ? "–" : String(Math.round(row.serverCpuMicrosPerOp)),
    formatCores(row.serverCores),
    formatCoresByProcess(row.coresByProcess),
  ]);
  return renderTable(headers, rows, style, [headers.length - 1]);
}

export const shardTableLegend = [
  "ops/s: successful operations ÷ phase wall time, median over rounds; vs: ratio to the smallest shard count's ops/s (above 1 = faster)",
  "p50 / p99: client-measured latency of all rounds together (with queueing behind the other requests in flight)",
  "cross-shard measured: Σ of the shards' `forwarded` counters (requests passed to the coordinator, retries included) over the phase ÷ successful operations; " +
    "computed: operations whose new directory's slot or whose returned inode lies on another shard than the parent directory, by the cluster's shard map",
  "cpu/op: CPU time of every process in the cluster's namespace ÷ successful operations; cores: that CPU time ÷ wall time " +
    "(the machine has the number of cores in the header; /proc counts in 10 ms ticks)",
];

function load(values: readonly number[]): string {
  return values.map((value) => value.toFixed(2)).join(" ");
}

/** "64 · 63 · 65 · 64". */
function perShard(counts: readonly number[]): string {
  return counts.join(" · ");
}

/** Heading lines: what ran, on what machine, and where the tree landed. */
export function formatShardHeader(suite: ShardScalingSuite): string[] {
  const { options, machine } = suite;
  const order = options.shardCounts.join(" ");
  const reverse = [...options.shardCounts].reverse().join(" ");
  const lines = [
    `protocol mode, ${options.sessions} session${options.sessions === 1 ? "" : "s"} × ${options.inflight} in flight, ` +
      `minimal profile with --shards ${options.shardCounts.join("/")}, ${options.rounds} round${options.rounds === 1 ? "" : "s"} ` +
      `(order ${order}${options.rounds > 1 ? `, ${reverse}, …` : ""}), tree of ${options.dirs} directories under ${options.sessions} session directories, ` +
      `${options.files} files per phase`,
    `machine: ${machine.cpus} cores, load average ${load(machine.loadBefore)} before, ${load(machine.loadAfter)} after; ${machine.kernel}; node ${machine.node}; revision ${machine.revision}`,
    `run: ${suite.startedAt} → ${suite.finishedAt}`,
  ];
  for (const cluster of suite.clusters) {
    const placement = suite.runs.find((run) => run.shards === cluster.shards && run.result.placement !== null)?.result.placement ?? null;
    const idle = suite.runs.filter((run) => run.shards === cluster.shards && run.idleClustersCores !== null).map((run) => run.idleClustersCores!);
    let line = `${cluster.shards} shard${cluster.shards === 1 ? "" : "s"}: ${cluster.description}, up in ${cluster.startSeconds.toFixed(0)} s`;
    if (placement !== null) {
      line += `; directories per shard ${perShard(placement.dirsPerShard)}, files per shard ${perShard(placement.filesPerShard)}`;
      line += placement.mapSource === "kv" ? ` (shard map v${placement.mapVersion} read from the cluster)` : " (initial shard map: the cluster's was unreadable)";
    }
    if (idle.length > 0) line += `; the idle clusters used ${(idle.reduce((sum, cores) => sum + cores, 0) / idle.length).toFixed(2)} cores meanwhile`;
    lines.push(line);
  }
  return lines;
}

/** Notes under the table: errors, truncation, missing counters, placement surprises. */
export function shardNotes(suite: ShardScalingSuite): string[] {
  const notes = [...suite.notes];
  for (const run of suite.runs) {
    const label = `${run.shards} shard${run.shards === 1 ? "" : "s"} r${run.round}`;
    for (const note of run.result.notes) notes.push(`${label}: ${note}`);
    const placement = run.result.placement;
    if (placement?.statsUnavailable != null) notes.push(`${label}: measured cross-shard share unavailable: ${placement.statsUnavailable}`);
    if (placement !== null && placement.slotMismatches > 0) {
      notes.push(`${label}: ${placement.slotMismatches} directories did not get the slot BLAKE3(parent‖name) names`);
    }
    for (const phase of run.result.phases) {
      if (phase.errors > 0) notes.push(`${label} ${phase.phase}: ${phase.errors} errors, e.g. ${phase.errorSamples.join("; ")}`);
      if (phase.truncated) notes.push(`${label} ${phase.phase}: stopped by the ${suite.options.phaseSeconds} s phase budget`);
    }
  }
  for (const failure of suite.failures) notes.push(`FAILED: ${failure}`);
  return notes;
}

function elapsedLine(suite: ShardScalingSuite): string {
  const minutes = Math.floor(suite.elapsedSeconds / 60);
  const seconds = Math.round(suite.elapsedSeconds - minutes * 60);
  return `elapsed: ${minutes > 0 ? `${minutes} min ${seconds} s` : `${seconds} s`}`;
}

export function formatShardText(suite: ShardScalingSuite): string {
  const lines = [...formatShardHeader(suite), "", formatShardTable(suite.summary, "text"), "", ...shardTableLegend];
  for (const note of shardNotes(suite)) lines.push(`note: ${note}`);
  lines.push(elapsedLine(suite));
  return lines.join("\n");
}

export function formatShardMarkdown(suite: ShardScalingSuite): string {
  const lines = [
    `# Antler shard scaling ${suite.startedAt}`,
    "",
    ...formatShardHeader(suite).map((line) => `- ${line}`),
    "",
    formatShardTable(suite.summary, "markdown"),
    "",
    ...shardTableLegend.map((line) => `- ${line}`),
  ];
  const notes = shardNotes(suite);
  if (notes.length > 0) lines.push("", ...notes.map((note) => `- note: ${note}`));
  lines.push("", `- ${elapsedLine(suite)}`);
  return `${lines.join("\n")}\n`;
}
