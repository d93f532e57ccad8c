// Fault injection under load, through a real mfsmount: one client creates files back to back and
// records every create acknowledged to it; at seeded random moments a process is killed with
// SIGKILL and the launcher's supervisor restarts it. Antler: the shard leader, then the gateway
// holding the client's connection, a router, the NATS server leading the shard's log stream,
// Redis; with standbys also a leader paused (SIGSTOP) past its lease and then resumed, which must
// step down by itself. The reference: mfsmaster (kill -9, then restarted with -a as an operator would).
//
// After each round: every acknowledged create must exist (stat through the mount, and a listing
// of the whole directory), and the longest client-visible stall (the longest gap between
// consecutive acknowledged creates from the kill to the end of the round) is recorded. The end
// prints stall p50/max per kind of fault, Antler and mfsmaster side by side.
//
// Environment:
//   ANTLER_E2E_FAULT_ROUNDS          base round count (default 2, about 3 min; the full run uses 10): shard
//                                    leader and mfsmaster N rounds, NATS ceil(N/2), paused leader,
//                                    gateway, router and Redis ceil(N/3) each
//   ANTLER_E2E_FAULT_SEED            replay a run (the seed is printed at the start)
//   ANTLER_E2E_FAULT_PROFILE         launcher profile, "ha" (default) or "minimal"
//   ANTLER_E2E_FAULT_SHARD_REPLICAS  processes per shard (default: the profile's, 3 for ha)
//   ANTLER_E2E_FAULT_SYSTEMS         "antler,mfsmaster" (default) or one of them

import assert from "node:assert/strict";
import { mkdir, readdir, stat } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { seededRandom } from "@antler/testkit";
import { saveLogs } from "./artifacts.ts";
import { cleanupAll } from "./cleanup.ts";
import { FaultAntler, type Profile, type StatusProcess } from "./fault-antler.ts";
import { startCreateLoop, type CreateLoop } from "./fault-load.ts";
import { ReferenceMaster } from "./fault-reference.ts";
import { formatSummary, longestStall, percentile, summarize, type RoundResult } from "./fault-stats.ts";
import { startReferenceCluster, type ReferenceCluster } from "./mfsmaster.ts";
import { mountMfs, type MfsMount } from "./mount.ts";
import { createNetns } from "./netns.ts";
import { sleep, waitFor } from "./proc.ts";
import { makeTempDir } from "./tempdir.ts";
import { formatError } from "./transcript.ts";

const baseRounds = positiveInteger("ANTLER_E2E_FAULT_ROUNDS", 2);
const seed = positiveInteger("ANTLER_E2E_FAULT_SEED", Math.floor(Math.random() * 2 ** 31));
const profile = (process.env["ANTLER_E2E_FAULT_PROFILE"] ?? "ha") as Profile;
const shardReplicasText = process.env["ANTLER_E2E_FAULT_SHARD_REPLICAS"];
const shardReplicas = shardReplicasText === undefined ? undefined : positiveInteger("ANTLER_E2E_FAULT_SHARD_REPLICAS", 1);
const systems = (process.env["ANTLER_E2E_FAULT_SYSTEMS"] ?? "antler,mfsmaster").split(",");

/** A kill comes this long (uniformly drawn) after the previous round ended, creates flowing. */
const killDelayMinMs = 300;
const killDelayMaxMs = 1_500;
/** Creates acknowledged before the first kill (the client is warm, the baseline is known). */
const warmupMs = 1_500;
/** The killed process must be running again (supervisor restart) within this long. */
const restartTimeoutMs = 60_000;
/** Creates must flow again within this long after the kill, or the round fails. */
const resumeTimeoutMs = 60_000;
/** A round ends once this many creates were acknowledged after the restart... */
const settleCreates = 20;
/** ...and this long has passed after the first of them (a late hiccup still counts). */
const settleMs = 500;
/** After a round, the cluster must be whole again (log replicas current, a leader) within this. */
const wholeTimeoutMs = 60_000;
/** How long a paused leader stays stopped: well past its lease (600 ms, @antler/base limits). */
const leaderPauseMs = 2_000;
/** stat() calls in flight at once when checking a round's acknowledged creates. */
const statParallelism = 16;

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

const random = seededRandom(seed);
const results: RoundResult[] = [];
/** How many results the last printed summary held (the end prints again only when more came). */
let printedResults = 0;

process.stderr.write(
  `fault test: seed ${seed} (ANTLER_E2E_FAULT_SEED=${seed} replays it), base rounds ${baseRounds}, ` +
    `profile ${profile}${shardReplicas === undefined ? "" : `, shard replicas ${shardReplicas}`}\n`,
);

