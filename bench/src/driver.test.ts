/**
 * The whole tool on a tiny run, as `npm run bench -- --breakdown` does it: mfsmaster and a minimal
 * Antler cluster side by side (one round each, a few dozen operations per phase), then the traced
 * round with span files on. Checks exact counts and zero errors on both sides, that the breakdown
 * found a complete chain of spans for every command (log appends for the writes, none for the
 * reads), and that nothing the run started is left: no namespace, no work directory content. No
 * timing assertions. Needs root, mfsmaster and bin/antler; skipped with a message otherwise.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { launcherPath } from "./antler-target.ts";
import { parseBenchArgs } from "./args.ts";
import { hops } from "./breakdown.ts";
import { breakdownNotes, formatBreakdown } from "./breakdown-report.ts";
import { Cleanup } from "./cleanup.ts";
import { runBenchmark } from "./driver.ts";
import { mfsmasterUnavailable } from "./mfsmaster-target.ts";
import { runCommand } from "./processes.ts";
import { protocolPhases } from "./protocol-workload.ts";
import { formatSuiteMarkdown, formatSuiteText } from "./suite-report.ts";

const unavailable = mfsmasterUnavailable() ?? (fs.existsSync(launcherPath) ? null : `${launcherPath} is missing`);
if (unavailable !== null) process.stderr.write(`driver.test: tiny benchmark run skipped: ${unavailable}\n`);

async function ourNamespaces(): Promise<string[]> {
  const list = await runCommand("ip", ["netns", "list"], { timeoutMs: 10_000 });
  return list.stdout.split("\n").map((line) => line.split(" ")[0]!).filter((name) => name.startsWith(`antler-bench-${process.pid}-`));
}

test("a tiny side-by-side run with the traced round: exact counts, zero errors, complete spans, nothing left", { skip: unavailable ?? false, timeout: 600_000 }, async () => {
  const ops = 40;
  const sessions = 2;
  const breakdownOps = 12;
  const options = parseBenchArgs([
    "--ops", String(ops), "--rounds", "1", "--sessions", String(sessions), "--inflight", "2", "--entries-per-dir", "10",
    "--phase-seconds", "120", "--breakdown", "--breakdown-ops", String(breakdownOps),
  ]);
  assert.ok(options !== "help");
  const cleanup = new Cleanup();
  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-driver-test-"));
  const lines: string[] = [];
  let suite;
  try {
    suite = await runBenchmark({ options, profiles: [{ profile: "minimal", flags: [] }], workDir, cleanup, log: (line) => lines.push(line) });
  } finally {
    await cleanup.runAll((line) => process.stderr.write(`${line}\n`));
    assert.deepEqual(await ourNamespaces(), [], "every namespace of the run was deleted");
    await fsp.rm(workDir, { recursive: true, force: true });
  }

  assert.equal(suite.reports.length, 1);
  const report = suite.reports[0]!;
  assert.deepEqual(report.targets.map((target) => target.name), ["antler", "mfsmaster"]);
  assert.deepEqual(report.rounds.map((round) => `${round.target} r${round.round}`), ["antler r1", "mfsmaster r1"]);
  const readdirs = sessions * Math.ceil(ops / sessions / 10);
  for (const { target, result } of report.rounds) {
    assert.deepEqual(result.notes, [], target);
    assert.deepEqual([result.setupErrors, result.cleanupErrors], [0, 0], target);
    assert.deepEqual(result.phases.map((phase) => phase.phase), [...protocolPhases]);
    for (const phase of result.phases) {
      const planned = phase.phase === "readdir" ? readdirs : ops;
      assert.equal(phase.errors, 0, `${target} ${phase.phase}: ${phase.errorSamples.join("; ")}`);
      assert.equal(phase.count, planned, `${target} ${phase.phase}`);
    }
  }
  assert.ok(suite.elapsedSeconds > 0);

  assert.equal(suite.breakdowns.length, 1);
  const traced = suite.breakdowns[0]!;
  assert.equal(traced.malformedLines, 0);
  assert.ok(traced.spanFiles.some((file) => file.startsWith("antler-gateway-")), traced.spanFiles.join(", "));
  assert.ok(traced.spanFiles.some((file) => file.startsWith("antler-shard-")), traced.spanFiles.join(", "));
  const writes = new Set(["mkdir", "create", "rename", "unlink", "rmdir"]);
  for (const command of ["mkdir", "create", "getattr", "lookup", "readdir", "rename", "unlink", "rmdir"]) {
    const found = traced.breakdown.commands.find((candidate) => candidate.command === command);
    assert.ok(found !== undefined && found.complete > 0, `${command}: a complete chain of spans (${JSON.stringify(found?.incomplete)})`);
    assert.equal(traced.client[command]?.count, command === "readdir" ? Math.ceil(breakdownOps / 10) : breakdownOps, `${command}: client count`);
    for (const hop of ["gateway", "gateway→router", "router", "router→shard"] as const) assert.ok(found.hops[hop] !== null, `${command} ${hop}`);
    // One request in flight: every write opens its own batch, so it has its own log append.
    assert.equal(found.withAppend, writes.has(command) ? found.complete : 0, `${command}: log appends`);
    assert.equal(found.hops["shard + reply"] === null, writes.has(command), `${command}: shard + reply only for reads`);
  }
  assert.ok(hops.every((hop) => traced.breakdown.groups.some((group) => group.hops[hop] !== null)));
  assert.ok(!breakdownNotes(traced).some((note) => note.startsWith("no ")), breakdownNotes(traced).join("\n"));
  assert.match(formatBreakdown(traced, "text"), /log append/);
  assert.match(formatSuiteText(suite), /elapsed: /);
  assert.match(formatSuiteMarkdown(suite), /## minimal: where the time goes/);
  assert.ok(lines.some((line) => line.includes("traced round")), "the traced round ran");
});

test("a profile that cannot start is recorded as failed, the run goes on and leaves nothing behind", { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  const options = parseBenchArgs(["--only", "antler", "--ops", "10", "--rounds", "1", "--breakdown"]);
  assert.ok(options !== "help");
  const cleanup = new Cleanup();
  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-driver-test-"));
  let suite;
  try {
    // The launcher refuses an unknown option before it starts anything; both "profiles" fail.
    const broken = [{ profile: "minimal" as const, flags: ["--no-such-option"] }, { profile: "ha" as const, flags: ["--no-such-option"] }];
    suite = await runBenchmark({ options, profiles: broken, workDir, cleanup, log: () => {} });
    assert.deepEqual(await ourNamespaces(), [], "the failed start's namespace is gone before the run ends");
  } finally {
    await cleanup.runAll((line) => process.stderr.write(`${line}\n`));
    await fsp.rm(workDir, { recursive: true, force: true });
  }
  assert.deepEqual(suite.failures.map((failure) => `${failure.profile} ${failure.stage}`), ["minimal measured rounds", "ha measured rounds"]);
  assert.match(suite.failures[0]!.error, /no-such-option/);
  assert.deepEqual([suite.reports.length, suite.breakdowns.length], [0, 0], "no traced round for a profile that could not start");
  assert.match(formatSuiteText(suite), /FAILED: minimal measured rounds: /);
});
