/**
 * Where the time of one metadata operation goes, from the spans the services write during a traced
 * round (ANTLER_OTEL_SPAN_DIR, libs/telemetry file-exporter.ts). One gateway call is one trace:
 *
 *   R  gateway   "<command>"            root, CLIENT: the whole call inside the gateway
 *   T  gateway   "request <subject>"    child of R: one NATS request attempt
 *   F  router    "router forward"       child of T: slot → shard, publish
 *   S  shard     "shard request"        child of F: execute, wait for the log, reply
 *   A  shard     "shard log append"     child of S: the JetStream append (only on the request
 *                                       whose entry opened the batch; reads have none)
 *
 * Hops of one trace, which add up exactly to R's duration:
 *
 *   gateway         R − T                (in the gateway, around the NATS request)
 *   gateway→router  F.start − T.start    (NATS: publish, server, delivery to the router)
 *   router          F                    (router process)
 *   router→shard    S.start − F.end      (NATS again)
 *   shard           A.start − S.start    (decode, execute, queue for the log)        with A
 *   log append      A                    (JetStream publish until its ack, replication included)
 *   reply           T.end − A.end        (release, encode, publish, NATS, gateway wake-up)
 *   shard + reply   T.end − S.start      (the same two for a request without A: a read)
 *
 * S's end is never used: the span closes when the shard's event-loop task ends, which can be well
 * after its reply left (measured: "T.end − S.end" went below zero for most reads), so S cannot
 * split a read's shard time from its reply path. A.end is taken when the ack arrives, before the
 * release, so it can.
 *
 * Cross-process hops compare clocks of different processes on one machine (same system clock, µs
 * resolution); a negative value can only be clock error and is counted, not hidden. A trace that
 * lacks a span, or took another shape (retried request, fan-out to all shards), is not used for the
 * hops and is counted with its reason: missing data is reported, never filled in.
 *
 * Pure: span records in, numbers out.
 */
import type { SpanRecord } from "@antler/telemetry";

export const hops = ["gateway", "gateway→router", "router", "router→shard", "shard", "log append", "reply", "shard + reply"] as const;
export type Hop = (typeof hops)[number];

const gatewayService = "antler-gateway";
const requestSpanPrefix = "request ";
const forwardSpanName = "router forward";
const fanOutSpanName = "router fan-out";
const shardSpanName = "shard request";
const appendSpanName = "shard log append";

export interface Stats {
  count: number;
  p50: number;
  p99: number;
  mean: number;
  /** Values below zero (cross-process clock error); 0 for in-process hops. */
  negative: number;
}

export interface CommandBreakdown {
  /** The gateway's root span name: the metadata command kind (mkdir, getattr, …). */
  command: string;
  /** Root spans seen for this command. */
  roots: number;
  /** Traces with every span of the chain: the hops are computed from these only. */
  complete: number;
  /** Why the other traces were left out, with counts ("no router span": 3). */
  incomplete: Record<string, number>;
  /** Complete traces that carried their own log append (the first entry of a batch). */
  withAppend: number;
  /** R's duration over the complete traces. */
  total: Stats | null;
  /** Per hop over the complete traces; null when no trace had it (log append of a read). */
  hops: Record<Hop, Stats | null>;
}

/** Commands pooled: every complete trace of its commands counts once. */
export interface GroupBreakdown {
  name: string;
  commands: string[];
  complete: number;
  total: Stats | null;
  hops: Record<Hop, Stats | null>;
}

export interface Breakdown {
  /** Span records read. */
  spans: number;
  /** Traces whose root is not a gateway call (service-internal work); not analysed. */
  otherTraces: number;
  commands: CommandBreakdown[];
  /** commandGroups that had at least one complete trace. */
  groups: GroupBreakdown[];
}

/** The groups of "where the time goes": reads, writes and listings behave differently. */
export const commandGroups: ReadonlyArray<{ name: string; commands: readonly string[] }> = [
  { name: "reads", commands: ["getattr", "lookup"] },
  { name: "writes", commands: ["mkdir", "create", "rename", "unlink", "rmdir"] },
  { name: "readdir", commands: ["readdir"] },
];

export interface Chain {
  root: SpanRecord;
  request: SpanRecord;
  forward: SpanRecord;
  shard: SpanRecord;
  append: SpanRecord | null;
}

const end = (span: SpanRecord) => span.startMicros + span.durationMicros;

