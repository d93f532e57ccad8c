/**
 * `antler down --data DIR`: asks the cluster's supervisor to stop (SIGTERM, after checking by
 * PID, start time and command line that it really is the supervisor of DIR), waits until it is
 * gone, then kills by recorded PID whatever it left behind (a supervisor killed with SIGKILL
 * leaves its children running) and removes the namespace if the cluster created it. Running it
 * again, or on a cluster that is not running, does nothing and succeeds.
 */
import { existsSync, unlinkSync } from "node:fs";
import type { DownCommand } from "./args.ts";
import { layoutOf, type Layout } from "./config.ts";
import { stopGraceMs, supervisorStopTimeoutMs, pollIntervalMs } from "./limits.ts";
import { deleteNetns, netnsExists } from "./netns.ts";
import { isSameProcess, processArgv, signalRecorded, sleep } from "./processes.ts";
import { lockHolder } from "./supervise.ts";
import { readState, writeState, type ClusterState } from "./state.ts";

/** Whether the state's supervisor is alive and is a supervisor of this data directory. */
export function supervisorAlive(state: ClusterState): boolean {
  const { pid, startTicks } = state.supervisor;
  if (!isSameProcess(pid, startTicks)) return false;
  const argv = processArgv(pid);
  return argv.includes(state.dataDir) && argv.includes("__supervise");
}

async function waitGone(isAlive: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive()) {
    if (Date.now() > deadline) return false;
    await sleep(pollIntervalMs);
  }
  return true;
}

/**
 * Kills every recorded child that is still the process we started (SIGTERM, then SIGKILL after
 * the grace period), last started first. Returns the names of those it had to stop.
 */
export async function stopLeftovers(state: ClusterState): Promise<string[]> {
  const stopped: string[] = [];
  for (const record of [...state.processes].reverse()) {
    if (!signalRecorded(record.pid, record.startTicks, "SIGTERM")) continue;
    stopped.push(record.name);
    const gone = await waitGone(() => isSameProcess(record.pid, record.startTicks), stopGraceMs);
    if (!gone) signalRecorded(record.pid, record.startTicks, "SIGKILL");
    await waitGone(() => isSameProcess(record.pid, record.startTicks), stopGraceMs);
    record.pid = null;
    record.startTicks = null;
    record.status = "stopped";
  }
  return stopped;
}

/** Removes the namespace when the state says this cluster created it. */
export async function removeOwnedNetns(state: ClusterState): Promise<boolean> {
  const netns = state.netns;
  if (netns === undefined || !netns.owned || !netnsExists(netns.name)) return false;
  await deleteNetns(netns.name);
  return true;
}

function removeStaleLock(layout: Layout): void {
  if (existsSync(layout.lockFile) && lockHolder(layout) === undefined) {
    try {
      unlinkSync(layout.lockFile);
    } catch {
      // Removed concurrently.
    }
  }
}

export async function down(command: DownCommand, out: (line: string) => void): Promise<number> {
  const layout = layoutOf(command.dataDir);
  const state = readState(layout.stateFile);
  if (state === undefined) {
    out(`nothing to stop: no cluster state in ${layout.dataDir}`);
    return 0;
  }
  if (supervisorAlive(state)) {
    out(`stopping the cluster (supervisor pid ${state.supervisor.pid})`);
    signalRecorded(state.supervisor.pid, state.supervisor.startTicks, "SIGTERM");
    const gone = await waitGone(() => supervisorAlive(state), supervisorStopTimeoutMs);
    if (!gone) {
      out(`the supervisor did not stop within ${supervisorStopTimeoutMs / 1000} s; killing it`);
      signalRecorded(state.supervisor.pid, state.supervisor.startTicks, "SIGKILL");
      await waitGone(() => supervisorAlive(state), stopGraceMs);
    }
  }
  // Re-read: the supervisor's last write says what it stopped and whether it removed the netns.
  const latest = readState(layout.stateFile) ?? state;
  const leftovers = await stopLeftovers(latest);
  if (leftovers.length > 0) out(`killed leftover processes: ${leftovers.join(", ")}`);
  if (await removeOwnedNetns(latest)) out(`removed namespace ${latest.netns?.name}`);
  if (latest.phase !== "stopped" && latest.phase !== "failed") latest.phase = "stopped";
  latest.updatedAt = new Date().toISOString();
  writeState(layout.stateFile, latest);
  removeStaleLock(layout);
  out("stopped");
  return 0;
}
