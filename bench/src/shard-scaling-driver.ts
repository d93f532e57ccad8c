/**
 * One shard-scaling run: start one minimal Antler cluster per shard count (`bin/antler up --shards
 * N`), each in its own network namespace, one after the other; then let them take turns under the
 * same workload (1 2 4, 4 2 1, …), so slow drifts of the machine hit every shard count alike; then
 * stop them. All clusters stay up for the whole run — cheaper than a start per turn (a cluster
 * start costs more CPU than a turn) — and the CPU the idle ones use during a turn is measured and
 * reported. Every process and namespace is registered with `cleanup` before anything can fail.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { startAntler } from "./antler-target.ts";
import type { Cleanup } from "./cleanup.ts";
import { machineInfo } from "./driver.ts";
import { InterruptedError, runLoadgen } from "./loadgen-runner.ts";
import { createNamespace, deleteNamespace, type Namespace } from "./netns.ts";
import { cpuSecondsBetween, namespaceInode, sampleNamespaceCpu } from "./process-cpu.ts";
import type { RunningTarget } from "./target.ts";
import { type ShardScalingOptions, shardRunOrder } from "./shard-scaling-args.ts";
import { type ShardCluster, type ShardRun, type ShardScalingSuite, summarizeShardRuns } from "./shard-scaling-report.ts";
import { type ShardLoadResult, shardPhases, type ShardWorkloadConfig } from "./shard-workload.ts";

export interface ShardScalingInput {
  options: ShardScalingOptions;
  workDir: string;
  cleanup: Cleanup;
  log: (line: string) => void;
  /** Aborted on Ctrl-C/SIGTERM: nothing new is started after that. */
  signal?: AbortSignal;
}

/**
 * Namespace index of the first cluster (address 10.213.(200+i).1): clear of the comparison
 * driver's 0… and the self-tests' 50, so that a `npm run bench` running meanwhile is not confused
 * by addresses (the names carry our PID and never collide anyway).
 */
const namespaceFirst = 20;

interface RunningCluster {
  shards: number;
  target: RunningTarget;
  natsUrl: string | null;
  stop: () => Promise<void>;
}

