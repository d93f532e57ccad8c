/**
 * The supervisor: starts a list of children in order, waits for each to be ready before the
 * next, restarts any that exit unexpectedly, and stops them in reverse order. It knows nothing
 * about NATS or MooseFS: children.ts describes the cluster's processes as ChildSpecs.
 *
 * Restarts: the first after 100 ms, doubling on each quick failure up to 2 s; a child that ran
 * 10 s counts as healthy again. More than restartsPerWindowMax quick failures (exits within 10 s
 * of the start) of one child within restartWindowMs mean it cannot run: the supervisor stops the
 * whole cluster and fails.
 * Children run in their own process groups (detached), so a Ctrl-C on the terminal reaches only
 * the supervisor, which then stops them in order instead of all at once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, openSync, writeSync } from "node:fs";
import {
  pollIntervalMs, restartBackoffMaxMs, restartBackoffMinMs, restartStableUptimeMs,
  restartWindowMs, restartsPerWindowMax, stopGraceMs,
} from "./limits.ts";
import { fileSize, logTail, processStartTicks, sleep } from "./processes.ts";
import type { ProcessRecord, ProcessRole } from "./state.ts";

export interface ChildSpec {
  name: string;
  role: ProcessRole;
  shardId?: number;
  /** Shards: which replica of its shard; `shardReplicas` how many the shard has. */
  replicaId?: number;
  shardReplicas?: number;
  command: string;
  args: string[];
  /** Added to the supervisor's own environment. */
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  addresses: string[];
  readyTimeoutMs: number;
  /** Polled until true; `logOffset` is where this run's output starts in the log file. */
  probe: (run: ChildRun) => Promise<boolean>;
  /** Checked before each spawn; a message here fails the start with that reason. */
  precondition?: () => string | undefined;
  /**
   * Runs once after the first readiness, before the next child starts (e.g. creating the
   * cluster's replicated buckets once all NATS nodes serve). A throw fails the start.
   */
  afterReady?: () => Promise<void>;
}

/** One spawn of a child: what a readiness probe may look at. */
export interface ChildRun {
  pid: number;
  logOffset: number;
  /** Probes may keep their own progress here (e.g. how far the log was scanned). */
  scanOffset: number;
  /** Probes store what the child reported when ready (a service's READY JSON). */
  ready?: unknown;
}

/** A child could not be started or did not become ready. The message is for the operator. */
export class ChildStartError extends Error {
  override name = "ChildStartError";
}

