// The cleanup registry: every process, mount, namespace and temporary directory an e2e test
// creates is registered here the moment it exists, and removed again when the test releases it.
// Whatever is still registered is torn down in reverse order by `cleanupAll()` (called from the
// tests' `after` hooks) and, as a last resort, when the test process exits or receives a signal,
// so a failing or interrupted test never leaves a FUSE mount, a daemon or a namespace behind.
//
// Every action is synchronous on purpose: Node runs only synchronous code in an 'exit' handler,
// and one code path for the normal and the emergency case is the one that gets tested.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface CleanupHandle {
  readonly label: string;
  /** Runs the action now (if it has not run yet) and unregisters it. */
  release(): void;
  /** Unregisters the action without running it: the resource is already gone. */
  forget(): void;
}

interface Entry {
  readonly label: string;
  readonly action: () => void;
  done: boolean;
}

const entries: Entry[] = [];
let handlersInstalled = false;

/** Registers `action` to remove the resource named `label`; runs at most once. */
export function registerCleanup(label: string, action: () => void): CleanupHandle {
  installExitHandlers();
  const entry: Entry = { label, action, done: false };
  entries.push(entry);
  const unregister = (): void => {
    const index = entries.indexOf(entry);
    if (index >= 0) entries.splice(index, 1);
  };
  return {
    label,
    release: () => {
      unregister();
      runEntry(entry);
    },
    forget: () => {
      entry.done = true;
      unregister();
    },
  };
}

/** Tears down everything still registered, newest first. Returns the failures as messages. */
export function cleanupAll(): string[] {
  const failures: string[] = [];
  while (entries.length > 0) {
    const entry = entries.pop()!;
    const failure = runEntry(entry);
    if (failure !== undefined) failures.push(failure);
  }
  return failures;
}

/** Labels of what is still registered, oldest first (for assertions and diagnostics). */
export function pendingCleanups(): string[] {
  return entries.map((entry) => entry.label);
}

function runEntry(entry: Entry): string | undefined {
  if (entry.done) return undefined;
  entry.done = true;
  try {
    entry.action();
    return undefined;
  } catch (error) {
    const message = `cleanup of ${entry.label} failed: ${String(error)}`;
    process.stderr.write(`${message}\n`);
    return message;
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    cleanupAll();
  });
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    process.on(signal, () => {
      process.stderr.write(`e2e: ${signal} received at ${new Date().toISOString()}, cleaning up\n`);
      cleanupAll();
      process.exit(128 + number);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Synchronous building blocks for cleanup actions.

/** Sleeps without an event loop (cleanup runs inside 'exit' handlers). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** True while `pid` names a process that has not exited (zombies count as exited). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the first field after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait for the process to be gone (0: SIGKILL at once). */
export function stopPidSync(pid: number, graceMs: number): void {
  if (!isAlive(pid)) return;
  if (graceMs > 0) {
    signalPid(pid, "SIGTERM");
    if (waitGoneSync(pid, graceMs)) return;
  }
  signalPid(pid, "SIGKILL");
  if (!waitGoneSync(pid, 5_000)) throw new Error(`pid ${pid} survived SIGKILL`);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function waitGoneSync(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    sleepSync(50);
  }
  return true;
}

/** Runs a command synchronously for cleanup; returns its exit status (null on timeout). */
export function runSync(argv: readonly string[], timeoutMs: number): { status: number | null; output: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { timeout: timeoutMs, encoding: "utf8", killSignal: "SIGKILL" });
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}`.trim() };
}

/** True while `dir` is a mount point listed in /proc/mounts. */
export function isMounted(dir: string): boolean {
  const mounts = readFileSync("/proc/mounts", "utf8");
  const encoded = encodeMountPath(dir);
  return mounts.split("\n").some((line) => line.split(" ")[1] === encoded);
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
export function encodeMountPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** Unmounts `dir`: a plain umount first, a lazy one when the mount is busy or its daemon died. */
export function unmountSync(dir: string): void {
  if (!isMounted(dir)) return;
  const plain = runSync(["umount", dir], 10_000);
  if (plain.status === 0 && !isMounted(dir)) return;
  const lazy = runSync(["umount", "-l", dir], 10_000);
  if (lazy.status !== 0 && isMounted(dir)) throw new Error(`umount -l ${dir}: ${lazy.output}`);
}
