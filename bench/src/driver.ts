/**
 * One benchmark run: start mfsmaster once, then for each Antler profile start that cluster, run the
 * same workload against both alternately (A B A B …) so that slow drifts of the machine hit both
 * alike, and stop the cluster; optionally restart it with span files on for one traced round (the
 * per-hop breakdown), kept apart so that tracing never slows the measured rounds. Every process,
 * mount and namespace is registered with `cleanup` before anything can fail, so the caller's
 * cleanup.runAll() leaves the machine as it was.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { spanDirEnv } from "@antler/telemetry";
import { type AntlerStart, type Profile, profileDescription, repoRoot, startAntler } from "./antler-target.ts";
import type { BenchOptions } from "./args.ts";
import { commandGroups, computeBreakdown } from "./breakdown.ts";
import { type BreakdownReport, type ClientLatency, commandOfPhase } from "./breakdown-report.ts";
import type { Cleanup } from "./cleanup.ts";
import { Histogram } from "./histogram.ts";
import { type ProcessProfile, readCpuProfiles } from "./cpu-profile.ts";
import { InterruptedError, runLoadgen, type WorkloadConfig } from "./loadgen-runner.ts";
import { startMfsmaster } from "./mfsmaster-target.ts";
import { mountTarget } from "./mount.ts";
import { mountPhases } from "./mount-workload.ts";
import { createNamespace, deleteNamespace } from "./netns.ts";
import { runCommand } from "./processes.ts";
import { protocolPhases } from "./protocol-workload.ts";
import { type BenchReport, type MachineInfo, type RoundRecord, summarize } from "./report.ts";
import type { LoadResult } from "./result.ts";
import { readSpanFiles } from "./span-files.ts";
import type { RunningTarget, TargetName } from "./target.ts";

/** An Antler profile the launcher supports, with its flags. */
export interface ProfilePlan {
  profile: Profile;
  flags: readonly string[];
}

export interface DriverInput {
  options: BenchOptions;
  /** The profiles to run, in order (already checked to be supported); empty with --only mfsmaster. */
  profiles: readonly ProfilePlan[];
  workDir: string;
  cleanup: Cleanup;
  log: (line: string) => void;
  /** Aborted on Ctrl-C/SIGTERM: nothing new is started after that. */
  signal?: AbortSignal;
}

/** The CPU-profiled round of one profile (--cpu-prof). */
export interface CpuProfileReport {
  profile: string;
  shape: string;
  processes: ProcessProfile[];
  /** Profiles that could not be read, with why. */
  skipped: string[];
}

/** A stage of a profile that failed; the run went on without it. */
export interface StageFailure {
  profile: string;
  stage: string;
  error: string;
}

/** Everything one `npm run bench` measured: one report per profile, the breakdowns and profiles. */
export interface BenchSuite {
  startedAt: string;
  finishedAt: string;
  elapsedSeconds: number;
  machine: MachineInfo;
  reports: BenchReport[];
  breakdowns: BreakdownReport[];
  cpuProfiles: CpuProfileReport[];
  failures: StageFailure[];
}

/** Functions listed per process in a CPU profile summary. */
const cpuProfileTop = 8;

/**
 * Namespace indexes (address 10.213.(200+i).1): mfsmaster 0; each Antler cluster its own, so that
 * nothing a stopped cluster left behind can disturb the next one. 50 is the self-test's.
 */
const mfsmasterNamespace = 0;
const antlerNamespaceFirst = 1;

interface Started {
  target: RunningTarget;
  mountpoint: string | null;
  unmount: (() => Promise<void>) | null;
  /** Stops the target, then deletes its namespace. */
  stop: () => Promise<void>;
}

