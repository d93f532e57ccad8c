/**
 * `antler __supervise`: the long-lived process that owns a running cluster. `antler up` starts it
 * inside the cluster's network namespace (so its children inherit the namespace and its probes
 * reach 127.0.0.1 there), attached to the terminal or detached (own session, log in
 * DIR/logs/supervisor.log). It takes DIR/supervisor.lock, starts the children in order, keeps
 * DIR/state.json current, restarts crashed children, and on SIGTERM/SIGINT stops everything in
 * reverse order, removes the namespace when this run created it, and exits.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import type { SuperviseCommand } from "./args.ts";
import { clusterChildren, executablesFromEnvironment, prepareFiles } from "./children.ts";
import { readClusterConfig } from "./cluster-file.ts";
import {
  layoutOf, mountCommandOf, natsUrlOf, topologyOf, type ClusterConfig, type Layout,
} from "./config.ts";
import { trackLeaders } from "./leaders.ts";
import { deleteNetns } from "./netns.ts";
import { isSameProcess, processStartTicks, tcpAccepts } from "./processes.ts";
import { writeState, type ClusterPhase, type ClusterState } from "./state.ts";
import {
  ChildStartError, StopRequested, SupervisedChild, SupervisorLog, type ChildExit,
} from "./supervisor.ts";

// Kept importable from here, where it used to live.
export { readClusterConfig };

/** Another supervisor holds DIR. */
export class ClusterRunning extends Error {
  override name = "ClusterRunning";
}

/** The lock holds "PID STARTTICKS" of the supervisor that owns DIR. */
export function lockHolder(layout: Layout): { pid: number; startTicks: number } | undefined {
  try {
    const [pid, startTicks] = readFileSync(layout.lockFile, "utf8").trim().split(" ").map(Number);
    if (pid === undefined || startTicks === undefined) return undefined;
    if (!isSameProcess(pid, startTicks)) return undefined;
    return { pid, startTicks };
  } catch {
    return undefined;
  }
}

