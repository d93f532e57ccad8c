// What a workload step uses to act on a mount and write down, normalised, what it observed.
// Every line names the operation with a path relative to the step's directory, so transcripts
// from different mount points compare equal; every failure is recorded as its errno name and
// never stops the step, so one divergence does not hide the ones after it.

import { lstat, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { posixCalls, asUserPrefix, type Credentials, type PosixCall } from "./posix-calls.ts";
import { run } from "./proc.ts";
import { abbreviate, formatError, formatStat, formatXattrValue, squashSpaces, type StatLike, type TranscriptLine } from "./transcript.ts";

const commandTimeoutMs = 60_000;
/** Calls whose numeric argument is a mode, shown in octal. */
const modeCalls = new Set(["mkdir", "create", "chmod"]);

export interface CommandOptions {
  readonly user?: Credentials;
  /** The working directory (default: the step's directory). */
  readonly cwd?: string;
  /** Whether stdout belongs in the transcript (after whitespace is squashed). */
  readonly keepStdout?: boolean;
  /** Sort stdout lines first (for listings whose order is unspecified). */
  readonly sortStdout?: boolean;
}

export class StepRecorder {
  readonly step: string;
  /** The step's own directory on the primary mount. */
  readonly dir: string;
  /** The same directory seen through the second mount. */
  readonly peerDir: string;
  readonly lines: TranscriptLine[] = [];

  constructor(step: string, dir: string, peerDir: string) {
    this.step = step;
    this.dir = dir;
    this.peerDir = peerDir;
  }

  /** The absolute path of `name` in the step's directory on the primary mount. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** The absolute path of `name` in the step's directory on the second mount. */
  peerPath(name: string): string {
    return join(this.peerDir, name);
  }

  note(text: string): void {
    this.lines.push({ step: this.step, text });
  }

  /** Runs `action`; records its result (or "ok") or its errno. */
  async call(label: string, action: () => Promise<unknown>): Promise<void> {
    try {
      const value = await action();
      this.note(`${label} -> ${typeof value === "string" ? value : "ok"}`);
    } catch (error) {
      this.note(`${label} -> ${formatError(error)}`);
    }
  }

  async stat(name: string, where: "primary" | "peer" = "primary"): Promise<void> {
    const path = where === "primary" ? this.path(name) : this.peerPath(name);
    await this.call(`stat ${where === "peer" ? "peer:" : ""}${name}`, async () => formatStat(await stat(path)));
  }

  async lstat(name: string, where: "primary" | "peer" = "primary"): Promise<void> {
    const path = where === "primary" ? this.path(name) : this.peerPath(name);
    await this.call(`lstat ${where === "peer" ? "peer:" : ""}${name}`, async () => formatStat(await lstat(path)));
  }

  /** Runs a command; records its exit code and, if asked, its normalised stdout. */
  async command(label: string, argv: readonly string[], options: CommandOptions = {}): Promise<string> {
    const result = await run([...asUserPrefix(options.user), ...argv], {
      timeoutMs: commandTimeoutMs,
      cwd: options.cwd ?? this.dir,
    });
    const exit = result.timedOut ? "timeout" : result.signal !== null ? result.signal : `exit=${result.code}`;
    let stdout = result.stdout;
    if (options.sortStdout === true) stdout = stdout.split("\n").filter((line) => line !== "").sort().join("\n");
    this.note(options.keepStdout === true ? `${label} -> ${exit} ${squashSpaces(stdout)}` : `${label} -> ${exit}`);
    return result.stdout;
  }

  /**
   * Runs system calls through posix_ops.py (as `user` when given) and records each result.
   * Absolute paths in the calls are shown relative to the step's directory.
   */
  async calls(label: string, calls: readonly PosixCall[], user?: Credentials): Promise<unknown[]> {
    const who = user === undefined ? "root" : `uid${user.uid}`;
    const results = await posixCalls(calls, user);
    return results.map((result, index) => {
      const call = calls[index]!;
      const shown = call.map((arg, position) => (position === 0 ? arg : this.show(call[0], arg))).join(" ");
      if ("errno" in result) {
        this.note(`${label} ${who}: ${shown} -> ${result.errno}`);
        return undefined;
      }
      this.note(`${label} ${who}: ${shown} -> ${formatCallValue(call[0], result.ok)}`);
      return result.ok;
    });
  }

  private show(call: string, arg: string | number): string {
    if (typeof arg === "number") return modeCalls.has(call) ? `0${arg.toString(8)}` : String(arg);
    if (arg.startsWith(`${this.dir}/`) || arg === this.dir) return abbreviate(relative(this.dir, arg) || ".");
    if (arg.startsWith(`${this.peerDir}/`) || arg === this.peerDir) return `peer:${abbreviate(relative(this.peerDir, arg) || ".")}`;
    return JSON.stringify(abbreviate(arg));
  }
}

function formatCallValue(call: string, value: unknown): string {
  if (value === null || value === undefined) return "ok";
  if (call === "stat" || call === "lstat") return formatStat(value as StatLike);
  if (call === "getxattr" && typeof value === "string") return formatXattrValue(value);
  if (Array.isArray(value)) return `[${value.map((item) => abbreviate(String(item))).join(",")}]`;
  return JSON.stringify(value);
}