export async function runBenchmark(input: DriverInput): Promise<BenchSuite> {
  const { options, cleanup, log, workDir } = input;
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  let namespaceNext = antlerNamespaceFirst;

  const start = async (name: TargetName, index: number, antler: AntlerStart | null, mount: boolean): Promise<Started> => {
    const namespace = await createNamespace(index);
    const removeNamespace = cleanup.add(`delete namespace ${namespace.name}`, async () => {
      const leftover = await deleteNamespace(namespace.name);
      if (leftover > 0) log(`bench: stopped ${leftover} leftover processes in ${namespace.name}`);
    });
    const targetDir = path.join(workDir, antler === null ? name : antler.dataName);
    log(`bench: starting ${antler === null ? name : `antler ${antler.description}`} in namespace ${namespace.name} (${namespace.address})`);
    const startingAt = Date.now();
    let target: RunningTarget | null = null;
    let mountpoint: string | null = null;
    let unmount: (() => Promise<void>) | null = null;
    try {
      await fsp.mkdir(targetDir, { recursive: true });
      target =
        antler === null
          ? await startMfsmaster(namespace, targetDir, cleanup)
          : await startAntler(namespace, workDir, antler, cleanup).catch((error: Error) => {
              throw new Error(`${error.message}\n(Antler could not start; --only mfsmaster measures the reference alone)`, { cause: error });
            });
      if (mount) {
        log(`bench: mounting ${name} with mfsmount`);
        const mounted = await mountTarget(target, targetDir, cleanup);
        mountpoint = mounted.mountpoint;
        unmount = mounted.unmount;
      }
    } catch (error) {
      // The run may go on with other profiles: nothing of this start may stay behind.
      await target?.stop().catch(() => {});
      await removeNamespace();
      throw error;
    }
    log(`bench: ${name} ready after ${((Date.now() - startingAt) / 1000).toFixed(1)} s: ${target.description}`);
    return {
      target,
      mountpoint,
      unmount,
      stop: async () => {
        await unmount?.();
        await target.stop();
        await removeNamespace();
      },
    };
  };

  const reference = options.only === "antler" ? null : await start("mfsmaster", mfsmasterNamespace, null, options.mode === "mount");
  const reports: BenchReport[] = [];
  const breakdowns: BreakdownReport[] = [];
  const cpuProfiles: CpuProfileReport[] = [];
  // With --only mfsmaster there is no profile, but still one report.
  const plans: ReadonlyArray<ProfilePlan | null> = options.only === "mfsmaster" ? [null] : input.profiles;
  const failures: StageFailure[] = [];
  /**
   * One stage of one profile. A failure (a cluster that does not start, a crashed load
   * generator) is recorded and the run goes on with the next stage: a long run keeps what it
   * measured. Interruption (Ctrl-C) ends the run at once.
   */
  const aborted = () => input.signal?.aborted === true;
  const attempt = async (profile: string, stage: string, work: () => Promise<void>): Promise<boolean> => {
    if (aborted()) throw new InterruptedError("benchmark interrupted");
    try {
      await work();
      return true;
    } catch (error) {
      if (error instanceof InterruptedError || aborted()) throw error;
      const message = (error as Error).message;
      failures.push({ profile, stage, error: message });
      log(`bench: ${profile} ${stage} failed, going on with the next stage: ${message}`);
      return false;
    }
  };
  for (const plan of plans) {
    const profileName = plan?.profile ?? "mfsmaster only";
    let antler: Started | null = null;
    const measured = await attempt(profileName, "measured rounds", async () => {
      const profileStartedAt = new Date().toISOString();
      const profileLoadBefore = os.loadavg();
      try {
        antler =
          plan === null
            ? null
            : await start("antler", namespaceNext++, { flags: plan.flags, description: profileDescription(plan.profile, options.shards), dataName: `antler-${plan.profile}` }, options.mode === "mount");
        const running = new Map<TargetName, Started>();
        if (antler !== null) running.set("antler", antler);
        if (reference !== null) running.set("mfsmaster", reference);
        const order = (["antler", "mfsmaster"] as const).filter((name) => running.has(name));
        const profileOptions: BenchOptions = { ...options, profile: plan?.profile ?? "minimal" };
        const { rounds, notes } = await runRounds(profileOptions, order, running, plan?.profile ?? null, cleanup, log);
        reports.push({
          startedAt: profileStartedAt,
          finishedAt: new Date().toISOString(),
          machine: await machineInfo(profileLoadBefore),
          options: profileOptions,
          targets: order.map((name) => ({ name, description: running.get(name)!.target.description })),
          rounds,
          summary: summarize(order, rounds),
          notes,
        });
      } finally {
        await (antler as Started | null)?.stop();
      }
    });
    // A profile that cannot start measures nothing more.
    if (plan === null || !measured) continue;
    if (options.breakdown) {
      await attempt(plan.profile, "traced round", async () => {
        breakdowns.push(await tracedRound(plan, options, workDir, namespaceNext++, start, cleanup, log));
      });
    }
    if (options.cpuProf) {
      await attempt(plan.profile, "CPU-profiled round", async () => {
        cpuProfiles.push(await profiledRound(plan, options, workDir, namespaceNext++, start, cleanup, log));
      });
    }
  }
  await reference?.stop();

  const finishedAt = new Date();
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    elapsedSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine: await machineInfo(loadBefore),
    reports,
    breakdowns,
    cpuProfiles,
    failures,
  };
}

