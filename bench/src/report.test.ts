/**
 * The comparison table: rounds merge into one row per phase, ratios are Antler ÷ mfsmaster, columns
 * align in text and Markdown, and a single-target run gets its own table.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";
import { formatCpuBreakdown, formatCpuTable, formatRatio, formatTable, renderTable, summarize, type RoundRecord } from "./report.ts";
import type { PhaseResult } from "./result.ts";
import type { TargetName } from "./target.ts";

function phase(name: string, latencies: number[], opsPerSecond: number, errors = 0, serverCpuSeconds: Record<string, number> = {}): PhaseResult {
  const histogram = new Histogram();
  for (const latency of latencies) histogram.record(latency);
  return {
    phase: name, count: latencies.length, errors, planned: latencies.length + errors, errorSamples: [],
    elapsedSeconds: 1, opsPerSecond, clientCpuSeconds: 0.5, serverCpuSeconds, truncated: false, histogram: histogram.toJson(),
  };
}

function round(target: TargetName, index: number, phases: PhaseResult[]): RoundRecord {
  return { round: index, target, result: { label: `${target} r${index}`, phases, setupErrors: 0, cleanupErrors: 0, notes: [] } };
}

const rounds: RoundRecord[] = [
  round("antler", 1, [phase("create", [120, 120, 120, 4000], 1000), phase("stat", [100, 100], 5000, 1)]),
  round("mfsmaster", 1, [phase("create", [60, 60, 60, 1000], 4000), phase("stat", [50, 50], 10000)]),
  round("antler", 2, [phase("create", [120, 120, 120, 4000], 3000), phase("stat", [100, 100], 7000)]),
  round("mfsmaster", 2, [phase("create", [60, 60, 60, 1000], 8000), phase("stat", [50, 50], 10000)]),
];

test("rounds merge per phase: latency from the merged histogram, ops/s as the median of rounds", () => {
  const summary = summarize(["antler", "mfsmaster"], rounds);
  const antlerCreate = summary[0]!.phases.find((entry) => entry.phase === "create")!;
  assert.equal(antlerCreate.count, 8);
  assert.equal(antlerCreate.p50Micros, 120);
  assert.equal(antlerCreate.p99Micros, 4000);
  assert.equal(antlerCreate.opsPerSecond, 2000);
  assert.deepEqual(antlerCreate.opsPerSecondByRound, [1000, 3000]);
  assert.equal(summary[0]!.phases.find((entry) => entry.phase === "stat")!.errors, 1);
});

test("the comparison table shows both sides and their ratios", () => {
  const table = formatTable(summarize(["antler", "mfsmaster"], rounds), "text");
  const lines = table.split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^phase\s+antler p50\s+mfs p50\s+ratio\s+antler p99\s+mfs p99\s+ratio\s+antler ops\/s\s+mfs ops\/s\s+ratio\s+errors a\/m$/);
  const create = lines[2]!.split(/\s{2,}/);
  assert.deepEqual(create, ["create", "120 µs", "60 µs", "2.0×", "4.00 ms", "1.00 ms", "4.0×", "2000", "6000", "0.33×", "0/0"]);
  const stat = lines[3]!.split(/\s{2,}/);
  assert.deepEqual(stat, ["stat", "100 µs", "50 µs", "2.0×", "100 µs", "50 µs", "2.0×", "6000", "10000", "0.60×", "1/0"]);
  // Columns align: every cell of a column ends at the same offset (right-aligned numbers).
  const headerEnd = lines[0]!.indexOf("mfs p50") + "mfs p50".length;
  assert.ok(lines[2]!.slice(0, headerEnd).endsWith(" 60 µs"));
  assert.ok(lines[3]!.slice(0, headerEnd).endsWith(" 50 µs"));
});

test("Markdown output is a valid pipe table with right-aligned numbers", () => {
  const table = formatTable(summarize(["antler", "mfsmaster"], rounds), "markdown");
  const lines = table.split("\n");
  assert.ok(lines.every((line) => line.startsWith("|") && line.endsWith("|")));
  assert.equal(new Set(lines.map((line) => line.split("|").length)).size, 1, "same number of cells on every line");
  assert.match(lines[1]!, /^\|:-+\|(-+:\|)+$/);
});

test("a single target gets percentiles and per-round throughput", () => {
  const table = formatTable(summarize(["mfsmaster"], rounds), "text");
  const lines = table.split("\n");
  assert.match(lines[0]!, /^phase\s+mfsmaster p50\s+p90\s+p99\s+max\s+ops\/s\s+ops\/s per round\s+client cpu\s+errors$/);
  assert.deepEqual(lines[2]!.split(/\s{2,}/), ["create", "60 µs", "1.00 ms", "1.00 ms", "1.00 ms", "6000", "4000 8000", "50 %", "0"]);
});

test("ratios and alignment helpers", () => {
  assert.equal(formatRatio(3, 1), "3.0×");
  assert.equal(formatRatio(25, 1), "25×");
  assert.equal(formatRatio(1, 4), "0.25×");
  assert.equal(formatRatio(0, 4), "–");
  assert.equal(formatRatio(undefined, 4), "–");
  assert.equal(renderTable(["a", "bb"], [["xyz", "1"]], "text"), "a    bb\n---  --\nxyz   1");
  assert.equal(renderTable(["a", "bb", "c"], [["xyz", "1", "2"]], "text", [1]), "a    bb  c\n---  --  -\nxyz  1   2");
  assert.equal(renderTable(["a", "b"], [["x", "1"]], "markdown", [1]), "| a | b |\n|:--|:--|\n| x | 1 |");
});

test("server CPU per operation: summed over rounds, per process, compared", () => {
  const cpuRounds: RoundRecord[] = [
    round("antler", 1, [phase("create", [100, 100], 10, 0, { gateway: 0.0004, shard: 0.0002 })]),
    round("mfsmaster", 1, [phase("create", [50, 50], 10, 0, { mfsmaster: 0.00002 })]),
    round("antler", 2, [phase("create", [100, 100], 10, 0, { gateway: 0.0004, shard: 0.0002, "nats-server": 0.0001 })]),
    round("mfsmaster", 2, [phase("create", [50, 50], 10, 0, { mfsmaster: 0.00002 })]),
  ];
  const summary = summarize(["antler", "mfsmaster"], cpuRounds);
  const create = summary[0]!.phases[0]!;
  // 4 operations over two rounds: gateway 0.8 ms, shard 0.4 ms, nats 0.1 ms of CPU in total.
  assert.deepEqual(create.serverCpuMicrosPerOpByProcess, { gateway: 200, shard: 100, "nats-server": 25 });
  assert.equal(create.serverCpuMicrosPerOp, 325);
  assert.equal(summary[1]!.phases[0]!.serverCpuMicrosPerOp, 10);
  const lines = formatCpuTable(summary, "text").split("\n");
  assert.match(lines[0]!, /^phase\s+antler cpu\/op\s+mfs cpu\/op\s+ratio\s+client cpu a\/m\s+antler cpu\/op by process \(µs\)$/);
  // Client CPU: 0.5 s per round over 1 s phases in the test data.
  assert.deepEqual(lines[2]!.split(/\s{2,}/), ["create", "325", "10.0", "33×", "50 %/50 %", "gateway 200 · shard 100 · nats-server 25.0"]);
  assert.equal(formatCpuBreakdown({ a: 0.1, b: 3 }), "b 3.0", "negligible processes are left out");
});

test("phases without CPU samples show a dash", () => {
  const summary = summarize(["mfsmaster"], rounds);
  assert.equal(summary[0]!.phases[0]!.serverCpuMicrosPerOp, null);
  const lines = formatCpuTable(summary, "text").split("\n");
  assert.deepEqual(lines[2]!.split(/\s{2,}/), ["create", "–"]);
});

test("mfsmount shares the server's namespace but is not counted as server CPU", () => {
  const summary = summarize(["mfsmaster"], [round("mfsmaster", 1, [phase("create ×1", [80, 80], 10, 0, { mfsmaster: 0.0001, mfsmount: 0.0003 })])]);
  const create = summary[0]!.phases[0]!;
  assert.equal(create.serverCpuMicrosPerOp, 50);
  assert.deepEqual(create.serverCpuMicrosPerOpByProcess, { mfsmaster: 50, mfsmount: 150 });
});
