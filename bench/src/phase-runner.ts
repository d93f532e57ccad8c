/**
 * Runs one timed phase: several lanes (one per session or per worker pool), each with a fixed
 * number of operations and a fixed concurrency. Every loop is bounded twice: by the operation count
 * and by the phase deadline (after which no new operation starts and the phase is marked
 * truncated). A fatal outcome (the session died) stops its lane; the operations it did not run count
 * as errors so that a crash can never look like a fast phase.
 */
import { performance } from "node:perf_hooks";
import { Histogram } from "./histogram.ts";
import * as benchLimits from "./limits.ts";
import { cpuSecondsBetween, sampleNamespaceCpu } from "./process-cpu.ts";
import type { PhaseResult } from "./result.ts";

export type OpOutcome = { ok: true; micros: number } | { ok: false; error: string; fatal: boolean };

export interface Lane {
  count: number;
  concurrency: number;
  run(index: number): Promise<OpOutcome>;
}

export interface PhaseOptions {
  label: string;
  phase: string;
  budgetMs: number;
  /** Receives a progress line about once a second (the caller writes it to stderr). */
  progress: (line: string) => void;
  /** The server's network namespace (nsfs inode): its processes' CPU time is measured. */
  serverNetnsInode: number | null;
  /** How the server's processes are named in serverCpuSeconds (default: by service). */
  processName?: (pid: number) => string;
}

const errorSamplesMax = 5;

export async function runPhase(lanes: readonly Lane[], options: PhaseOptions): Promise<PhaseResult> {
  const histogram = new Histogram();
  const planned = lanes.reduce((sum, lane) => sum + lane.count, 0);
  const errorSamples = new Set<string>();
  let errors = 0;
  let truncated = false;
  const serverCpuAtStart = sampleNamespaceCpu(options.serverNetnsInode, process.pid, options.processName);
  const cpuAtStart = process.cpuUsage();
  const startedAt = performance.now();
  const deadline = startedAt + options.budgetMs;

  const noteError = (message: string, howMany = 1) => {
    errors += howMany;
    if (errorSamples.size < errorSamplesMax) errorSamples.add(message);
  };

  const progressTimer = setInterval(() => {
    const seconds = (performance.now() - startedAt) / 1000;
    const done = histogram.count + errors;
    options.progress(
      `[${options.label}] ${options.phase}: ${done}/${planned} ops, ${Math.round(histogram.count / seconds)} ops/s, ` +
        `p50 ${formatMicros(histogram.percentile(50))}, errors ${errors}`,
    );
  }, benchLimits.progressIntervalMs);

  const runLane = async (lane: Lane) => {
    let next = 0;
    let dead = false;
    const worker = async () => {
      while (next < lane.count && !dead) {
        if (performance.now() >= deadline) {
          truncated = true;
          return;
        }
        const index = next;
        next += 1;
        const outcome = await lane.run(index);
        if (outcome.ok) {
          histogram.record(outcome.micros);
        } else {
          noteError(outcome.error);
          if (outcome.fatal && !dead) {
            dead = true;
            const skipped = lane.count - next;
            if (skipped > 0) noteError(`${skipped} operations not run: ${outcome.error}`, skipped);
            next = lane.count;
          }
        }
      }
    };
    const workers: Promise<void>[] = [];
    for (let slot = 0; slot < Math.min(lane.concurrency, lane.count); slot += 1) workers.push(worker());
    await Promise.all(workers);
  };

  try {
    await Promise.all(lanes.map(runLane));
  } finally {
    clearInterval(progressTimer);
  }
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const serverCpuSeconds = cpuSecondsBetween(serverCpuAtStart, sampleNamespaceCpu(options.serverNetnsInode, process.pid, options.processName));
  return {
    phase: options.phase,
    count: histogram.count,
    errors,
    planned,
    errorSamples: [...errorSamples],
    elapsedSeconds,
    opsPerSecond: elapsedSeconds > 0 ? histogram.count / elapsedSeconds : 0,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    serverCpuSeconds,
    truncated,
    histogram: histogram.toJson(),
  };
}

/** 1234 → "1.23 ms", 87 → "87 µs", 2_500_000 → "2.50 s". */
export function formatMicros(micros: number): string {
  if (micros < 1000) return `${Math.round(micros)} µs`;
  if (micros < 1_000_000) return `${(micros / 1000).toFixed(micros < 10_000 ? 2 : 1)} ms`;
  return `${(micros / 1_000_000).toFixed(2)} s`;
}
