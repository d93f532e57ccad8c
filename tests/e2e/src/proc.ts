// Child processes for the e2e tests: bounded one-shot commands and long-running daemons whose
// PIDs sit in the cleanup registry for as long as they live.

import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { registerCleanup, stopPidSync } from "./cleanup.ts";

export interface RunOptions {
  /** The command is killed (SIGKILL) after this long and the result says so. */
  readonly timeoutMs: number;
  readonly input?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  readonly argv: readonly string[];
  /** Exit code, or null when the process died from a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (or to its timeout); never rejects for a non-zero exit. */
export function run(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const pid = child.pid;
    const tracked = pid === undefined ? undefined : registerCleanup(`process ${pid} (${argv[0]})`, () => stopPidSync(pid, 1_000));
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      tracked?.forget();
      reject(new Error(`cannot run ${argv.join(" ")}: ${error.message}`, { cause: error }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      tracked?.forget();
      resolve({ argv, code, signal, timedOut, stdout, stderr });
    });
    child.stdin.on("error", () => {
      // The command may exit without reading its input; that is its business.
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Like `run`, but a non-zero exit, a signal or a timeout is an error carrying the output. */
export async function runChecked(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(argv, options);
  if (result.code !== 0) throw new Error(describeFailure(result));
  return result;
}

export function describeFailure(result: RunResult): string {
  const how = result.timedOut ? "timed out" : result.signal !== null ? `died of ${result.signal}` : `exited ${result.code}`;
  return `${result.argv.join(" ")} ${how}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** A long-running child process whose output goes to a log file. */
export interface Daemon {
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (null after a signal) when the process ends. */
  readonly exited: Promise<number | null>;
  /** True until the process has exited. */
  running(): boolean;
  /** The log so far (for diagnostics and readiness markers). */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; synchronous so it can also run at exit. */
  stop(graceMs?: number): void;
}

export function startDaemon(label: string, argv: readonly string[], logPath: string, env?: NodeJS.ProcessEnv): Daemon {
  const logFd = openSync(logPath, "a");
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", logFd, logFd], env: env ?? process.env });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${label}: ${argv.join(" ")}`);
  let isRunning = true;
  const handle = registerCleanup(`${label} (pid ${pid})`, () => stopPidSync(pid, 5_000));
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      isRunning = false;
      handle.forget();
      resolve(code);
    });
    child.on("error", () => {
      isRunning = false;
      handle.forget();
      resolve(null);
    });
  });
  return {
    pid,
    logPath,
    exited,
    running: () => isRunning,
    log: () => readFileSync(logPath, "utf8"),
    stop: (graceMs = 5_000) => {
      if (isRunning) stopPidSync(pid, graceMs);
      handle.forget();
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns true; throws `describe()` on timeout. */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
