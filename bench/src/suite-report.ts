/**
 * The output of a whole `npm run bench`: one comparison per profile (report.ts), then the per-hop
 * breakdowns (breakdown-report.ts), then how long everything took.
 */
import { formatBreakdown } from "./breakdown-report.ts";
import type { BenchSuite, CpuProfileReport } from "./driver.ts";
import { formatMarkdown, formatText, renderTable, type TableStyle } from "./report.ts";

/** Processes below this share of the busiest one are left out of the CPU profile table. */
const cpuProfileShareMin = 0.05;

/** One row per busy process: its CPU time and the functions with the most self time. */
export function formatCpuProfile(report: CpuProfileReport, style: TableStyle): string {
  const busiest = report.processes[0]?.busyMicros ?? 0;
  const shown = report.processes.filter((process) => process.busyMicros >= busiest * cpuProfileShareMin);
  const rows = shown.map((process) => [
    `${process.service}${process.pid === null ? "" : ` ${process.pid}`}${process.thread !== null && process.thread !== 0 ? ` worker ${process.thread}` : ""}`,
    `${(process.busyMicros / 1e6).toFixed(2)} s`,
    process.top.map((cost) => `${cost.name} ${Math.round(cost.share * 100)} %`).join(" · "),
  ]);
  const lines = [`CPU profile, profile ${report.profile}: ${report.shape}; self time per function, as a share of the process's busy time`, ""];
  if (rows.length > 0) lines.push(renderTable(["process", "busy", "top functions (self time)"], rows, style, [2]));
  else lines.push("(no CPU profiles were written)");
  const left = report.processes.length - shown.length;
  if (left > 0) lines.push("", `${left} less busy processes not shown`);
  for (const skipped of report.skipped) lines.push(`note: unreadable profile ${skipped}`);
  return lines.join("\n");
}

export function formatElapsed(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  return minutes > 0 ? `${minutes} min ${rest} s` : `${rest} s`;
}

function failureLine(failure: BenchSuite["failures"][number]): string {
  // The launcher's output can be long; its last lines say why.
  const lines = failure.error.trim().split("\n");
  return `${failure.profile} ${failure.stage}: ${lines.length > 6 ? [lines[0], "…", ...lines.slice(-4)].join(" | ") : lines.join(" | ")}`;
}

function elapsedLine(suite: BenchSuite): string {
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(" ");
  return `elapsed: ${formatElapsed(suite.elapsedSeconds)} (${suite.startedAt} → ${suite.finishedAt}); load average ${load(suite.machine.loadBefore)} before, ${load(suite.machine.loadAfter)} after`;
}

function profileOf(suite: BenchSuite, index: number): string {
  const report = suite.reports[index]!;
  return report.targets.some((target) => target.name === "antler") ? `profile ${report.options.profile}` : "mfsmaster only";
}

export function formatSuiteText(suite: BenchSuite): string {
  const parts: string[] = [];
  suite.reports.forEach((report, index) => {
    if (suite.reports.length > 1) parts.push(`=== ${profileOf(suite, index)} ===`);
    parts.push(formatText(report), "");
  });
  for (const breakdown of suite.breakdowns) parts.push(`=== ${breakdown.profile}: where the time goes ===`, formatBreakdown(breakdown, "text"), "");
  for (const profile of suite.cpuProfiles) parts.push(`=== ${profile.profile}: CPU profile ===`, formatCpuProfile(profile, "text"), "");
  for (const failure of suite.failures) parts.push(`FAILED: ${failureLine(failure)}`);
  parts.push(elapsedLine(suite));
  return parts.join("\n");
}

export function formatSuiteMarkdown(suite: BenchSuite): string {
  const parts: string[] = [];
  suite.reports.forEach((report, index) => {
    // Each report's Markdown starts with its own "# " heading; one level down inside the suite.
    const text = formatMarkdown(report).replace(/^# Antler benchmark .*$/m, `## ${profileOf(suite, index)}`);
    parts.push(text);
  });
  for (const breakdown of suite.breakdowns) parts.push(`## ${breakdown.profile}: where the time goes`, "", formatBreakdown(breakdown, "markdown"), "");
  for (const profile of suite.cpuProfiles) parts.push(`## ${profile.profile}: CPU profile`, "", formatCpuProfile(profile, "markdown"), "");
  for (const failure of suite.failures) parts.push(`- **FAILED**: ${failureLine(failure)}`);
  parts.push(`- ${elapsedLine(suite)}`);
  return `# Antler benchmark ${suite.startedAt}\n\n${parts.join("\n")}\n`;
}