export async function runShardScaling(input: ShardScalingInput): Promise<ShardScalingSuite> {
  const { options, cleanup, log, workDir } = input;
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const notes: string[] = [];
  const failures: string[] = [];
  const clusters: ShardCluster[] = [];
  const running: RunningCluster[] = [];
  const aborted = () => input.signal?.aborted === true;

  try {
    for (const [index, shards] of options.shardCounts.entries()) {
      if (aborted()) throw new InterruptedError("benchmark interrupted");
      const startingAt = Date.now();
      try {
        const cluster = await startCluster(shards, namespaceFirst + index, workDir, cleanup, log);
        running.push(cluster);
        const startSeconds = (Date.now() - startingAt) / 1000;
        clusters.push({ shards, description: cluster.target.description, startSeconds });
        log(`bench:shards: ${shards} shard${shards === 1 ? "" : "s"} ready after ${startSeconds.toFixed(1)} s${cluster.natsUrl === null ? " (its NATS address is unknown)" : ""}`);
      } catch (error) {
        if (error instanceof InterruptedError || aborted()) throw error;
        failures.push(`${shards} shards: start: ${(error as Error).message}`);
        log(`bench:shards: the ${shards}-shard cluster did not start; going on without it: ${(error as Error).message}`);
      }
    }

    const runs: ShardRun[] = [];
    const order = shardRunOrder(running.map((cluster) => cluster.shards), options.rounds);
    for (const { round, shards } of order) {
      if (aborted()) throw new InterruptedError("benchmark interrupted");
      const cluster = running.find((candidate) => candidate.shards === shards)!;
      const label = `${shards} shard${shards === 1 ? "" : "s"} r${round}`;
      log(`bench:shards: round ${round}/${options.rounds}: ${shards} shard${shards === 1 ? "" : "s"}`);
      const config: ShardWorkloadConfig = {
        mode: "shards", label, host: cluster.target.namespace.address, port: cluster.target.port,
        sessions: options.sessions, inflight: options.inflight, files: options.files, dirs: options.dirs,
        phaseSeconds: options.phaseSeconds, tag: `${process.pid}-${shards}-${round}`, natsUrl: cluster.natsUrl, shards,
      };
      const idle = running.filter((other) => other !== cluster).map((other) => namespaceInode(`/run/netns/${other.target.namespace.name}`));
      const idleBefore = idle.map((inode) => sampleNamespaceCpu(inode, process.pid));
      const turnStartedAt = performance.now();
      try {
        const result = (await runLoadgen(config, shardPhases.length, cluster.target.namespace, cleanup)) as ShardLoadResult;
        const turnSeconds = (performance.now() - turnStartedAt) / 1000;
        const idleSeconds = idle.reduce<number>((sum, inode, at) => {
          const seconds = cpuSecondsBetween(idleBefore[at]!, sampleNamespaceCpu(inode, process.pid));
          return sum + Object.values(seconds).reduce<number>((total, value) => total + value, 0);
        }, 0);
        runs.push({ round, shards, result: { ...result, placement: result.placement ?? null }, idleClustersCores: idle.length === 0 || turnSeconds <= 0 ? null : idleSeconds / turnSeconds });
        // A turn whose setup failed (e.g. the run directory's mkdir) measured nothing: that is a failure, not a note.
        if (result.setupErrors > 0) failures.push(`${label}: the turn was aborted (its note says why)`);
      } catch (error) {
        if (error instanceof InterruptedError || aborted()) throw error;
        failures.push(`${label}: ${(error as Error).message}`);
        log(`bench:shards: ${label} failed, going on: ${(error as Error).message}`);
      }
    }

    const finishedAt = new Date();
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      elapsedSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      machine: await machineInfo(loadBefore),
      options,
      clusters,
      runs,
      summary: summarizeShardRuns(runs, options.shardCounts),
      notes,
      failures,
    };
  } finally {
    // Stopped before the caller prints: their exit must not load the machine under anything else.
    for (const cluster of running.reverse()) {
      await cluster.stop().catch((error: unknown) => log(`bench:shards: stopping the ${cluster.shards}-shard cluster: ${(error as Error).message}`));
    }
  }
}

/** Namespace, `antler up --shards N` in it, and where its NATS listens (for the shard stats). */
async function startCluster(shards: number, namespaceIndex: number, workDir: string, cleanup: Cleanup, log: (line: string) => void): Promise<RunningCluster> {
  const namespace: Namespace = await createNamespace(namespaceIndex);
  const removeNamespace = cleanup.add(`delete namespace ${namespace.name}`, async () => {
    const leftover = await deleteNamespace(namespace.name);
    if (leftover > 0) log(`bench:shards: stopped ${leftover} leftover processes in ${namespace.name}`);
  });
  const dataName = `antler-${shards}-shards`;
  log(`bench:shards: starting antler with ${shards} shard${shards === 1 ? "" : "s"} in namespace ${namespace.name} (${namespace.address})`);
  let target: RunningTarget;
  try {
    await fsp.mkdir(path.join(workDir, dataName), { recursive: true });
    target = await startAntler(
      namespace,
      workDir,
      { flags: ["--shards", String(shards)], description: `minimal, ${shards} shard${shards === 1 ? "" : "s"} × 1 replica, 1 NATS node, 1 gateway, 1 router`, dataName },
      cleanup,
    );
  } catch (error) {
    await removeNamespace();
    throw error;
  }
  return {
    shards,
    target,
    natsUrl: await natsUrlOf(path.join(workDir, dataName)),
    stop: async () => {
      await target.stop();
      await removeNamespace();
    },
  };
}

/**
 * The launcher records the NATS client port of a cluster started with --host in DIR/cluster.json;
 * NATS listens on 127.0.0.1 inside the cluster's namespace, where the load generator runs.
 */
export async function natsUrlOf(dataDir: string): Promise<string | null> {
  try {
    const config = JSON.parse(await fsp.readFile(path.join(dataDir, "cluster.json"), "utf8")) as { natsPort?: unknown };
    return typeof config.natsPort === "number" && Number.isInteger(config.natsPort) ? `nats://127.0.0.1:${config.natsPort}` : null;
  } catch {
    return null;
  }
}
