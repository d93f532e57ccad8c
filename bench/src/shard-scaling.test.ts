/**
 * The shard-scaling benchmark's pure parts: its command line, the turn order of the clusters, the
 * stats-reply check, the arithmetic of the summary (cross-shard shares, cores, ratios) and the
 * table. The run itself starts three clusters (minutes), so it is not part of the default tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { UsageError } from "./args.ts";
import { Histogram } from "./histogram.ts";
import { parseShardScalingArgs, shardRunOrder } from "./shard-scaling-args.ts";
import { natsUrlOf } from "./shard-scaling-driver.ts";
import { formatCoresByProcess, formatShardMarkdown, formatShardTable, type ShardRun, type ShardScalingSuite, summarizeShardRuns } from "./shard-scaling-report.ts";
import { parseShardStats, ShardStatsFormatError } from "./shard-probe.ts";
import { forwardedDelta, shareOf, type ShardPhaseResult } from "./shard-workload.ts";

test("defaults: 1, 2 and 4 shards, 2 rounds, 4 sessions × 16 in flight", () => {
  assert.deepEqual(parseShardScalingArgs([]), {
    shardCounts: [1, 2, 4], rounds: 2, files: 4000, dirs: 512, sessions: 4, inflight: 16, phaseSeconds: 300, keep: false, jsonPath: null,
  });
  assert.equal(parseShardScalingArgs(["--help"]), "help");
});

test("every option, in both --flag value and --flag=value form", () => {
  assert.deepEqual(
    parseShardScalingArgs(["--shards=1,3", "--rounds", "3", "--files", "500", "--dirs=20", "--sessions", "2", "--inflight", "8", "--phase-seconds", "30", "--keep", "--json", "x.json"]),
    { shardCounts: [1, 3], rounds: 3, files: 500, dirs: 20, sessions: 2, inflight: 8, phaseSeconds: 30, keep: true, jsonPath: "x.json" },
  );
});

test("refused forms name the option", () => {
  for (const [argv, pattern] of [
    [["--shards", "4,2"], /ascending/],
    [["--shards", "1,1"], /ascending/],
    [["--shards", "1,x"], /whole numbers/],
    [["--shards", "0"], /between 1 and/],
    [["--shards", "1,2,3,4,5,6,7"], /at most 6/],
    [["--dirs", "3", "--sessions", "4"], /--dirs 3 must be at least --sessions 4/],
    [["--rounds", "0"], /--rounds must be between/],
    [["--files"], /--files needs a value/],
    [["--keep=yes"], /takes no value/],
    [["--profile", "ha"], /unknown option/],
    [["--rounds", "2", "--rounds", "3"], /given twice/],
  ] as const) {
    assert.throws(() => parseShardScalingArgs(argv), (error: unknown) => error instanceof UsageError && pattern.test(error.message), argv.join(" "));
  }
});

test("the clusters take turns forward, then backward", () => {
  assert.deepEqual(
    shardRunOrder([1, 2, 4], 3).map(({ round, shards }) => `${round}:${shards}`),
    ["1:1", "1:2", "1:4", "2:4", "2:2", "2:1", "3:1", "3:2", "3:4"],
  );
});

test("work is split evenly over the sessions, the first ones taking the remainder", () => {
  assert.deepEqual([0, 1, 2, 3].map((index) => shareOf(10, 4, index)), [3, 3, 2, 2]);
  assert.equal([0, 1, 2].reduce((sum, index) => sum + shareOf(256, 3, index), 0), 256);
});

test("the measured count sums every shard's counter; one that went back makes it unknown", () => {
  assert.equal(forwardedDelta([0, 10, 5], [3, 10, 9]), 7);
  assert.equal(forwardedDelta([0, 2139], [0, 12]), "shard 1's forwarded counter went back from 2139 to 12 (a new leader term)");
});

test("a stats reply must name the asked shard and carry whole counters", () => {
  const good = { shardId: 2, slots: 512, inodes: 10, dirs: 4, files: 6, opsPerSec: 1.5, forwarded: 7, preparedTxns: 0, replica: "shard-2" };
  assert.deepEqual(parseShardStats(good, 2), good);
  for (const [value, pattern] of [
    [null, /not an object/],
    [{ ...good, shardId: 1 }, /names shard 1, asked 2/],
    [{ ...good, forwarded: -1 }, /valid forwarded/],
    [{ ...good, inodes: "10" }, /valid inodes/],
  ] as const) {
    assert.throws(() => parseShardStats(value, 2), (error: unknown) => error instanceof ShardStatsFormatError && pattern.test(error.message));
  }
});

test("the NATS address comes from the cluster file, or is unknown", async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-shards-test-"));
  try {
    assert.equal(await natsUrlOf(dir), null);
    await fsp.writeFile(path.join(dir, "cluster.json"), JSON.stringify({ natsPort: 41234 }));
    assert.equal(await natsUrlOf(dir), "nats://127.0.0.1:41234");
    await fsp.writeFile(path.join(dir, "cluster.json"), JSON.stringify({ natsPort: "41234" }));
    assert.equal(await natsUrlOf(dir), null);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

function phase(name: string, count: number, seconds: number, latencyMicros: number, crossShard: ShardPhaseResult["crossShard"], cpu: Record<string, number>): ShardPhaseResult {
  const histogram = new Histogram();
  for (let index = 0; index < count; index += 1) histogram.record(latencyMicros);
  return {
    phase: name, count, errors: 0, planned: count, errorSamples: [], elapsedSeconds: seconds, opsPerSecond: count / seconds,
    clientCpuSeconds: 0.1, serverCpuSeconds: cpu, truncated: false, histogram: histogram.toJson(), crossShard,
  };
}

function run(round: number, shards: number, phases: ShardPhaseResult[]): ShardRun {
  const dirsPerShard = new Array<number>(shards).fill(Math.round(8 / shards));
  return {
    round, shards, idleClustersCores: 0.02,
    result: {
      label: `${shards} r${round}`, phases, setupErrors: 0, cleanupErrors: 0, notes: [],
      placement: { mapSource: "kv", mapVersion: 1, dirsPerShard, filesPerShard: dirsPerShard.map((dirs) => dirs * 10), slotMismatches: 0, statsUnavailable: null },
    },
  };
}

test("summary: ratios to one shard, cross-shard shares and cores over the rounds", () => {
  const runs = [
    run(1, 1, [phase("mkdir", 100, 1, 1000, { forwarded: 0, computed: 0 }, { "shard-0": 0.5, gateway: 0.3 })]),
    run(1, 2, [phase("mkdir", 100, 0.5, 800, { forwarded: 52, computed: 50 }, { "shard-0": 0.2, "shard-1": 0.2, gateway: 0.3 })]),
    run(2, 2, [phase("mkdir", 100, 0.5, 800, { forwarded: null, computed: 48 }, { "shard-0": 0.2, "shard-1": 0.2, gateway: 0.3, mfsmount: 0.4 })]),
    run(2, 1, [phase("mkdir", 100, 1, 1000, { forwarded: 0, computed: 0 }, { "shard-0": 0.5, gateway: 0.3 })]),
  ];
  const summary = summarizeShardRuns(runs, [1, 2]);
  assert.deepEqual(summary.map((row) => `${row.phase}/${row.shards}`), ["mkdir/1", "mkdir/2"]);
  const [one, two] = summary as [(typeof summary)[0], (typeof summary)[0]];
  assert.equal(one.opsPerSecond, 100);
  assert.equal(two.opsPerSecond, 200);
  assert.equal(one.crossShardMeasured, 0);
  assert.equal(two.crossShardMeasured, null, "a round without the counter makes the measured share unknown");
  assert.equal(two.crossShardComputed, 98 / 200);
  assert.ok(Math.abs(one.serverCores! - 0.8) < 1e-9, "1.6 CPU seconds over 2 s of phases");
  // mfsmount is the client side: listed, but not counted in the cluster's cores.
  assert.ok(Math.abs(two.serverCores! - 1.4 / 1) < 1e-9);
  assert.ok(Math.abs(two.coresByProcess["shard-1"]! - 0.4) < 1e-9);

  const table = formatShardTable(summary, "text");
  assert.match(table, /^phase\s+shards\s+ops\/s\s+vs 1 shard/);
  assert.match(table, /mkdir\s+1\s+100\s+1\.00×/);
  assert.match(table, /mkdir\s+2\s+200\s+2\.00×\s+800 µs\s+800 µs\s+–\s+49 %\s+0\s+7000\s+1\.40  gateway 0\.60 · mfsmount 0\.40/);
  assert.equal(formatCoresByProcess({ gateway: 0.3, "shard-0": 0.5, idle: 0.001 }), "shard-0 0.50 · gateway 0.30");

  const suite: ShardScalingSuite = {
    startedAt: "2026-11-26T13:00:00.000Z", finishedAt: "2026-11-26T13:05:00.000Z", elapsedSeconds: 300,
    machine: { cpus: 2, loadBefore: [1, 2, 3], loadAfter: [4, 5, 6], kernel: "Linux 6", node: "v24", revision: "abc" },
    options: parseShardScalingArgs(["--shards", "1,2"]) as Exclude<ReturnType<typeof parseShardScalingArgs>, "help">,
    clusters: [{ shards: 1, description: "antler one", startSeconds: 12 }, { shards: 2, description: "antler two", startSeconds: 20 }],
    runs, summary, notes: [], failures: ["4 shards: start: did not serve"],
  };
  const markdown = formatShardMarkdown(suite);
  assert.match(markdown, /^# Antler shard scaling 2026-11-26T13:00:00\.000Z/);
  assert.match(markdown, /load average 1\.00 2\.00 3\.00 before, 4\.00 5\.00 6\.00 after/);
  assert.match(markdown, /- 2 shards: antler two, up in 20 s; directories per shard 4 · 4, files per shard 40 · 40 \(shard map v1 read from the cluster\); the idle clusters used 0\.02 cores meanwhile/);
  assert.match(markdown, /\| mkdir +\| +2 \| +200 \| +2\.00× \|/);
  assert.match(markdown, /- note: FAILED: 4 shards: start: did not serve/);
  assert.match(markdown, /- elapsed: 5 min 0 s/);
});
