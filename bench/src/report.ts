/**
 * The benchmark's output: one record of the whole run (JSON) and its comparison table, as aligned
 * text for the terminal and as Markdown for the results file and docs/benchmarks.md.
 *
 * Ratios are always Antler ÷ mfsmaster. For latency below 1 means Antler is faster; for ops/s
 * above 1 means Antler is faster.
 */
import type { BenchOptions } from "./args.ts";
import { formatMicros } from "./phase-runner.ts";
import { type LoadResult, type PhaseSummary, summarizePhase } from "./result.ts";
import type { TargetName } from "./target.ts";

export interface MachineInfo {
  cpus: number;
  loadBefore: readonly number[];
  loadAfter: readonly number[];
  kernel: string;
  node: string;
  /** git revision of the checkout (with "+changes" when the tree is dirty), or "unknown". */
  revision: string;
}

export interface RoundRecord {
  round: number;
  target: TargetName;
  result: LoadResult;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: BenchOptions;
  /** Present targets only, in the order they ran. */
  targets: Array<{ name: TargetName; description: string }>;
  rounds: RoundRecord[];
  summary: Array<{ name: TargetName; phases: PhaseSummary[] }>;
  notes: string[];
}

/** Merges each target's rounds phase by phase (histograms merged, ops/s median over rounds). */
export function summarize(targets: readonly TargetName[], rounds: readonly RoundRecord[]): BenchReport["summary"] {
  return targets.map((name) => {
    const mine = rounds.filter((record) => record.target === name);
    const phaseNames = [...new Set(mine.flatMap((record) => record.result.phases.map((phase) => phase.phase)))];
    return {
      name,
      phases: phaseNames.map((phase) =>
        summarizePhase(
          phase,
          mine.flatMap((record) => record.result.phases.filter((candidate) => candidate.phase === phase)),
        ),
      ),
    };
  });
}

export type TableStyle = "text" | "markdown";