function printSummary(): void {
  if (results.length === 0 || results.length === printedResults) return;
  printedResults = results.length;
  const load = loadavg().map((value) => value.toFixed(1)).join(" ");
  process.stderr.write(`\nfault test summary (seed ${seed}; load average now ${load} on ${availableParallelism()} CPUs):\n${formatSummary(summarize(results))}\n\n`);
}

/** One kind of fault: what to kill, and when the cluster counts as repaired. */
interface Fault {
  readonly kind: string;
  readonly rounds: number;
  /** The process to kill now. */
  pick(): Promise<{ readonly label: string; readonly pid: number; readonly name: string }>;
  /** Hurts it: SIGKILL, or SIGSTOP and later SIGCONT. */
  kill(target: { readonly pid: number }): Promise<void>;
  /** Resolves once the process runs (and serves) again, or has been replaced. */
  restored(target: { readonly name: string; readonly pid: number }): Promise<void>;
  /** Resolves once the next fault may come (replicas caught up, a leader elected). */
  whole(): Promise<void>;
  /** Who took over, for the round's log line (e.g. the new shard leader). */
  successor?(): Promise<string>;
}

/**
 * Checks that every acknowledged create exists: a listing of the directory for all of them, and a
 * stat of each one acknowledged since `fromIndex`. Returns the missing names with the reason.
 */
async function missingAcknowledged(dir: string, acknowledged: readonly string[], fromIndex: number): Promise<string[]> {
  const listed = new Set(await readdir(dir));
  const suspects = new Set(acknowledged.filter((name) => !listed.has(name)));
  for (const name of acknowledged.slice(fromIndex)) suspects.add(name);
  const names = [...suspects];
  const missing: string[] = [];
  for (let start = 0; start < names.length; start += statParallelism) {
    await Promise.all(names.slice(start, start + statParallelism).map(async (name) => {
      try {
        await stat(join(dir, name));
      } catch (error) {
        missing.push(`${name} (${formatError(error)})`);
      }
    }));
  }
  return missing;
}

/** Runs every round of every fault against a mount under load; appends to `results`. */
async function runFaults(system: string, dir: string, faults: readonly Fault[]): Promise<void> {
  const loop: CreateLoop = startCreateLoop(dir, "f");
  let checkedUpTo = 0;
  /** The last round's losses: what the final check finds missing is charged to it. */
  let lastLost: string[] | undefined;
  try {
    await sleep(warmupMs);
    const warmGaps = loop.acknowledgedAtMs.slice(1).map((at, index) => at - loop.acknowledgedAtMs[index]!);
    assert.ok(loop.acknowledged.length > 0, `${system}: no create was acknowledged in ${warmupMs} ms before any fault`);
    process.stderr.write(`  ${system}: ${loop.acknowledged.length} creates in the warm-up, gap p50 ${percentile(warmGaps, 50).toFixed(2)} ms, max ${Math.max(0, ...warmGaps).toFixed(1)} ms\n`);
    for (const fault of faults) {
      for (let round = 1; round <= fault.rounds; round++) {
        await sleep(killDelayMinMs + random() * (killDelayMaxMs - killDelayMinMs));
        const target = await fault.pick();
        const failuresBefore = loop.failures.length;
        const killAtMs = performance.now();
        await fault.kill(target);
        await fault.restored(target);
        const restoredAtMs = performance.now();
        const acknowledgedAtRestore = loop.acknowledged.length;
        const resumeDeadline = killAtMs + resumeTimeoutMs;
        while (loop.acknowledgedAtMs.filter((at) => at > restoredAtMs).length < settleCreates) {
          if (performance.now() > resumeDeadline) {
            throw new Error(`${system} ${fault.kind} round ${round}: creates did not resume within ${resumeTimeoutMs} ms of killing ${target.label}` +
              ` (${loop.acknowledged.length - acknowledgedAtRestore} since the restart; failures: ${loop.failures.slice(failuresBefore, failuresBefore + 5).map((failure) => `${failure.name}: ${failure.error}`).join("; ") || "none"})`);
          }
          await sleep(20);
        }
        await sleep(settleMs);
        const endMs = performance.now();
        const stallMs = longestStall(loop.acknowledgedAtMs, killAtMs, endMs);
        await fault.whole();
        const wholeAtMs = performance.now();
        const successor = fault.successor === undefined ? "" : `, now ${await fault.successor().catch((error: unknown) => String(error))}`;
        // Only creates acknowledged before the check began must be there; later ones wait a round.
        const checkedBefore = checkedUpTo;
        checkedUpTo = loop.acknowledged.length;
        const lost = await missingAcknowledged(dir, loop.acknowledged.slice(0, checkedUpTo), checkedBefore);
        const checkedMs = performance.now() - wholeAtMs;
        const failedCreates = loop.failures.slice(failuresBefore).map((failure) => `${failure.name}: ${failure.error}`);
        results.push({ system, kind: fault.kind, target: target.label, stallMs, lost, failedCreates });
        lastLost = lost;
        process.stderr.write(
          `  ${system} ${fault.kind} ${round}/${fault.rounds}: killed ${target.label}${successor}, stall ${Math.round(stallMs)} ms ` +
            `(running again after ${Math.round(restoredAtMs - killAtMs)} ms, cluster whole after ${Math.round(wholeAtMs - killAtMs)} ms, ` +
            `checked ${checkedUpTo - checkedBefore} new files in ${Math.round(checkedMs)} ms), ` +
            `${loop.acknowledged.length} acknowledged so far, lost ${lost.length}${lost.length > 0 ? ` (${lost.slice(0, 5).join(", ")})` : ""}, ` +
            `failed creates ${failedCreates.length}${failedCreates.length > 0 ? ` (${failedCreates.slice(0, 3).join("; ")})` : ""}\n`,
        );
      }
    }
  } finally {
    if (!(await loop.stop(30_000))) process.stderr.write(`  ${system}: the create in flight did not return within 30 s\n`);
  }
  // The creates acknowledged after the last round's check.
  const lateLost = await missingAcknowledged(dir, loop.acknowledged, checkedUpTo);
  if (lateLost.length > 0) process.stderr.write(`  ${system}: final check: lost ${lateLost.join(", ")}\n`);
  lastLost?.push(...lateLost);
}