/** The hop values of one complete trace (null where the hop does not apply); they sum to the root's duration. */
export function hopValues(chain: Chain): Record<Hop, number | null> {
  const { root, request, forward, shard, append } = chain;
  return {
    "gateway": root.durationMicros - request.durationMicros,
    "gateway→router": forward.startMicros - request.startMicros,
    "router": forward.durationMicros,
    "router→shard": shard.startMicros - end(forward),
    "shard": append === null ? null : append.startMicros - shard.startMicros,
    "log append": append?.durationMicros ?? null,
    "reply": append === null ? null : end(request) - end(append),
    "shard + reply": append === null ? end(request) - shard.startMicros : null,
  };
}

/** Finds the chain below a root, or the reason there is none. */
export function chainOf(root: SpanRecord, childrenOf: (span: SpanRecord) => readonly SpanRecord[]): Chain | string {
  const below = childrenOf;
  const requests = below(root).filter((span) => span.name.startsWith(requestSpanPrefix));
  if (requests.length === 0) return "no gateway NATS request span";
  if (requests.length > 1) return "request retried";
  const request = requests[0]!;
  const routed = below(request);
  if (routed.some((span) => span.name === fanOutSpanName)) return "fan-out to all shards";
  const forwards = routed.filter((span) => span.name === forwardSpanName);
  if (forwards.length === 0) return "no router span";
  if (forwards.length > 1) return "more than one router span";
  const forward = forwards[0]!;
  const shards = below(forward).filter((span) => span.name === shardSpanName);
  if (shards.length === 0) return "no shard span";
  if (shards.length > 1) return "more than one shard span";
  const shard = shards[0]!;
  const appends = below(shard).filter((span) => span.name === appendSpanName);
  if (appends.length > 1) return "more than one log append span";
  return { root, request, forward, shard, append: appends[0] ?? null };
}

/** Nearest-rank percentile of sorted values (exact: the samples are few). */
export function percentileOf(sorted: readonly number[], percentile: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((percentile / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function statsOf(values: readonly number[]): Stats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentileOf(sorted, 50),
    p99: percentileOf(sorted, 99),
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    negative: sorted.filter((value) => value < 0).length,
  };
}

export function computeBreakdown(spans: readonly SpanRecord[]): Breakdown {
  const children = new Map<string, SpanRecord[]>();
  const roots: SpanRecord[] = [];
  let otherTraces = 0;
  for (const span of spans) {
    if (span.parentSpanId === null) {
      if (span.service === gatewayService) roots.push(span);
      else otherTraces += 1;
      continue;
    }
    // Span ids are unique within a trace only; keying by both keeps unrelated traces apart.
    const key = `${span.traceId}/${span.parentSpanId}`;
    const siblings = children.get(key);
    if (siblings === undefined) children.set(key, [span]);
    else siblings.push(span);
  }

  const byCommand = new Map<string, { roots: number; incomplete: Record<string, number>; chains: Chain[] }>();
  for (const root of roots) {
    let entry = byCommand.get(root.name);
    if (entry === undefined) {
      entry = { roots: 0, incomplete: {}, chains: [] };
      byCommand.set(root.name, entry);
    }
    entry.roots += 1;
    const chain = chainOf(root, (span) => children.get(`${span.traceId}/${span.spanId}`) ?? []);
    if (typeof chain === "string") entry.incomplete[chain] = (entry.incomplete[chain] ?? 0) + 1;
    else entry.chains.push(chain);
  }

  const hopStatsOf = (chains: readonly Chain[]) => {
    const values = chains.map(hopValues);
    return Object.fromEntries(
      hops.map((hop) => [hop, statsOf(values.map((value) => value[hop]).filter((value): value is number => value !== null))]),
    ) as Record<Hop, Stats | null>;
  };
  const commands = [...byCommand.entries()].map(([command, entry]): CommandBreakdown => ({
    command,
    roots: entry.roots,
    complete: entry.chains.length,
    incomplete: entry.incomplete,
    withAppend: entry.chains.filter((chain) => chain.append !== null).length,
    total: statsOf(entry.chains.map((chain) => chain.root.durationMicros)),
    hops: hopStatsOf(entry.chains),
  }));
  commands.sort((a, b) => b.roots - a.roots || a.command.localeCompare(b.command));
  const groups = commandGroups.flatMap((group): GroupBreakdown[] => {
    const chains = group.commands.flatMap((command) => byCommand.get(command)?.chains ?? []);
    if (chains.length === 0) return [];
    return [{ name: group.name, commands: [...group.commands], complete: chains.length, total: statsOf(chains.map((chain) => chain.root.durationMicros)), hops: hopStatsOf(chains) }];
  });
  return { spans: spans.length, otherTraces, commands, groups };
}
