/**
 * What one load-generator run reports, in a JSON shape that crosses the process boundary (the child
 * prints it on stdout), plus the summary numbers the report needs.
 */
import { Histogram, type HistogramJson } from "./histogram.ts";
import { clientSideProcesses } from "./process-cpu.ts";

/** One timed phase as measured by one run against one target. */
export interface PhaseResult {
  phase: string;
  /** Operations that got a successful reply. */
  count: number;
  /** Operations that failed (status ≠ 0, timeout, protocol error, closed session, skipped). */
  errors: number;
  /** Operations planned; count + errors < planned only when the phase hit its time budget. */
  planned: number;
  /** Up to a few distinct error messages, for the operator. */
  errorSamples: string[];
  elapsedSeconds: number;
  opsPerSecond: number;
  /** CPU time the load generator itself used during the phase (user + system). */
  clientCpuSeconds: number;
  /** CPU time of the server's processes during the phase, by process name (empty if unknown). */
  serverCpuSeconds: Record<string, number>;
  truncated: boolean;
  /** Latency of the successful operations. */
  histogram: HistogramJson;
}

export interface LoadResult {
  label: string;
  phases: PhaseResult[];
  /** Untimed preparation and cleanup (run directory, buckets); errors here are reported only. */
  setupErrors: number;
  cleanupErrors: number;
  notes: string[];
}

/** Summary of a phase across rounds: latencies from the merged histogram, throughput per round. */
export interface PhaseSummary {
  phase: string;
  count: number;
  errors: number;
  p50Micros: number;
  p90Micros: number;
  p99Micros: number;
  maxMicros: number;
  /** Median over rounds of each round's ops/s. */
  opsPerSecond: number;
  opsPerSecondByRound: number[];
  /** Load generator CPU time ÷ phase wall time, over all rounds: near 1 means the client is the bottleneck. */
  clientCpuShare: number;
  /**
   * Server CPU time per successful operation, in µs, in total and by process name (null if
   * unknown). The total leaves out client-side processes (mfsmount); the breakdown lists them.
   */
  serverCpuMicrosPerOp: number | null;
  serverCpuMicrosPerOpByProcess: Record<string, number>;
  truncated: boolean;
}

export function summarizePhase(phase: string, rounds: readonly PhaseResult[]): PhaseSummary {
  const merged = new Histogram();
  for (const round of rounds) merged.merge(Histogram.fromJson(round.histogram));
  const rates = rounds.map((round) => round.opsPerSecond);
  return {
    phase,
    count: rounds.reduce((sum, round) => sum + round.count, 0),
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    p50Micros: merged.percentile(50),
    p90Micros: merged.percentile(90),
    p99Micros: merged.percentile(99),
    maxMicros: merged.maxMicros,
    opsPerSecond: median(rates),
    opsPerSecondByRound: rates,
    clientCpuShare: share(
      rounds.reduce((sum, round) => sum + (round.clientCpuSeconds ?? 0), 0),
      rounds.reduce((sum, round) => sum + round.elapsedSeconds, 0),
    ),
    ...serverCpuPerOp(rounds),
    truncated: rounds.some((round) => round.truncated),
  };
}

function serverCpuPerOp(rounds: readonly PhaseResult[]): Pick<PhaseSummary, "serverCpuMicrosPerOp" | "serverCpuMicrosPerOpByProcess"> {
  const count = rounds.reduce((sum, round) => sum + round.count, 0);
  const byProcess: Record<string, number> = {};
  for (const round of rounds) {
    for (const [name, seconds] of Object.entries(round.serverCpuSeconds ?? {})) byProcess[name] = (byProcess[name] ?? 0) + seconds;
  }
  const names = Object.keys(byProcess);
  if (count === 0 || names.length === 0) return { serverCpuMicrosPerOp: null, serverCpuMicrosPerOpByProcess: {} };
  let total = 0;
  for (const name of names) {
    byProcess[name] = (byProcess[name]! * 1e6) / count;
    if (!clientSideProcesses.has(name)) total += byProcess[name]!;
  }
  return { serverCpuMicrosPerOp: total, serverCpuMicrosPerOpByProcess: byProcess };
}

function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export class ResultFormatError extends Error {
  override name = "ResultFormatError";
}

/** Validates a child's stdout as a LoadResult (shape only; histograms are checked when merged). */
export function parseLoadResult(text: string): LoadResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ResultFormatError(`load generator printed no JSON result: ${text.slice(0, 200)}`, { cause: error });
  }
  const result = value as Partial<LoadResult> | null;
  if (result === null || typeof result !== "object" || !Array.isArray(result.phases) || typeof result.label !== "string") {
    throw new ResultFormatError("load generator result lacks label or phases");
  }
  for (const phase of result.phases as unknown[]) {
    const candidate = phase as Partial<PhaseResult> | null;
    if (candidate === null || typeof candidate !== "object" || typeof candidate.phase !== "string" || typeof candidate.count !== "number") {
      throw new ResultFormatError("malformed phase in load generator result");
    }
  }
  return result as LoadResult;
}