describe("fault injection: kill -9 under a create load through a real mfsmount", { concurrency: 1 }, () => {
  after(() => {
    printSummary();
    const failures = cleanupAll();
    assert.deepEqual(failures, [], "cleanup failed");
  });

  test(`Antler (${profile} profile): shard leader, paused leader, gateway, router, NATS log leader, Redis`, {
    skip: !systems.includes("antler"),
    timeout: 240_000 + baseRounds * 90_000,
  }, async () => {
    const dir = makeTempDir("fault-antler");
    const logs = join(dir, "logs");
    mkdirSync(logs);
    const netns = createNetns();
    const cluster = new FaultAntler(netns, join(dir, "antler-data"), profile, shardReplicas);
    let mount: MfsMount | undefined;
    let passed = false;
    try {
      await cluster.up();
      mount = await mountMfs(netns, join(dir, "mnt"), join(logs, "mfsmount.log"));
      const work = join(mount.dir, "fault");
      await mkdir(work);
      const pickBy = async (choose: (processes: StatusProcess[]) => StatusProcess | Promise<StatusProcess>) => {
        const chosen = await choose(await cluster.processes());
        if (chosen.pid === null) throw new Error(`${chosen.name} has no PID`);
        return { label: `${chosen.name} (pid ${chosen.pid})`, pid: chosen.pid, name: chosen.name };
      };
      const supervised = (
        kind: string,
        rounds: number,
        choose: (processes: StatusProcess[]) => StatusProcess | Promise<StatusProcess>,
        successor?: () => Promise<string>,
      ): Fault => ({
        ...(successor === undefined ? {} : { successor }),
        kind,
        rounds,
        pick: () => pickBy(choose),
        kill: async (target) => {
          process.kill(target.pid, "SIGKILL");
        },
        restored: async (target) => {
          await cluster.waitRestarted(target.name, target.pid, restartTimeoutMs);
        },
        whole: () => cluster.waitWhole(wholeTimeoutMs),
      });
      const third = Math.ceil(baseRounds / 3);
      /**
       * Fencing seen from the client: the leader is paused (SIGSTOP) past its lease, a standby
       * takes over, then the old leader runs on (SIGCONT). It must notice and exit (the
       * supervisor restarts it as a standby) without anything it held being lost or answered
       * twice: the round checks every acknowledged create as the others do.
       */
      let pausedOutcome = "";
      const pausedLeader = (rounds: number): Fault => ({
        kind: `shard leader paused ${leaderPauseMs} ms`,
        rounds,
        pick: async () => {
          const leader = await cluster.shardLeader();
          return { label: `${leader.name} (pid ${leader.pid})`, pid: leader.pid!, name: leader.name };
        },
        kill: async (target) => {
          process.kill(target.pid, "SIGSTOP");
          try {
            await sleep(leaderPauseMs);
          } finally {
            process.kill(target.pid, "SIGCONT");
          }
        },
        // Either the old leader exits (the supervisor restarts it) or it steps down to standby in
        // place: both are fine, as long as another replica holds the lease.
        restored: async (target) => {
          let why = "";
          await waitFor(async () => {
            const leader = await cluster.shardLeader().catch((error: unknown) => String(error));
            const old = await cluster.process(target.name);
            why = `leader ${typeof leader === "string" ? leader : leader.name}, ${target.name} pid ${old.pid} ${old.status}`;
            return typeof leader !== "string" && leader.name !== target.name && old.alive && old.status === "running";
          }, restartTimeoutMs, () => `the paused leader ${target.name} (pid ${target.pid}) was not replaced: ${why}`, 100);
          const old = await cluster.process(target.name);
          pausedOutcome = old.pid === target.pid ? "stepped down in place" : `exited, restarted as pid ${old.pid}`;
        },
        whole: () => cluster.waitWhole(wholeTimeoutMs),
        successor: async () => `led by ${(await cluster.shardLeader()).name}, the paused one ${pausedOutcome}`,
      });
      const faults: Fault[] = [
        supervised("shard leader", baseRounds, () => cluster.shardLeader(), async () => `led by ${(await cluster.shardLeader()).name}`),
        ...(profile === "ha" && (shardReplicas ?? 3) > 1 ? [pausedLeader(third)] : []),
        supervised("gateway", third, () => cluster.clientGateway()),
        supervised("router", third, (processes) => {
          const routers = processes.filter((entry) => entry.role === "router");
          return routers[Math.floor(random() * routers.length)]!;
        }),
        // HA: the shard's log and lease live on the quorum journal (ADR 0007), so "the NATS server
        // holding the log" is any one of the three journal servers; a node of the main NATS
        // cluster (routing, KV, snapshots) is a fault of its own.
        ...(profile === "ha"
          ? [
            supervised("NATS journal server (log)", Math.ceil(baseRounds / 2), (processes) => {
              const journal = cluster.journalServers(processes);
              return journal[Math.floor(random() * journal.length)]!;
            }),
            supervised("NATS cluster node", third, (processes) => {
              const nodes = cluster.clusterNatsNodes(processes);
              return nodes[Math.floor(random() * nodes.length)]!;
            }),
          ]
          : [supervised("NATS", Math.ceil(baseRounds / 2), () => cluster.logLeaderNats())]),
        supervised("redis", third, (processes) => processes.find((entry) => entry.role === "redis")!),
      ];
      await cluster.waitWhole(wholeTimeoutMs);
      await runFaults("Antler", work, faults);
      printSummary();
      const antlerRounds = results.filter((round) => round.system === "Antler");
      const lost = antlerRounds.flatMap((round) => round.lost.map((name) => `${round.kind} (${round.target}): ${name}`));
      assert.deepEqual(lost, [], "acknowledged creates were lost");
      const failed = antlerRounds.flatMap((round) => round.failedCreates.map((failure) => `${round.kind} (${round.target}): ${failure}`));
      assert.deepEqual(failed, [], "creates failed on the client while processes were killed");
      passed = true;
    } finally {
      // Kept also on success: the services' logs explain the stalls.
      const saved = saveLogs(`fault-antler-logs${passed ? "" : "-failed"}`, join(dir, "antler-data", "logs"));
      saveLogs("fault-antler-mfsmount-logs", logs);
      if (saved !== undefined) process.stderr.write(`  Antler logs: ${saved}\n`);
      mount?.unmount();
      cluster.down();
      netns.remove();
    }
  });

  test("mfsmaster reference: kill -9 of mfsmaster, restarted with -a", {
    skip: !systems.includes("mfsmaster"),
    timeout: 120_000 + baseRounds * 60_000,
  }, async () => {
    const dir = makeTempDir("fault-mfsmaster");
    const logs = join(dir, "logs");
    mkdirSync(logs);
    const netns = createNetns();
    const referenceDir = join(dir, "reference");
    let mount: MfsMount | undefined;
    let master: ReferenceMaster | undefined;
    let reference: ReferenceCluster | undefined;
    let passed = false;
    try {
      reference = await startReferenceCluster(netns, referenceDir);
      master = new ReferenceMaster(netns, referenceDir, reference.master);
      mount = await mountMfs(netns, join(dir, "mnt"), join(logs, "mfsmount.log"));
      const work = join(mount.dir, "fault");
      await mkdir(work);
      const restarted = master;
      await runFaults("mfsmaster", work, [{
        kind: "mfsmaster",
        rounds: baseRounds,
        pick: async () => ({ label: `mfsmaster (pid ${restarted.pid})`, pid: restarted.pid, name: "mfsmaster" }),
        kill: async () => {
          await restarted.kill9();
        },
        restored: async () => {
          await restarted.restart();
        },
        whole: async () => {},
      }]);
      printSummary();
      passed = true;
    } finally {
      const saved = saveLogs(`fault-mfsmaster-logs${passed ? "" : "-failed"}`, referenceDir);
      saveLogs("fault-mfsmaster-mfsmount-logs", logs);
      if (saved !== undefined) process.stderr.write(`  mfsmaster logs: ${saved}\n`);
      mount?.unmount();
      reference?.chunkserver.stop(10_000);
      master?.stop();
      netns.remove();
    }
  });
});
