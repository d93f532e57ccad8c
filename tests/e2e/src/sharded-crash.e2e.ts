// kill -9 in the middle of cross-shard operations, on Antler with its metadata over several shards,
// through a real mfsmount. Each trial (crash-burst.ts) prepares its own directories, then runs a
// burst of mostly cross-shard operations (mkdir in varied parents, renames of directories to
// other parents, links into other directories, unlinks of remote entries, rmdirs) four at a time
// (burst_ops.py, which reports each result the moment it returns), and kills with SIGKILL, at a
// seeded random point of the burst, either the coordinator (the router holding the coordinator
// lease) or the leader of a random shard. The supervisor restarts what was killed (with standbys,
// another replica takes over first).
//
// After the recovery: `antler fsck` must be clean (repeated for up to 10 s while it still lists
// prepared transactions, which their participants resolve by themselves), every acknowledged
// operation must be visible, and no operation may be half-applied (crash-burst.ts judgeTrial).
// A summary table (kills per target, operations acknowledged / failed / unanswered, violations)
// is printed at the end; the first trial with a violation ends the run.
//
// Environment:
//   ANTLER_E2E_SHARDED=1            run it (off by default: about 12 minutes for 50 trials)
//   ANTLER_E2E_SHARDS               shards (default 4)
//   ANTLER_E2E_CRASH_TRIALS         trials (default 50)
//   ANTLER_E2E_CRASH_SEED           replay a run (the seed is printed)
//   ANTLER_E2E_CRASH_PROFILE        launcher profile: "minimal" (default; the supervisor restarts
//                                   the killed process) or "ha" (standbys take over)
//   ANTLER_E2E_CRASH_STRICT=1       spurious failures (ENOENT for names that exist, see
//                                   crash-burst.ts spuriousErrors) count as violations; by default
//                                   they are printed and counted in the summary only

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { lstat, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { seededRandom } from "@antler/testkit";
import { registerCleanup, stopPidSync } from "./cleanup.ts";
import { cleanupAll } from "./cleanup.ts";
import { callOf, describeOp, judgeTrial, pathsToView, planTrial, spuriousErrors, type BurstCall, type Looked, type Outcome, type TrialPlan } from "./crash-burst.ts";
import type { FaultAntler, Profile, StatusProcess } from "./fault-antler.ts";
import { describeFsck, fsckUntilSettled, type FsckReport } from "./fsck.ts";
import { sleep } from "./proc.ts";
import { positiveIntegerFromEnv, seedFromEnv, shardedSkipReason, startShardedCluster, waitShardsServing, type ShardedCluster } from "./sharded.ts";

const shards = positiveIntegerFromEnv("ANTLER_E2E_SHARDS", 4);
const trials = positiveIntegerFromEnv("ANTLER_E2E_CRASH_TRIALS", 50);
const seed = seedFromEnv("ANTLER_E2E_CRASH_SEED");
const profile = (process.env["ANTLER_E2E_CRASH_PROFILE"] ?? "minimal") as Profile;
const strict = process.env["ANTLER_E2E_CRASH_STRICT"] === "1";
if (profile !== "minimal" && profile !== "ha") throw new Error(`ANTLER_E2E_CRASH_PROFILE must be minimal or ha, not ${profile}`);

const burstScript = new URL("./burst_ops.py", import.meta.url).pathname;
const python = "/usr/bin/python3";
const burstThreads = 4;
/** The kill comes after this fraction of the burst at most has answered (so it lands inside it)... */
const killPointMax = 0.6;
/** ...plus up to this much more time. */
const killJitterMaxMs = 5;
/** A preparation phase on a healthy cluster. */
const prepTimeoutMs = 60_000;
/** Everything in flight at the kill must have returned within this (the gateway gives up at 30 s). */
const burstTimeoutMs = 90_000;
/** The killed process runs again (the supervisor restarts it) and every shard has a leader. */
const recoveryTimeoutMs = 60_000;
/** fsck is repeated while it lists prepared transactions, for up to this long. */
const fsckSettleMs = 10_000;
/** One lookup or listing while judging; the cluster has recovered, so anything longer is a hang. */
const viewCallTimeoutMs = 30_000;
/** The lease bucket and the coordinator's key in it (@antler/ops txn.ts coordinatorLeaseKey). */
const leaseBucket = "antler-leases";
const coordinatorLeaseKey = "coordinator";

const random = seededRandom(seed);

interface TrialResult {
  readonly trial: number;
  readonly target: string;
  readonly targetKind: "coordinator" | "shard leader" | "router (coordinator unknown)";
  readonly outcomes: readonly Outcome[];
  readonly fsck: FsckReport;
  readonly fsckRuns: number;
  readonly recoveryMs: number;
  readonly violations: readonly string[];
  readonly spurious: readonly string[];
}

const results: TrialResult[] = [];

/** A running burst_ops.py: each operation's outcome as it arrives. */
interface Burst {
  readonly outcomes: Outcome[];
  answered(): number;
  /** Resolves once `count` operations answered or the burst ended. */
  answeredAtLeast(count: number): Promise<void>;
  /** Resolves true when every operation answered, false if cut off at `timeoutMs` (then killed). */
  finish(timeoutMs: number): Promise<boolean>;
}

function startBurst(root: string, calls: readonly BurstCall[], threads: number): Burst {
  const child = spawn(python, [burstScript], { stdio: ["pipe", "pipe", "pipe"] });
  const pid = child.pid;
  const handle = registerCleanup(`burst_ops.py (pid ${pid})`, () => {
    if (pid !== undefined) stopPidSync(pid, 0);
  });
  const outcomes: Outcome[] = calls.map(() => "unanswered");
  let answered = 0;
  let stderr = "";
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const reply = JSON.parse(line) as { i: number; ok?: true; errno?: string };
    outcomes[reply.i] = reply.ok === true ? "ok" : (reply.errno ?? "unknown");
    answered++;
    wake();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      handle.forget();
      wake();
      resolve(code);
    });
  });
  let ended = false;
  void exited.then(() => (ended = true));
  child.stdin.on("error", () => {});
  child.stdin.end(JSON.stringify({ root, threads, ops: calls }));
  return {
    outcomes,
    answered: () => answered,
    answeredAtLeast: async (count) => {
      while (answered < count && !ended) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    finish: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)))]);
      clearTimeout(timer);
      if (code === "timeout") {
        handle.release();
        await exited;
        return false;
      }
      if (code !== 0) throw new Error(`burst_ops.py exited ${code}: ${stderr}`);
      return answered === calls.length;
    },
  };
}