/** The measured rounds of one profile: every target once per round, in `order`. */
async function runRounds(
  options: BenchOptions,
  order: readonly TargetName[],
  running: ReadonlyMap<TargetName, Started>,
  profile: Profile | null,
  cleanup: Cleanup,
  log: (line: string) => void,
): Promise<{ rounds: RoundRecord[]; notes: string[] }> {
  const rounds: RoundRecord[] = [];
  const notes: string[] = [];
  const phaseCount = options.mode === "protocol" ? protocolPhases.length : mountPhases.length * 2;
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const name of order) {
      const { target, mountpoint } = running.get(name)!;
      const label = `${name}${name === "antler" && profile !== null ? ` ${profile}` : ""} r${round}`;
      const tag = `${process.pid}-${profile ?? "ref"}-${round}-${name}`;
      const config: WorkloadConfig =
        options.mode === "protocol"
          ? protocolConfig(target, label, tag, options.sessions, options.inflight, options.ops, options)
          : {
              mode: "mount", label, mountpoint: mountpoint!, ops: options.ops, workers: options.workers,
              entriesPerDir: options.entriesPerDir, phaseSeconds: options.phaseSeconds, tag,
              serverNetns: `/run/netns/${target.namespace.name}`,
            };
      log(`bench: round ${round}/${options.rounds}: ${label.replace(/ r[0-9]+$/, "")}`);
      // Protocol mode runs inside the target's namespace; mount mode uses the host-visible mount.
      const result = await runLoadgen(config, phaseCount, options.mode === "protocol" ? target.namespace : null, cleanup);
      notes.push(...resultNotes(label, result, options.phaseSeconds));
      rounds.push({ round, target: name, result });
    }
  }
  return { rounds, notes };
}

function protocolConfig(target: RunningTarget, label: string, tag: string, sessions: number, inflight: number, ops: number, options: BenchOptions): WorkloadConfig {
  return {
    mode: "protocol", label, host: target.namespace.address, port: target.port, sessions, inflight, ops,
    entriesPerDir: options.entriesPerDir, phaseSeconds: options.phaseSeconds, tag,
  };
}

function resultNotes(label: string, result: LoadResult, phaseSeconds: number): string[] {
  const notes = result.notes.map((note) => `${label}: ${note}`);
  for (const phase of result.phases) {
    if (phase.errors > 0) notes.push(`${label} ${phase.phase}: ${phase.errors} errors, e.g. ${phase.errorSamples.join("; ")}`);
    if (phase.truncated) notes.push(`${label} ${phase.phase}: stopped by the ${phaseSeconds} s phase budget`);
  }
  return notes;
}

/**
 * The breakdown of one profile: a fresh cluster of the profile whose services write span files,
 * one protocol round at one request in flight (the time of one operation, without queueing), then
 * `antler down` (services flush their spans when they stop) and the spans read back.
 */
async function tracedRound(
  plan: ProfilePlan,
  options: BenchOptions,
  workDir: string,
  namespaceIndex: number,
  start: (name: TargetName, index: number, antler: AntlerStart | null, mount: boolean) => Promise<Started>,
  cleanup: Cleanup,
  log: (line: string) => void,
): Promise<BreakdownReport> {
  const spanDir = path.join(workDir, `spans-${plan.profile}`);
  const dataName = `antler-${plan.profile}-traced`;
  const description = `${profileDescription(plan.profile, options.shards)}, span files on`;
  const traced = await start("antler", namespaceIndex, { flags: plan.flags, description, dataName, env: { [spanDirEnv]: spanDir } }, false);
  const label = `antler ${plan.profile} traced`;
  let result: LoadResult;
  try {
    log(`bench: traced round: ${label} (1 session, 1 in flight, ${options.breakdownOps} ops per phase)`);
    result = await runLoadgen(
      protocolConfig(traced.target, label, `${process.pid}-${plan.profile}-traced`, 1, 1, options.breakdownOps, options),
      protocolPhases.length,
      traced.target.namespace,
      cleanup,
    );
  } finally {
    await traced.stop();
  }
  const files = await readSpanFiles(spanDir);
  const latencyOf = (histogram: Histogram): ClientLatency => ({
    count: histogram.count, p50: histogram.percentile(50), p99: histogram.percentile(99), mean: histogram.meanMicros(),
  });
  const histograms = new Map<string, Histogram>();
  for (const phase of result.phases) {
    const command = commandOfPhase[phase.phase];
    if (command !== undefined && phase.count > 0) histograms.set(command, Histogram.fromJson(phase.histogram));
  }
  const client = Object.fromEntries([...histograms].map(([command, histogram]) => [command, latencyOf(histogram)]));
  const clientGroups: Record<string, ClientLatency> = {};
  for (const group of commandGroups) {
    const merged = new Histogram();
    for (const command of group.commands) {
      const histogram = histograms.get(command);
      if (histogram !== undefined) merged.merge(histogram);
    }
    if (merged.count > 0) clientGroups[group.name] = latencyOf(merged);
  }
  const errors = result.phases.reduce((sum, phase) => sum + phase.errors, 0);
  if (errors > 0) log(`bench: traced round had ${errors} failed operations (${resultNotes(label, result, options.phaseSeconds).join("; ")})`);
  return {
    profile: plan.profile,
    shape: `1 session × 1 in flight, ${options.breakdownOps} ops per phase${errors > 0 ? `, ${errors} failed operations` : ""}`,
    spanFiles: files.files,
    malformedLines: files.malformedLines,
    breakdown: computeBreakdown(files.records),
    client,
    clientGroups,
  };
}

