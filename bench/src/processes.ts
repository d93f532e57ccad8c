/**
 * Child processes the benchmark starts: run-to-completion commands with bounded output, and
 * long-running servers stopped by their own PID (never by name: other people run the same
 * programs on this machine).
 */
import { type ChildProcess, spawn, type StdioOptions } from "node:child_process";
import * as benchLimits from "./limits.ts";

export class CommandError extends Error {
  override name = "CommandError";
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Forward the child's stderr to ours as it arrives (progress lines). */
  inheritStderr?: boolean;
  cwd?: string;
  /** Called with the child once it is spawned (to register it for cleanup). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Runs a command to completion; kills it (SIGKILL, by PID) when it outlives timeoutMs. */
export function runCommand(command: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = ["pipe", "pipe", options.inheritStderr ? "inherit" : "pipe"];
    const child = spawn(command, args, { stdio, env: options.env ?? process.env, cwd: options.cwd });
    options.onSpawn?.(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    child.stdout?.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= benchLimits.childStdoutBytesMax) stdout.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderrBytes += chunk.length;
      if (stderrBytes <= benchLimits.childStdoutBytesMax) stderr.push(chunk);
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killQuietly(child.pid, "SIGKILL");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new CommandError(`${command}: ${error.message}`, { cause: error }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
    child.stdin?.on("error", () => {
      // A child that exits without reading its input is reported by its exit code instead.
    });
    child.stdin?.end(options.input ?? "");
  });
}

/** Like runCommand but throws CommandError (with the output) unless the exit code is 0. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    const output = `${result.stderr}${result.stdout}`.trim().split("\n").slice(-15).join("\n");
    throw new CommandError(`${command} ${args.join(" ")} exited with ${result.code ?? result.signal}${output ? `:\n${output}` : ""}`);
  }
  return result;
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to graceMs for the exit, then SIGKILL. Resolves once the PID is gone. */
export async function stopProcess(child: ChildProcess, graceMs = benchLimits.stopGraceMs): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  killQuietly(pid, "SIGTERM");
  const timer = setTimeout(() => killQuietly(pid, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
