/**
 * One benchmark run: start each server once (each in its own namespace), run the same workload
 * against them alternately (A B A B …) so that slow drifts of the machine hit both alike, stop
 * everything, and summarize. Every process, mount and namespace is registered with `cleanup`
 * before anything can fail, so the caller's cleanup.runAll() leaves the machine as it was.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot, startAntler } from "./antler-target.ts";
import type { BenchOptions } from "./args.ts";
import type { Cleanup } from "./cleanup.ts";
import { runLoadgen, type WorkloadConfig } from "./loadgen-runner.ts";
import { startMfsmaster } from "./mfsmaster-target.ts";
import { mountTarget } from "./mount.ts";
import { mountPhases } from "./mount-workload.ts";
import { createNamespace, deleteNamespace } from "./netns.ts";
import { runCommand } from "./processes.ts";
import { protocolPhases } from "./protocol-workload.ts";
import { type BenchReport, type RoundRecord, summarize } from "./report.ts";
import type { RunningTarget, TargetName } from "./target.ts";

export interface DriverInput {
  options: BenchOptions;
  /** Launcher flags of the chosen Antler profile (already checked to be supported). */
  antlerFlags: readonly string[];
  workDir: string;
  cleanup: Cleanup;
  log: (line: string) => void;
}

/** Namespace index per target: mfsmaster at 10.213.200.1, Antler at 10.213.201.1. */
const namespaceIndex: Record<TargetName, number> = { mfsmaster: 0, antler: 1 };

export async function runBenchmark(input: DriverInput): Promise<BenchReport> {
  const { options, cleanup, log, workDir } = input;
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  const order: TargetName[] = (["antler", "mfsmaster"] as const).filter((name) => options.only === null || options.only === name);
  const notes: string[] = [];

  const running = new Map<TargetName, { target: RunningTarget; mountpoint: string | null }>();
  for (const name of order) {
    const namespace = await createNamespace(namespaceIndex[name]);
    cleanup.add(`delete namespace ${namespace.name}`, async () => {
      const leftover = await deleteNamespace(namespace.name);
      if (leftover > 0) log(`bench: stopped ${leftover} leftover processes in ${namespace.name}`);
    });
    const targetDir = path.join(workDir, name);
    await fsp.mkdir(targetDir, { recursive: true });
    log(`bench: starting ${name} in namespace ${namespace.name} (${namespace.address})`);
    const target =
      name === "mfsmaster"
        ? await startMfsmaster(namespace, targetDir, cleanup)
        : await startAntler(namespace, targetDir, input.antlerFlags, cleanup).catch((error: Error) => {
            throw new Error(`${error.message}\n(Antler could not start; --only mfsmaster measures the reference alone)`, { cause: error });
          });
    let mountpoint: string | null = null;
    if (options.mode === "mount") {
      log(`bench: mounting ${name} with mfsmount`);
      mountpoint = (await mountTarget(target, targetDir, cleanup)).mountpoint;
    }
    running.set(name, { target, mountpoint });
    log(`bench: ${name} ready: ${target.description}`);
  }

  const rounds: RoundRecord[] = [];
  const phaseCount = options.mode === "protocol" ? protocolPhases.length : mountPhases.length * 2;
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const name of order) {
      const { target, mountpoint } = running.get(name)!;
      const label = `${name} r${round}`;
      const tag = `${process.pid}-${round}-${name}`;
      const config: WorkloadConfig =
        options.mode === "protocol"
          ? {
              mode: "protocol", label, host: target.namespace.address, port: target.port, sessions: options.sessions,
              inflight: options.inflight, ops: options.ops, entriesPerDir: options.entriesPerDir, phaseSeconds: options.phaseSeconds, tag,
            }
          : {
              mode: "mount", label, mountpoint: mountpoint!, ops: options.ops, workers: options.workers,
              entriesPerDir: options.entriesPerDir, phaseSeconds: options.phaseSeconds, tag,
              serverNetns: `/run/netns/${target.namespace.name}`,
            };
      log(`bench: round ${round}/${options.rounds}: ${name}`);
      // Protocol mode runs inside the target's namespace; mount mode uses the host-visible mount.
      const result = await runLoadgen(config, phaseCount, options.mode === "protocol" ? target.namespace : null, cleanup);
      for (const note of result.notes) notes.push(`${label}: ${note}`);
      for (const phase of result.phases) {
        if (phase.errors > 0) notes.push(`${label} ${phase.phase}: ${phase.errors} errors, e.g. ${phase.errorSamples.join("; ")}`);
        if (phase.truncated) notes.push(`${label} ${phase.phase}: stopped by the ${options.phaseSeconds} s phase budget`);
      }
      rounds.push({ round, target: name, result });
    }
  }

  const loadAfter = os.loadavg();
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: os.availableParallelism(), loadBefore, loadAfter, kernel: `${os.type()} ${os.release()}`, node: process.version, revision: await gitRevision() },
    options,
    targets: order.map((name) => ({ name, description: running.get(name)!.target.description })),
    rounds,
    summary: summarize(order, rounds),
    notes,
  };
}

async function gitRevision(): Promise<string> {
  const head = await runCommand("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 }).catch(() => null);
  if (head === null || head.code !== 0) return "unknown";
  const status = await runCommand("git", ["-C", repoRoot, "status", "--porcelain", "--untracked-files=no"], { timeoutMs: 10_000 }).catch(() => null);
  return `${head.stdout.trim()}${status !== null && status.stdout.trim() !== "" ? "+changes" : ""}`;
}
