/**
 * A real mfsmount for mount mode: started in the foreground (we own its PID) through
 * `nsenter --net` so that it reaches the target's namespace address, while its FUSE mount lands in
 * the host mount namespace where the load generator runs. Unmounted with umount(8), then the PID is
 * waited for (SIGKILL after the grace period, lazy unmount as the last resort).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Cleanup } from "./cleanup.ts";
import * as benchLimits from "./limits.ts";
import { runCommand, sleep, stopProcess } from "./processes.ts";
import type { RunningTarget } from "./target.ts";

export const mfsmountBinary = "/usr/bin/mfsmount";

export interface Mounted {
  mountpoint: string;
  unmount(): Promise<void>;
}

function isMountpoint(mountpoint: string): boolean {
  const lines = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  return lines.some((line) => line.split(" ")[4] === mountpoint);
}

export async function mountTarget(target: RunningTarget, workDir: string, cleanup: Cleanup): Promise<Mounted> {
  if (!fs.existsSync(mfsmountBinary)) throw new Error(`${mfsmountBinary} is missing (apt-get install moosefs-client)`);
  const mountpoint = path.join(workDir, `mnt-${target.name}`);
  await fsp.mkdir(mountpoint, { recursive: true });
  const logPath = path.join(workDir, `mfsmount-${target.name}.log`);
  const log = fs.openSync(logPath, "a");
  let child: ChildProcess;
  try {
    const args = [...target.namespace.enter.slice(1), mfsmountBinary, mountpoint, "-f", "-H", target.namespace.address, "-P", String(target.port)];
    child = spawn(target.namespace.enter[0]!, args, { stdio: ["ignore", log, log] });
  } finally {
    fs.closeSync(log);
  }
  let exitReason: string | null = null;
  child.on("exit", (code, signal) => {
    exitReason = `mfsmount exited with ${code ?? signal} (log: ${logPath})`;
  });
  const unmount = cleanup.add(`unmount ${mountpoint} (mfsmount pid ${child.pid})`, async () => {
    if (isMountpoint(mountpoint)) await runCommand("umount", [mountpoint], { timeoutMs: benchLimits.stopGraceMs });
    await stopProcess(child);
    if (isMountpoint(mountpoint)) await runCommand("umount", ["-l", mountpoint], { timeoutMs: benchLimits.stopGraceMs });
  });
  const deadline = Date.now() + benchLimits.serverReadyTimeoutMs;
  while (!isMountpoint(mountpoint)) {
    if (exitReason !== null) throw new Error(exitReason);
    if (Date.now() > deadline) throw new Error(`mfsmount did not mount ${mountpoint} within ${benchLimits.serverReadyTimeoutMs} ms`);
    await sleep(benchLimits.pollIntervalMs);
  }
  return { mountpoint, unmount };
}
