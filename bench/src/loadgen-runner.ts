/**
 * Starts the load generator as a child Node process (inside a namespace when given), hands it its
 * config on stdin, lets its progress lines through to our stderr and parses its JSON result.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.ts";
import * as benchLimits from "./limits.ts";
import type { MountWorkloadConfig } from "./mount-workload.ts";
import type { Namespace } from "./netns.ts";
import { killQuietly, runCommand } from "./processes.ts";
import type { ProtocolWorkloadConfig } from "./protocol-workload.ts";
import { type LoadResult, parseLoadResult } from "./result.ts";
import type { ShardWorkloadConfig } from "./shard-workload.ts";

/** What the load-generator child gets on stdin. */
export type WorkloadConfig = ProtocolWorkloadConfig | MountWorkloadConfig | ShardWorkloadConfig;

const loadgenMain = path.join(path.dirname(fileURLToPath(import.meta.url)), "loadgen-main.ts");

/** The load generator got Ctrl-C/SIGTERM (with the rest of the process group): not a failure. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
}

export async function runLoadgen(config: WorkloadConfig, phaseCount: number, namespace: Namespace | null, cleanup: Cleanup): Promise<LoadResult> {
  const node = process.execPath;
  const [command, ...prefix] = namespace === null ? [node] : [...namespace.enter, node];
  // Node's fs calls run on libuv's pool; give parallel mount workers a thread each.
  const threadPool = config.mode === "mount" ? Math.max(4, config.workers + 2) : 4;
  let forget: (() => Promise<void>) | null = null;
  const result = await runCommand(command!, [...prefix, loadgenMain], {
    timeoutMs: config.phaseSeconds * 1000 * phaseCount + benchLimits.childSlackMs,
    input: JSON.stringify(config),
    inheritStderr: true,
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadPool) },
    onSpawn: (child) => {
      const pid = child.pid;
      if (pid !== undefined) {
        forget = cleanup.add(`kill load generator (pid ${pid})`, async () => {
          if (child.exitCode === null && child.signalCode === null) killQuietly(pid, "SIGKILL");
        });
      }
    },
  });
  await (forget as (() => Promise<void>) | null)?.();
  if (result.signal === "SIGINT" || result.signal === "SIGTERM") throw new InterruptedError(`load generator for ${config.label} stopped by ${result.signal}`);
  if (result.code !== 0) throw new Error(`load generator for ${config.label} exited with ${result.code ?? result.signal}`);
  return parseLoadResult(result.stdout);
}