/** Runs the preparation phases; every call must succeed. */
async function prepare(root: string, plan: TrialPlan): Promise<void> {
  for (const phase of plan.prep) {
    if (phase.length === 0) continue;
    const burst = startBurst(root, phase, burstThreads);
    const complete = await burst.finish(prepTimeoutMs);
    const failed = phase.map((call, index) => [call, burst.outcomes[index]] as const).filter(([, outcome]) => outcome !== "ok");
    if (!complete || failed.length > 0) {
      throw new Error(`preparation of ${plan.base} failed: ${failed.map(([call, outcome]) => `${call.join(" ")}: ${outcome}`).join("; ")}`);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not return within ${viewCallTimeoutMs} ms`)), viewCallTimeoutMs)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function lookUp(path: string): Promise<Looked | null> {
  try {
    const found = await withTimeout(lstat(path), `lstat ${path}`);
    const type = found.isDirectory() ? "d" : found.isFile() ? "f" : found.isSymbolicLink() ? "l" : "o";
    return { inode: found.ino, type, nlink: found.nlink };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

async function listOrNull(path: string): Promise<string[] | null> {
  try {
    return await withTimeout(readdir(path), `readdir ${path}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw error;
  }
}

/** The coordinator (the router its lease names) when it can be told, else a random router. */
async function pickRouter(antler: FaultAntler): Promise<{ process: StatusProcess; known: boolean }> {
  const routers = (await antler.processes()).filter((entry) => entry.role === "router" && entry.alive && entry.pid !== null);
  if (routers.length === 0) throw new Error("no running router");
  const value = await antler.kvValue(leaseBucket, coordinatorLeaseKey).catch(() => null);
  let holder = value ?? "";
  try {
    const parsed = JSON.parse(holder) as { holder?: unknown };
    if (typeof parsed.holder === "string") holder = parsed.holder;
  } catch {
    // Not JSON: match against the raw value.
  }
  // The router names itself `router.<pid>.<start time, base 36>` (services/router/server main.ts).
  const pid = /^router\.(\d+)\./.exec(holder)?.[1];
  const holderRouter = routers.find((entry) => (pid !== undefined && entry.pid === Number(pid)) || (holder !== "" && holder.includes(entry.name)));
  if (holderRouter !== undefined) return { process: holderRouter, known: true };
  return { process: routers[Math.floor(random() * routers.length)]!, known: routers.length === 1 && value !== null };
}

async function runTrial(cluster: ShardedCluster, root: string, trial: number): Promise<TrialResult> {
  const antler = cluster.antler;
  const plan = planTrial(trial, random);
  await prepare(root, plan);
  const prepInodes = new Map<string, number>();
  for (const op of plan.burst) {
    const path = op.kind === "rename" ? op.from : op.kind === "link" ? op.existing : undefined;
    if (path === undefined) continue;
    const found = await lookUp(join(root, path));
    if (found === null) throw new Error(`${path} is missing right after the preparation`);
    prepInodes.set(path, found.inode);
  }

  // Drawn before the burst starts, so the draws do not depend on timing.
  const killCoordinator = random() < 0.5;
  const shardId = Math.floor(random() * shards);
  const killAfter = Math.floor(random() * plan.burst.length * killPointMax);
  const jitterMs = random() * killJitterMaxMs;
  let target: StatusProcess;
  let targetKind: TrialResult["targetKind"];
  if (killCoordinator) {
    const picked = await pickRouter(antler);
    target = picked.process;
    targetKind = picked.known ? "coordinator" : "router (coordinator unknown)";
  } else {
    target = await antler.shardLeader(shardId);
    targetKind = "shard leader";
  }

  const burst = startBurst(root, plan.burst.map(callOf), burstThreads);
  await burst.answeredAtLeast(killAfter);
  await sleep(jitterMs);
  const answeredAtKill = burst.answered();
  const killedAt = Date.now();
  process.kill(target.pid!, "SIGKILL");
  const complete = await burst.finish(burstTimeoutMs);
  await antler.waitRestarted(target.name, target.pid!, recoveryTimeoutMs);
  await waitShardsServing(antler, shards, recoveryTimeoutMs);
  const recoveryMs = Date.now() - killedAt;

  const { report, runs } = await fsckUntilSettled(cluster.netns, antler.dataDir, fsckSettleMs);
  const { lookups, listings } = pathsToView(plan);
  const looked = new Map<string, Looked | null>();
  for (const path of lookups) looked.set(path, await lookUp(join(root, path)));
  const listed = new Map<string, readonly string[] | null>();
  for (const path of listings) listed.set(path, await listOrNull(join(root, path)));
  const view = {
    lookup: (path: string): Looked | null => {
      if (!looked.has(path)) throw new Error(`judge looked up ${path}, which pathsToView did not name`);
      return looked.get(path)!;
    },
    listing: (path: string): readonly string[] | null => {
      if (!listed.has(path)) throw new Error(`judge listed ${path}, which pathsToView did not name`);
      return listed.get(path)!;
    },
  };
  const violations = judgeTrial(plan, burst.outcomes, prepInodes, view);
  const spurious = spuriousErrors(plan, burst.outcomes, view);
  if (strict) violations.push(...spurious.map((error) => `spurious failure: ${error}`));
  if (report.code !== 0) violations.unshift(`antler fsck is not clean: ${describeFsck(report, 10)}`);

  const acknowledged = burst.outcomes.filter((outcome) => outcome === "ok").length;
  const errors = burst.outcomes.filter((outcome) => outcome !== "ok" && outcome !== "unanswered");
  process.stderr.write(
    `  trial ${trial}/${trials}: killed ${target.name} (pid ${target.pid}, ${targetKind}${killCoordinator ? "" : ` of shard ${shardId}`}) ` +
      `after ${answeredAtKill}/${plan.burst.length} answered; acknowledged ${acknowledged}, failed ${errors.length}` +
      `${errors.length > 0 ? ` (${[...new Set(errors)].join(", ")})` : ""}, unanswered ${burst.outcomes.length - acknowledged - errors.length}` +
      `${complete ? "" : " (burst cut off)"}; recovered in ${recoveryMs} ms; fsck exit ${report.code} after ${runs} run(s); violations ${violations.length}` +
      `${spurious.length > 0 ? `; spurious ENOENT ${spurious.length}` : ""}\n`,
  );
  for (const error of spurious.slice(0, 5)) process.stderr.write(`    spurious: ${error}\n`);
  for (const violation of violations.slice(0, 20)) process.stderr.write(`    VIOLATION ${violation}\n`);
  if (violations.length > 0) {
    process.stderr.write(`    burst: ${plan.burst.map((op, index) => `${describeOp(op)} = ${burst.outcomes[index]}`).join("; ")}\n`);
  }
  return { trial, target: target.name, targetKind, outcomes: burst.outcomes, fsck: report, fsckRuns: runs, recoveryMs, violations, spurious };
}

function summary(): string {
  const count = (filter: (result: TrialResult) => boolean): number => results.filter(filter).length;
  const outcomes = results.flatMap((result) => result.outcomes);
  const byErrno = new Map<string, number>();
  for (const outcome of outcomes) if (outcome !== "ok") byErrno.set(outcome, (byErrno.get(outcome) ?? 0) + 1);
  const targets = new Map<string, number>();
  for (const result of results) targets.set(`${result.targetKind} ${result.target}`, (targets.get(`${result.targetKind} ${result.target}`) ?? 0) + 1);
  const recoveries = results.map((result) => result.recoveryMs).sort((a, b) => a - b);
  const rows: Array<[string, string]> = [
    ["seed", `${seed} (ANTLER_E2E_CRASH_SEED=${seed})`],
    ["profile, shards", `${profile}, ${shards}`],
    ["trials", `${results.length} of ${trials}`],
    ["kills: coordinator", String(count((result) => result.targetKind === "coordinator"))],
    ["kills: router (coordinator unknown)", String(count((result) => result.targetKind === "router (coordinator unknown)"))],
    ["kills: shard leader", String(count((result) => result.targetKind === "shard leader"))],
    ["kills by process", [...targets.entries()].sort().map(([name, times]) => `${name} ${times}`).join(", ")],
    ["operations", String(outcomes.length)],
    ["acknowledged", String(outcomes.filter((outcome) => outcome === "ok").length)],
    ["not acknowledged", [...byErrno.entries()].sort((a, b) => b[1] - a[1]).map(([what, times]) => `${what} ${times}`).join(", ") || "0"],
    ["recovery ms p50 / max", recoveries.length === 0 ? "-" : `${recoveries[Math.floor(recoveries.length / 2)]} / ${recoveries.at(-1)}`],
    ["fsck repeated (pending txns)", String(count((result) => result.fsckRuns > 1))],
    ["fsck not clean", String(count((result) => result.fsck.code !== 0))],
    [`spurious ENOENT${strict ? "" : " (not failing)"}`, String(results.reduce((sum, result) => sum + result.spurious.length, 0))],
    ["violations", String(results.reduce((sum, result) => sum + result.violations.length, 0))],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`).join("\n");
}

describe(`sharded crash: kill -9 of the coordinator or a shard leader during cross-shard operations (${shards} shards)`, { skip: shardedSkipReason }, () => {
  let cluster: ShardedCluster | undefined;

  after(() => {
    if (results.length > 0) process.stderr.write(`\nsharded crash test summary:\n${summary()}\n\n`);
    try {
      cluster?.teardown();
    } finally {
      const failures = cleanupAll();
      assert.deepEqual(failures, [], "cleanup failed");
    }
  });

  test(`${trials} trials: fsck clean, acknowledged operations visible, nothing half-applied`, { timeout: 180_000 + trials * 120_000 }, async () => {
    process.stderr.write(`sharded crash: seed ${seed} (ANTLER_E2E_CRASH_SEED=${seed} replays it), ${trials} trials, ${shards} shards, profile ${profile}\n`);
    let passed = false;
    cluster = await startShardedCluster({ label: "crash", shards, mounts: 1, profile });
    try {
      const root = join(cluster.mounts[0]!.dir, "crash");
      await mkdir(root);
      for (let trial = 1; trial <= trials; trial++) {
        const result = await runTrial(cluster, root, trial);
        results.push(result);
        if (result.violations.length > 0) {
          assert.fail(`trial ${trial} (seed ${seed}): ${result.violations.length} violation(s):\n${result.violations.slice(0, 20).join("\n")}`);
        }
      }
      passed = true;
    } finally {
      if (!passed) cluster.saveLogs("crash-failed");
    }
  });
});