/** The supervisor was asked to stop while it was still starting children. */
export class StopRequested extends Error {
  override name = "StopRequested";
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export class SupervisedChild {
  readonly spec: ChildSpec;
  readonly record: ProcessRecord;
  private child: ChildProcess | undefined;
  private run: ChildRun | undefined;
  private exit: ChildExit | undefined;
  private exited: Promise<ChildExit> = Promise.resolve({ code: null, signal: null });
  private startedAtMs = 0;
  private backoffMs = restartBackoffMinMs;
  private restartTimesMs: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** Set while the supervisor itself stops the child: its exit is then expected. */
  private stopping = false;
  /** Became ready at least once: a later exit is a crash to restart, not a failed start. */
  everReady = false;

  constructor(spec: ChildSpec) {
    this.spec = spec;
    this.record = {
      name: spec.name, role: spec.role, pid: null, startTicks: null, addresses: spec.addresses,
      restarts: 0, status: "starting", logFile: spec.logFile, command: [spec.command, ...spec.args],
    };
    if (spec.shardId !== undefined) {
      this.record.shardId = spec.shardId;
      if (spec.replicaId !== undefined) this.record.replicaId = spec.replicaId;
      // A shard's only process leads whenever it runs; with standbys the lease decides, and the
      // supervisor fills this in from the lease bucket (supervise.ts).
      if ((spec.shardReplicas ?? 1) === 1) this.record.leader = true;
    }
  }

  /** Spawns the child; `onExit` hears about exits the supervisor did not ask for. */
  spawn(onExit: (child: SupervisedChild, exit: ChildExit) => void): void {
    const reason = this.spec.precondition?.();
    if (reason !== undefined) {
      this.record.status = "failed";
      throw new ChildStartError(`${this.label()} cannot start: ${reason}`);
    }
    const logFd = openSync(this.spec.logFile, "a");
    const logOffset = fileSize(this.spec.logFile);
    try {
      writeSync(logFd, `--- antler: starting ${this.spec.name} at ${new Date().toISOString()}: ` +
        `${this.record.command.join(" ")}\n`);
      this.child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: { ...process.env, ...this.spec.env },
        stdio: ["ignore", logFd, logFd],
        detached: true,
      });
    } finally {
      closeSync(logFd);
    }
    const child = this.child;
    this.exit = undefined;
    this.stopping = false;
    this.startedAtMs = Date.now();
    this.exited = new Promise<ChildExit>((resolve) => {
      let done = false;
      const finish = (exit: ChildExit): void => {
        if (done) return;
        done = true;
        this.exit = exit;
        this.record.pid = null;
        this.record.startTicks = null;
        resolve(exit);
        if (!this.stopping) onExit(this, exit);
      };
      child.once("error", (error) => finish({ code: null, signal: null, error }));
      child.once("exit", (code, signal) => finish({ code, signal }));
    });
    const pid = child.pid ?? null;
    this.record.pid = pid;
    this.record.startTicks = pid === null ? null : (processStartTicks(pid) ?? null);
    this.run = { pid: pid ?? 0, logOffset, scanOffset: logOffset };
  }

  /** Polls the probe until it succeeds; throws if the child exits, times out or stop() is asked. */
  async waitReady(stopRequested: () => boolean): Promise<void> {
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    for (;;) {
      if (stopRequested()) throw new StopRequested("stop requested during start");
      if (this.exit !== undefined || this.run === undefined) {
        this.record.status = "failed";
        throw new ChildStartError(`${this.describeExit()} before it was ready${this.logExcerpt()}`);
      }
      if (await this.spec.probe(this.run)) {
        this.record.status = "running";
        if (this.run.ready !== undefined) this.record.ready = this.run.ready;
        this.everReady = true;
        return;
      }
      if (Date.now() > deadline) {
        this.record.status = "failed";
        throw new ChildStartError(
          `${this.spec.name} was not ready after ${this.spec.readyTimeoutMs / 1000} s` +
            this.logExcerpt(),
        );
      }
      await sleep(pollIntervalMs);
    }
  }

  /** "service gateway" for our own services, the plain name for third-party programs. */
  private label(): string {
    const role = this.spec.role;
    const external = role === "nats" || role === "redis" || role === "chunkserver";
    return external ? this.spec.name : `service ${this.spec.name}`;
  }

  describeExit(exit: ChildExit | undefined = this.exit): string {
    const what = this.label();
    if (exit === undefined) return `${what} is running`;
    if (exit.error !== undefined) return `${what} could not be started: ${exit.error.message}`;
    if (exit.signal !== null) return `${what} was killed by ${exit.signal}`;
    return `${what} exited with code ${exit.code}`;
  }

  private logExcerpt(): string {
    const tail = logTail(this.spec.logFile, this.run?.logOffset ?? 0);
    return tail === "" ? "" : `; last lines of ${this.spec.logFile}:\n${tail}`;
  }

  /**
   * Books a restart after an unexpected exit. Returns the delay, or undefined when the child
   * used up its restart budget.
   */
  planRestart(nowMs: number): number | undefined {
    this.restartTimesMs = this.restartTimesMs.filter((time) => nowMs - time < restartWindowMs);
    // Only quick failures count against the budget: a crash loop dies young. A child that ran
    // restartStableUptimeMs was healthy, and shard replicas exit on purpose when they lose their
    // lease (fencing), which a fault test or a flaky network may cause many times an hour.
    const ranLong = nowMs - this.startedAtMs >= restartStableUptimeMs;
    if (!ranLong) {
      if (this.restartTimesMs.length >= restartsPerWindowMax) return undefined;
      this.restartTimesMs.push(nowMs);
    }
    if (ranLong) this.backoffMs = restartBackoffMinMs;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(restartBackoffMaxMs, this.backoffMs * 2);
    this.record.restarts++;
    this.record.status = "restarting";
    return delay;
  }

  scheduleRestart(delayMs: number, restart: () => void): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      restart();
    }, delayMs);
  }

  /**
   * After a restart: probes until this run of the child is ready (status "starting" → "running"),
   * so `status` shows a service as running only once it serves again. Gives up quietly when the
   * child exits (the exit handler restarts it), `stopRequested()` or the ready timeout passes
   * (then it counts as running: it is alive, and its log says why it is slow).
   * Returns whether the child reported ready.
   */
  async settleAfterRestart(stopRequested: () => boolean): Promise<boolean> {
    const run = this.run;
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    while (run !== undefined && run === this.run && this.exit === undefined && !stopRequested()) {
      if (await this.spec.probe(run)) {
        if (run !== this.run || this.exit !== undefined) return false;
        this.record.status = "running";
        if (run.ready !== undefined) this.record.ready = run.ready;
        return true;
      }
      if (Date.now() > deadline) {
        this.record.status = "running";
        return false;
      }
      await sleep(pollIntervalMs);
    }
    return false;
  }

  isRunning(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the child is gone. */
  async stop(): Promise<void> {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopping = true;
    const child = this.child;
    if (child !== undefined && this.exit === undefined) {
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), stopGraceMs);
        }),
      ]);
      // A pending timer would keep the supervisor alive after its work is done.
      clearTimeout(timer);
      if (!graceful) {
        child.kill("SIGKILL");
        await this.exited;
      }
    }
    if (this.record.status !== "failed") this.record.status = "stopped";
  }
}

/** Appends a timestamped line to the supervisor log, and echoes it when attached to a terminal. */
export class SupervisorLog {
  private readonly file: string;
  private readonly echo: boolean;

  constructor(file: string, echo: boolean) {
    this.file = file;
    this.echo = echo;
  }

  write(message: string): void {
    appendFileSync(this.file, `${new Date().toISOString()} ${message}\n`);
    if (this.echo) process.stdout.write(`antler: ${message}\n`);
  }
}
