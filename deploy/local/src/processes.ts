/**
 * Facts about processes and files the supervisor, `status` and `down` rely on: whether a recorded
 * process is still the one we started, whether a port accepts connections, what a log says.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { Socket } from "node:net";
import {
  failureLogBytesMax, failureLogLinesMax, probeTimeoutMs, readyScanBytesMax,
} from "./limits.ts";

/** Start time (clock ticks since boot) of a live, non-zombie process, or undefined. */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: the fields after it start
  // after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** Whether `pid` is alive and is the process that started at `startTicks` (not a reused PID). */
export function isSameProcess(pid: number | null, startTicks: number | null): boolean {
  if (pid === null || startTicks === null) return false;
  return processStartTicks(pid) === startTicks;
}

export function processArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((part) => part !== "");
  } catch {
    return [];
  }
}

/** Sends a signal to a process we recorded, only while it is still that process. */
export function signalRecorded(
  pid: number | null,
  startTicks: number | null,
  signal: NodeJS.Signals,
): boolean {
  if (!isSameProcess(pid, startTicks) || pid === null) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function tcpAccepts(
  host: string,
  port: number,
  timeoutMs = probeTimeoutMs,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (accepted: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("error", () => finish(false));
    socket.connect(port, host, () => finish(true));
  });
}

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readRange(file: string, start: number, length: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, start);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log written after `fromOffset` (one run of a child), for error messages. */
export function logTail(file: string, fromOffset = 0, lines = failureLogLinesMax): string {
  const size = fileSize(file);
  const start = Math.max(fromOffset, size - failureLogBytesMax);
  const text = readRange(file, start, size - start).toString("utf8").trimEnd();
  return text.split("\n").slice(-lines).join("\n");
}

export const readyPrefix = "READY ";

export interface ReadyScan {
  /** Set once the READY line was found: its JSON (or raw text if it is not JSON). */
  ready?: unknown;
  /** Where the next scan continues: just after the last complete line read. */
  offset: number;
}

/**
 * Looks for a service's readiness line, `READY <json>` on a line of its own, in its log from
 * `offset` on (the log size when it was spawned, then what the previous scan returned). Only
 * complete lines count, so a line caught half-written is read again on the next scan.
 */
export function scanForReady(file: string, offset: number): ReadyScan {
  const length = Math.min(fileSize(file) - offset, readyScanBytesMax);
  if (length <= 0) return { offset };
  const bytes = readRange(file, offset, length);
  const completeLength = bytes.lastIndexOf(0x0a) + 1;
  if (completeLength === 0) {
    // A single line longer than the scan window cannot be a READY line of ours: skip past it.
    return { offset: bytes.length === readyScanBytesMax ? offset + bytes.length : offset };
  }
  const next = offset + completeLength;
  for (const line of bytes.subarray(0, completeLength).toString("utf8").split("\n")) {
    if (!line.startsWith(readyPrefix)) continue;
    const payload = line.slice(readyPrefix.length).trim();
    try {
      return { ready: JSON.parse(payload) as unknown, offset: next };
    } catch {
      return { ready: payload, offset: next };
    }
  }
  return { offset: next };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