function takeLock(layout: Layout, ownTicks: number): void {
  const content = `${process.pid} ${ownTicks}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(layout.lockFile, content, { flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = lockHolder(layout);
    if (holder !== undefined) {
      throw new ClusterRunning(
        `a supervisor (pid ${holder.pid}) already runs the cluster in ${layout.dataDir}`,
      );
    }
    unlinkSync(layout.lockFile); // Stale: its supervisor is gone.
  }
  throw new ClusterRunning(`could not take ${layout.lockFile}`);
}

function releaseLock(layout: Layout): void {
  try {
    const ours = readFileSync(layout.lockFile, "utf8").startsWith(`${process.pid} `);
    if (ours) unlinkSync(layout.lockFile);
  } catch {
    // Already gone.
  }
}

export async function supervise(command: SuperviseCommand): Promise<number> {
  const layout = layoutOf(command.dataDir);
  const config = readClusterConfig(layout);
  if (config === undefined) {
    throw new ChildStartError(`${layout.clusterFile} is missing; run antler up`);
  }
  const ownTicks = processStartTicks(process.pid) ?? 0;
  takeLock(layout, ownTicks);
  const log = new SupervisorLog(layout.supervisorLog, command.attached);
  let phase: ClusterPhase = "starting";
  let failure: string | undefined;
  let stopRequested = false;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { wake = resolve; });
  const requestStop = (reason: string): void => {
    if (stopRequested) return;
    stopRequested = true;
    log.write(reason);
    wake();
  };
  const fail = (message: string): void => {
    failure ??= message;
    requestStop(`failing: ${message}`);
  };
  process.on("SIGTERM", () => requestStop("SIGTERM: stopping the cluster"));
  process.on("SIGINT", () => requestStop("SIGINT: stopping the cluster"));
  process.on("SIGHUP", () => requestStop("SIGHUP: stopping the cluster"));
  // A bug in the supervisor must still stop the cluster in order, not orphan its children.
  const onCrash = (error: unknown): void => {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    fail(`supervisor error: ${detail}`);
  };
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);

  let children: SupervisedChild[] = [];
  let leaders: { stop(): Promise<void> } | undefined;
  const save = (): void => {
    const state: ClusterState = {
      format: 1, dataDir: layout.dataDir, phase,
      supervisor: { pid: process.pid, startTicks: ownTicks, attached: command.attached },
      processes: children.map((child) => child.record),
      mountCommand: mountCommandOf(config),
      updatedAt: new Date().toISOString(),
    };
    if (failure !== undefined) state.error = failure;
    if (config.network.mode === "netns") {
      const { netns: name, address } = config.network;
      state.netns = { name, address, owned: command.ownsNetns };
    }
    writeState(layout.stateFile, state);
  };

  const onUnexpectedExit = (child: SupervisedChild, exit: ChildExit): void => {
    if (stopRequested) return;
    if (child.record.status === "starting" && !child.everReady) {
      save(); // waitReady reports it as a start failure.
      return;
    }
    const delay = child.planRestart(Date.now());
    if (delay === undefined) {
      child.record.status = "failed";
      fail(`${child.describeExit(exit)} and was restarted too often; giving up`);
      return;
    }
    log.write(`${child.describeExit(exit)}; restart #${child.record.restarts} in ${delay} ms`);
    save();
    child.scheduleRestart(delay, () => {
      if (stopRequested) return;
      try {
        child.spawn(onUnexpectedExit);
        // "starting" until it is ready again (a shard replica replays its log, a gateway binds).
        child.record.status = "starting";
        log.write(`${child.spec.name} restarted (pid ${child.record.pid})`);
        const pid = child.record.pid;
        void child.settleAfterRestart(() => stopRequested).then((ready) => {
          if (stopRequested || child.record.pid !== pid) return;
          log.write(ready
            ? `${child.spec.name} is ready again`
            : `${child.spec.name} did not report ready within ${child.spec.readyTimeoutMs / 1000} s of its restart`);
          save();
        });
      } catch (error) {
        child.record.status = "failed";
        fail(error instanceof Error ? error.message : String(error));
      }
      save();
    });
  };

  try {
    log.write(`supervisor ${process.pid} starting the cluster in ${layout.dataDir}`);
    const executables = executablesFromEnvironment(process.env);
    prepareFiles(config, command, layout);
    children = clusterChildren(config, command, layout, executables)
      .map((spec) => new SupervisedChild(spec));
    save();
    for (const child of children) {
      child.spawn(onUnexpectedExit);
      log.write(`started ${child.spec.name} (pid ${child.record.pid}); waiting until it is ready`);
      save();
      await child.waitReady(() => stopRequested);
      log.write(`${child.spec.name} is ready`);
      save();
      await child.spec.afterReady?.();
    }
    const address = config.network.address;
    if (!command.onlyInfra && !(await tcpAccepts(address, config.clientPort))) {
      throw new ChildStartError(
        `the gateway reported ready but ${address}:${config.clientPort} refuses connections`,
      );
    }
    phase = "serving";
    save();
    log.write(`cluster serving: ${describeEndpoints(config, command.onlyInfra)}`);
    if (topologyOf(config).shardReplicas > 1 && !command.onlyInfra) {
      try {
        leaders = await trackLeaders(natsUrlOf(config), children.map((child) => child.record), save);
      } catch (error) {
        // Only `status` loses its LEADER column; the cluster itself is fine.
        log.write(`cannot follow the shards' leases: ${String(error)}`);
      }
    }
    if (command.attached) printSummary(config, layout, command.onlyInfra);
  } catch (error) {
    if (!(error instanceof StopRequested)) {
      fail(error instanceof Error ? error.message : String(error));
    }
  }

  await stopped;
  await leaders?.stop();
  phase = "stopping";
  save();
  for (const child of [...children].reverse()) {
    if (child.isRunning() || child.record.status === "restarting") {
      log.write(`stopping ${child.spec.name} (pid ${child.record.pid})`);
      await child.stop();
    }
    // Children never started (a start failed earlier) end as stopped too; failed ones stay failed.
    if (child.record.status !== "failed") child.record.status = "stopped";
    save();
  }
  if (config.network.mode === "netns" && command.ownsNetns) {
    try {
      await deleteNetns(config.network.netns);
      log.write(`removed namespace ${config.network.netns}`);
    } catch (error) {
      log.write(`could not remove namespace ${config.network.netns}: ${String(error)}`);
    }
  }
  phase = failure === undefined ? "stopped" : "failed";
  save();
  releaseLock(layout);
  log.write(failure === undefined ? "cluster stopped" : `cluster failed: ${failure}`);
  if (failure !== undefined && command.attached) {
    process.stderr.write(`antler: error: ${failure}\n`);
  }
  return failure === undefined ? 0 : 1;
}

export function describeEndpoints(config: ClusterConfig, onlyInfra: boolean): string {
  const where = config.network.mode === "netns"
    ? ` (inside namespace ${config.network.netns})`
    : "";
  if (onlyInfra) {
    return `nats 127.0.0.1:${config.natsPort}, redis 127.0.0.1:${config.redisPort}${where}`;
  }
  const address = config.network.address;
  return `clients connect to ${address}:${config.clientPort}, ` +
    `chunkservers to ${address}:${config.csPort}${where}`;
}

export function printSummary(config: ClusterConfig, layout: Layout, onlyInfra: boolean): void {
  const lines = [
    `antler: cluster serving from ${layout.dataDir}`,
    `  ${describeEndpoints(config, onlyInfra)}`,
  ];
  if (!onlyInfra) lines.push(`  mount:  ${mountCommandOf(config)}`);
  lines.push(
    `  status: antler status --data ${layout.dataDir}`,
    `  stop:   antler down --data ${layout.dataDir}`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}
