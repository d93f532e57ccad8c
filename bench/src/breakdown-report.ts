/**
 * The per-hop breakdown as tables: per command (p50/p99 of every hop), and where the time of an
 * average read and write goes (means, which unlike percentiles add up, so the hops' shares of the
 * client-measured latency are exact). Whatever the spans did not show is said in notes below the
 * tables, never filled in.
 */
import { type Breakdown, commandGroups, type Hop, hops } from "./breakdown.ts";
import { renderTable, type TableStyle } from "./report.ts";

/** Client-measured latency of one command or group in the traced round (from the load generator). */
export interface ClientLatency {
  count: number;
  p50: number;
  p99: number;
  mean: number;
}

export interface BreakdownReport {
  /** The Antler profile the traced round ran on. */
  profile: string;
  /** How the traced round ran (sessions × in flight, operations per phase). */
  shape: string;
  spanFiles: string[];
  malformedLines: number;
  breakdown: Breakdown;
  /** By command kind (getattr, mkdir, …), from the traced round's phases. */
  client: Record<string, ClientLatency>;
  /** By command group name (commandGroups), the phases' histograms merged. */
  clientGroups: Record<string, ClientLatency>;
}

/** Load-generator phase → the metadata command its requests carry. */
export const commandOfPhase: Readonly<Record<string, string>> = {
  mkdir: "mkdir", create: "create", stat: "getattr", lookup: "lookup", readdir: "readdir", rename: "rename", unlink: "unlink", rmdir: "rmdir",
};

const outsideSpans = "client ↔ gateway (outside the spans)";

function micros(value: number): string {
  return String(Math.round(value));
}

function pair(stats: { p50: number; p99: number } | null | undefined): string {
  return stats === null || stats === undefined ? "–" : `${micros(stats.p50)} / ${micros(stats.p99)}`;
}

export function formatCommandTable(report: BreakdownReport, style: TableStyle): string {
  const headers = ["command", "traces", "client", "gateway span", ...hops];
  const rows = report.breakdown.commands.map((command) => [
    command.command,
    String(command.complete),
    pair(report.client[command.command]),
    pair(command.total),
    ...hops.map((hop) => pair(command.hops[hop])),
  ]);
  return renderTable(headers, rows, style);
}

/**
 * Per group: each hop's p50, and its mean with the share of the client-measured mean. Means add
 * up (the shares sum to 100 %), so "outside the spans" — load generator, TCP, MooseFS framing in
 * the gateway — is the client's mean minus the gateway span's mean; medians do not add up, so that
 * row has no p50.
 */
export function formatWhereTable(report: BreakdownReport, style: TableStyle): string {
  const groups = report.breakdown.groups;
  const share = (value: number | null | undefined, whole: number | undefined) =>
    value === null || value === undefined ? "–" : whole === undefined || whole <= 0 ? micros(value) : `${micros(value)} (${Math.round((value / whole) * 100)} %)`;
  const p50 = (stats: { p50: number } | null | undefined) => (stats === null || stats === undefined ? "–" : micros(stats.p50));
  const rows: string[][] = [];
  rows.push([
    outsideSpans,
    ...groups.flatMap((group) => {
      const client = report.clientGroups[group.name];
      return ["–", share(client === undefined || group.total === null ? null : client.mean - group.total.mean, client?.mean)];
    }),
  ]);
  for (const hop of hops) {
    if (groups.every((group) => group.hops[hop] === null)) continue;
    rows.push([hop, ...groups.flatMap((group) => [p50(group.hops[hop]), share(group.hops[hop]?.mean, report.clientGroups[group.name]?.mean)])]);
  }
  rows.push(["gateway span", ...groups.flatMap((group) => [p50(group.total), share(group.total?.mean, report.clientGroups[group.name]?.mean)])]);
  rows.push(["total at the client", ...groups.flatMap((group) => [p50(report.clientGroups[group.name]), share(report.clientGroups[group.name]?.mean, undefined)])]);
  const headers = ["µs", ...groups.flatMap((group) => [`${group.name} p50`, "mean (share)"])];
  return renderTable(headers, rows, style);
}

export const whereLegend =
  "reads = getattr + lookup, writes = mkdir + create + rename + unlink + rmdir; p50 of each hop, and its mean with its share of the " +
  "client-measured mean: the hop rows and \"outside the spans\" (client mean − gateway span mean: load generator, TCP, MooseFS framing) " +
  "add up to 100 %; gateway span = the hops together";

/** What the spans could not show: missing traces or hops, clock error, unreadable lines. */
export function breakdownNotes(report: BreakdownReport): string[] {
  const notes: string[] = [];
  const { breakdown } = report;
  if (breakdown.spans === 0) {
    notes.push(`no spans were written (${report.spanFiles.length} span files): the services did not trace; no breakdown`);
    return notes;
  }
  if (report.malformedLines > 0) notes.push(`${report.malformedLines} unreadable span lines were skipped`);
  for (const command of breakdown.commands) {
    for (const [reason, count] of Object.entries(command.incomplete)) notes.push(`${command.command}: ${count} of ${command.roots} traces left out: ${reason}`);
    const negative = hops.filter((hop) => (command.hops[hop]?.negative ?? 0) > 0);
    for (const hop of negative) {
      notes.push(`${command.command}: ${hop} below zero in ${command.hops[hop]!.negative} of ${command.hops[hop]!.count} traces (clock difference between processes)`);
    }
    const group = commandGroups.find((candidate) => candidate.commands.includes(command.command));
    if (group?.name === "writes" && command.withAppend < command.complete) {
      notes.push(`${command.command}: ${command.complete - command.withAppend} of ${command.complete} traces had no log append span of their own (batched with another request); their wait for the log counts in shard + reply`);
    }
  }
  const seen = new Set(breakdown.commands.map((command) => command.command));
  const absent = Object.keys(report.client).filter((command) => !seen.has(command));
  if (absent.length > 0) notes.push(`no gateway spans for ${absent.join(", ")}`);
  // Every complete trace has these; the last hops depend on whether it appended to the log.
  const chainHops: readonly Hop[] = ["gateway", "gateway→router", "router", "router→shard"];
  const missingHops = chainHops.filter((hop) => breakdown.commands.every((command) => command.hops[hop] === null));
  if (missingHops.length > 0) notes.push(`no trace showed these hops: ${missingHops.join(", ")}`);
  return notes;
}

export const breakdownLegend =
  "cells: p50 / p99 in µs over the complete traces; client = latency at the load generator; gateway span = the gateway's whole call; " +
  "hops: gateway = in the gateway around its NATS request, gateway→router and router→shard = NATS delivery, shard = decode + execute + queue for the log, " +
  "log append = JetStream publish until acknowledged, reply = release + encode + NATS + gateway wake-up after the append, " +
  "shard + reply = the same for a request without a log append (reads: the shard's span does not mark when its reply left). " +
  "Percentiles of hops do not add up; means do.";

export function formatBreakdown(report: BreakdownReport, style: TableStyle): string {
  const lines = [
    `per-hop breakdown, profile ${report.profile}: ${report.shape}, ${report.breakdown.spans} spans from ${report.spanFiles.length} processes`,
    "",
  ];
  const notes = breakdownNotes(report);
  if (report.breakdown.spans > 0) {
    lines.push(formatCommandTable(report, style), "", breakdownLegend, "", formatWhereTable(report, style), "", whereLegend);
  }
  if (notes.length > 0 && report.breakdown.spans > 0) lines.push("");
  for (const note of notes) lines.push(style === "markdown" ? `- note: ${note}` : `note: ${note}`);
  return lines.join("\n");
}