/**
 * The CPU profile of one profile: a fresh cluster whose Node processes run under --cpu-prof (set
 * through NODE_OPTIONS, which the launcher's children inherit), one round with the measured
 * rounds' load, then `antler down`: each process writes its profile as it exits.
 */
async function profiledRound(
  plan: ProfilePlan,
  options: BenchOptions,
  workDir: string,
  namespaceIndex: number,
  start: (name: TargetName, index: number, antler: AntlerStart | null, mount: boolean) => Promise<Started>,
  cleanup: Cleanup,
  log: (line: string) => void,
): Promise<CpuProfileReport> {
  const profileDir = path.join(workDir, `cpu-${plan.profile}`);
  const nodeOptions = [process.env.NODE_OPTIONS ?? "", "--cpu-prof", `--cpu-prof-dir=${profileDir}`].join(" ").trim();
  const description = `${profileDescription(plan.profile, options.shards)}, node --cpu-prof`;
  const profiled = await start("antler", namespaceIndex, { flags: plan.flags, description, dataName: `antler-${plan.profile}-cpu`, env: { NODE_OPTIONS: nodeOptions } }, false);
  const label = `antler ${plan.profile} cpu-prof`;
  const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);
  const window = { startMicros: 0, endMicros: 0 };
  try {
    log(`bench: profiled round: ${label} (${options.sessions} sessions × ${options.inflight} in flight, ${options.ops} ops per phase)`);
    window.startMicros = monotonicMicros();
    const result = await runLoadgen(
      protocolConfig(profiled.target, label, `${process.pid}-${plan.profile}-cpu`, options.sessions, options.inflight, options.ops, options),
      protocolPhases.length,
      profiled.target.namespace,
      cleanup,
    );
    window.endMicros = monotonicMicros();
    const errors = result.phases.reduce((sum, phase) => sum + phase.errors, 0);
    if (errors > 0) log(`bench: profiled round had ${errors} failed operations`);
  } finally {
    await profiled.stop();
  }
  // Only the round's samples: not the processes' start and stop.
  const { processes, skipped } = await readCpuProfiles(profileDir, cpuProfileTop, repoRoot, window);
  processes.sort((a, b) => b.busyMicros - a.busyMicros);
  const shape = `${options.sessions} sessions × ${options.inflight} in flight, ${options.ops} ops per phase, ${((window.endMicros - window.startMicros) / 1e6).toFixed(1)} s of samples`;
  return { profile: plan.profile, shape, processes, skipped };
}

export async function machineInfo(loadBefore: readonly number[]): Promise<MachineInfo> {
  return { cpus: os.availableParallelism(), loadBefore, loadAfter: os.loadavg(), kernel: `${os.type()} ${os.release()}`, node: process.version, revision: await gitRevision() };
}

async function gitRevision(): Promise<string> {
  const head = await runCommand("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 }).catch(() => null);
  if (head === null || head.code !== 0) return "unknown";
  const status = await runCommand("git", ["-C", repoRoot, "status", "--porcelain", "--untracked-files=no"], { timeoutMs: 10_000 }).catch(() => null);
  return `${head.stdout.trim()}${status !== null && status.stdout.trim() !== "" ? "+changes" : ""}`;
}
