// `antler fsck --data DIR --json` for the sharded tests: run inside the cluster's namespace (the
// cluster's NATS listens on that namespace's 127.0.0.1), exit 0 = consistent, 1 = problems.
//
// A transaction prepared when a process died is resolved by its participants within
// limits.txResolveAfterMs; until then fsck lists it as pending and the shards' halves of it may
// disagree (a node without its entry yet). `fsckUntilSettled` therefore repeats fsck while it
// reports pending transactions (or could not run at all, e.g. a shard leader still electing), up
// to a bound, and returns the last report: problems without any pending transaction end it at once.

import { antlerBin } from "./antler.ts";
import type { Netns } from "./netns.ts";
import { sleep } from "./proc.ts";

/** One fsck pages every shard; on a loaded machine with 20,000+ nodes that takes a while. */
const fsckTimeoutMs = 120_000;
const retryIntervalMs = 500;

export interface FsckReport {
  /** Exit status (null: killed by a signal or the timeout). */
  readonly code: number | null;
  readonly timedOut: boolean;
  /** The parsed `--json` output, or undefined when stdout held no JSON. */
  readonly json: unknown;
  /** Every `problems` entry found in the output (at any depth), as text. */
  readonly problems: readonly string[];
  /** Every prepared/pending transaction the output lists (at any depth), as text. */
  readonly pending: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

export function fsckClean(report: FsckReport): boolean {
  return report.code === 0;
}

/** A few lines saying why fsck failed (for assertion messages). */
export function describeFsck(report: FsckReport, linesMax = 40): string {
  const how = report.timedOut ? `timed out after ${fsckTimeoutMs} ms` : `exited ${report.code}`;
  const lines = [`antler fsck ${how} after ${report.elapsedMs} ms; ${report.problems.length} problem(s), ${report.pending.length} pending transaction(s)`];
  for (const problem of report.problems.slice(0, linesMax)) lines.push(`  problem: ${problem}`);
  for (const txn of report.pending.slice(0, 10)) lines.push(`  pending: ${txn}`);
  if (report.json === undefined) lines.push(`--- stdout\n${report.stdout.slice(0, 4_000)}`);
  if (report.stderr.trim() !== "") lines.push(`--- stderr\n${report.stderr.slice(-4_000)}`);
  return lines.join("\n");
}

export async function runFsck(netns: Netns, dataDir: string): Promise<FsckReport> {
  const started = Date.now();
  const result = await netns.run([antlerBin, "fsck", "--data", dataDir, "--json"], { timeoutMs: fsckTimeoutMs });
  const json = parseJson(result.stdout);
  return {
    code: result.code,
    timedOut: result.timedOut,
    json,
    problems: json === undefined ? [] : collect(json, problemKeys),
    pending: json === undefined ? [] : collect(json, pendingKeys),
    stdout: result.stdout,
    stderr: result.stderr,
    elapsedMs: Date.now() - started,
  };
}

/**
 * Runs fsck until it is clean, or reports problems while no transaction is pending, or
 * `settleMs` has passed; returns the last report and how many runs it took.
 */
export async function fsckUntilSettled(netns: Netns, dataDir: string, settleMs: number): Promise<{ report: FsckReport; runs: number }> {
  const deadline = Date.now() + settleMs;
  let runs = 0;
  for (;;) {
    const report = await runFsck(netns, dataDir);
    runs++;
    if (fsckClean(report) || report.timedOut) return { report, runs };
    const settling = report.pending.length > 0 || report.json === undefined;
    if (!settling || Date.now() >= deadline) return { report, runs };
    await sleep(retryIntervalMs);
  }
}

function parseJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    // A line-per-object output: the last line that parses is the summary.
    for (const line of trimmed.split("\n").reverse()) {
      try {
        return JSON.parse(line);
      } catch {
        // Not JSON; keep looking.
      }
    }
    return undefined;
  }
}

const problemKeys = new Set(["problems", "errors", "violations"]);
const pendingKeys = new Set(["prepared", "pending", "pendingTransactions", "preparedTransactions", "pendingTxns", "preparedTxns"]);

/** Every element of every array under one of `keys`, anywhere in `value`, as text. */
function collect(value: unknown, keys: ReadonlySet<string>): string[] {
  const found: string[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1);
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      if (keys.has(key) && Array.isArray(child)) {
        for (const item of child) found.push(typeof item === "string" ? item : JSON.stringify(item));
      } else {
        walk(child, depth + 1);
      }
    }
  };
  walk(value, 0);
  return found;
}