/** Antler ÷ mfsmaster, "–" when either side is missing or zero. */
export function formatRatio(antler: number | undefined, reference: number | undefined): string {
  if (antler === undefined || reference === undefined || antler === 0 || reference === 0) return "–";
  const ratio = antler / reference;
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio >= 1 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

export function formatRate(opsPerSecond: number): string {
  if (opsPerSecond >= 100) return String(Math.round(opsPerSecond));
  return opsPerSecond.toFixed(1);
}

/** The comparison table (both targets) or a single-target table. */
export function formatTable(summary: BenchReport["summary"], style: TableStyle): string {
  const antler = summary.find((entry) => entry.name === "antler");
  const reference = summary.find((entry) => entry.name === "mfsmaster");
  if (antler !== undefined && reference !== undefined) {
    const phases = [...new Set([...antler.phases, ...reference.phases].map((phase) => phase.phase))];
    const rows = phases.map((phase) => {
      const a = antler.phases.find((candidate) => candidate.phase === phase);
      const m = reference.phases.find((candidate) => candidate.phase === phase);
      const cell = (summaryOf: PhaseSummary | undefined, pick: (s: PhaseSummary) => string) => (summaryOf === undefined ? "–" : pick(summaryOf));
      return [
        phase + (a?.truncated || m?.truncated ? " (truncated)" : ""),
        cell(a, (s) => formatMicros(s.p50Micros)),
        cell(m, (s) => formatMicros(s.p50Micros)),
        formatRatio(a?.p50Micros, m?.p50Micros),
        cell(a, (s) => formatMicros(s.p99Micros)),
        cell(m, (s) => formatMicros(s.p99Micros)),
        formatRatio(a?.p99Micros, m?.p99Micros),
        cell(a, (s) => formatRate(s.opsPerSecond)),
        cell(m, (s) => formatRate(s.opsPerSecond)),
        formatRatio(a?.opsPerSecond, m?.opsPerSecond),
        `${a?.errors ?? "–"}/${m?.errors ?? "–"}`,
      ];
    });
    const headers = ["phase", "antler p50", "mfs p50", "ratio", "antler p99", "mfs p99", "ratio", "antler ops/s", "mfs ops/s", "ratio", "errors a/m"];
    return renderTable(headers, rows, style);
  }
  const only = antler ?? reference;
  if (only === undefined) return "(no results)";
  const headers = ["phase", `${only.name} p50`, "p90", "p99", "max", "ops/s", "ops/s per round", "client cpu", "errors"];
  const rows = only.phases.map((phase) => [
    phase.phase + (phase.truncated ? " (truncated)" : ""),
    formatMicros(phase.p50Micros),
    formatMicros(phase.p90Micros),
    formatMicros(phase.p99Micros),
    formatMicros(phase.maxMicros),
    formatRate(phase.opsPerSecond),
    phase.opsPerSecondByRound.map(formatRate).join(" "),
    `${Math.round(phase.clientCpuShare * 100)} %`,
    String(phase.errors),
  ]);
  return renderTable(headers, rows, style);
}

/** "gateway 210 · shard 150 · nats-server 40" (µs per operation, largest first). */
export function formatCpuBreakdown(byProcess: Record<string, number>): string {
  return Object.entries(byProcess)
    .filter(([, micros]) => micros >= 0.5)
    .sort(([, a], [, b]) => b - a)
    .map(([name, micros]) => `${name} ${formatCpuMicros(micros)}`)
    .join(" · ");
}

function formatShare(share: number | undefined): string {
  return share === undefined ? "–" : `${Math.round(share * 100)} %`;
}

function formatCpuMicros(micros: number | null | undefined): string {
  if (micros === null || micros === undefined) return "–";
  return micros >= 100 ? String(Math.round(micros)) : micros.toFixed(1);
}

/**
 * Server CPU time per successful operation (µs): all processes in the server's namespace, with
 * the busiest ones named. On a small machine this, not latency, bounds the throughput.
 */
export function formatCpuTable(summary: BenchReport["summary"], style: TableStyle): string {
  const antler = summary.find((entry) => entry.name === "antler");
  const reference = summary.find((entry) => entry.name === "mfsmaster");
  const phases = [...new Set(summary.flatMap((entry) => entry.phases.map((phase) => phase.phase)))];
  const rows = phases.map((phase) => {
    const a = antler?.phases.find((candidate) => candidate.phase === phase);
    const m = reference?.phases.find((candidate) => candidate.phase === phase);
    const row = [phase];
    if (antler !== undefined) row.push(formatCpuMicros(a?.serverCpuMicrosPerOp));
    if (reference !== undefined) row.push(formatCpuMicros(m?.serverCpuMicrosPerOp));
    if (antler !== undefined && reference !== undefined) {
      row.push(formatRatio(a?.serverCpuMicrosPerOp ?? undefined, m?.serverCpuMicrosPerOp ?? undefined));
      row.push(`${formatShare(a?.clientCpuShare)}/${formatShare(m?.clientCpuShare)}`);
    }
    row.push(formatCpuBreakdown((antler !== undefined ? a : m)?.serverCpuMicrosPerOpByProcess ?? {}));
    return row;
  });
  const headers = ["phase"];
  if (antler !== undefined) headers.push("antler cpu/op");
  if (reference !== undefined) headers.push("mfs cpu/op");
  if (antler !== undefined && reference !== undefined) headers.push("ratio", "client cpu a/m");
  headers.push(`${antler !== undefined ? "antler" : "mfsmaster"} cpu/op by process (µs)`);
  return renderTable(headers, rows, style, [headers.length - 1]);
}

/**
 * Left-aligned first column (and any column listed in `leftAligned`), right-aligned numbers;
 * Markdown gets the matching alignment row.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], style: TableStyle, leftAligned: readonly number[] = []): string {
  const left = (column: number) => column === 0 || leftAligned.includes(column);
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const pad = (text: string, column: number) => (left(column) ? text.padEnd(widths[column]!) : text.padStart(widths[column]!));
  const line = (cells: readonly string[]) =>
    style === "markdown" ? `| ${cells.map(pad).join(" | ")} |` : cells.map(pad).join("  ").trimEnd();
  const separator =
    style === "markdown"
      ? `|${widths.map((width, column) => (left(column) ? `:${"-".repeat(width + 1)}` : `${"-".repeat(width + 1)}:`)).join("|")}|`
      : widths.map((width) => "-".repeat(width)).join("  ");
  return [line(headers), separator, ...rows.map(line)].join("\n");
}

/** Heading lines: what ran, on what machine. */
export function formatHeader(report: BenchReport): string[] {
  const { options, machine } = report;
  const shape =
    options.mode === "protocol"
      ? `protocol mode, ${plural(options.sessions, "session")} × ${options.inflight} in flight`
      : `mount mode (mfsmount), 1 and ${options.workers} workers`;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(" ");
  return [
    `${shape}, profile ${options.profile}, ${plural(options.rounds, "round")} × ${options.ops} ops per phase, ${options.entriesPerDir} entries per directory`,
    `machine: ${machine.cpus} cores, load average ${load(machine.loadBefore)} before, ${load(machine.loadAfter)} after; ${machine.kernel}; node ${machine.node}; revision ${machine.revision}`,
    `run: ${report.startedAt} → ${report.finishedAt}`,
    ...report.targets.map((target) => `${target.name}: ${target.description}`),
  ];
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

export const ratioLegend = "ratio = antler ÷ mfsmaster (latency: below 1 means Antler is faster; ops/s: above 1 means Antler is faster)";

export const cpuLegend =
  "cpu/op = CPU time of the server's processes (all processes in its namespace but mfsmount) ÷ successful operations, in µs " +
  "(/proc counts in 10 ms ticks); client cpu = load generator CPU time ÷ phase time (near 100 % = the client set the pace)";

export function formatText(report: BenchReport): string {
  const lines = [...formatHeader(report), "", formatTable(report.summary, "text")];
  if (report.targets.length === 2) lines.push("", ratioLegend);
  lines.push("", formatCpuTable(report.summary, "text"), "", cpuLegend);
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join("\n");
}

export function formatMarkdown(report: BenchReport): string {
  const lines = [
    `# Antler benchmark ${report.startedAt}`,
    "",
    ...formatHeader(report).map((line) => `- ${line}`),
    "",
    formatTable(report.summary, "markdown"),
  ];
  if (report.targets.length === 2) lines.push("", ratioLegend);
  lines.push("", formatCpuTable(report.summary, "markdown"), "", cpuLegend);
  if (report.notes.length > 0) lines.push("", ...report.notes.map((note) => `- note: ${note}`));
  return `${lines.join("\n")}\n`;
}
