/**
 * Antler under test: a local cluster started by the launcher (`bin/antler up --detach`) inside our
 * namespace, serving the client port on the namespace address, and stopped with `bin/antler down`.
 * No chunkservers: the benchmark measures metadata only, like the reference mfsmaster which runs
 * without chunkservers too.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.ts";
import * as benchLimits from "./limits.ts";
import { type Namespace, waitForPort } from "./netns.ts";
import { runChecked, runCommand } from "./processes.ts";
import type { RunningTarget } from "./target.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const launcherPath = path.join(repoRoot, "bin", "antler");
const clientPort = 9421;

export const profiles = ["minimal", "ha", "sharded"] as const;
export type Profile = (typeof profiles)[number];

/** What the launcher on this checkout can start, read from its usage text. */
export interface LauncherSupport {
  available: boolean;
  shards: boolean;
  ha: boolean;
  reason: string | null;
}

export async function probeLauncher(): Promise<LauncherSupport> {
  if (!fs.existsSync(launcherPath)) return { available: false, shards: false, ha: false, reason: `${launcherPath} is missing` };
  const help = await runCommand(launcherPath, ["help"], { timeoutMs: 30_000 });
  const text = `${help.stdout}${help.stderr}`;
  if (help.code !== 0 || !/\bup\b/.test(text)) {
    return { available: false, shards: false, ha: false, reason: `bin/antler help failed: ${text.trim().split("\n").slice(-3).join(" ")}` };
  }
  return { available: true, shards: text.includes("--shards"), ha: /--profile[^\n]*\bha\b/.test(text) || /--ha\b/.test(text), reason: null };
}

/** The launcher flags of a profile, or the one-line reason it cannot run yet. */
export function profileFlags(profile: Profile, support: LauncherSupport, shards: number): string[] | string {
  switch (profile) {
    case "minimal":
      return [];
    case "sharded":
      return support.shards ? ["--shards", String(shards)] : "profile sharded needs the HA/sharding work (not built yet)";
    case "ha":
      return support.ha ? ["--profile", "ha"] : "profile ha needs the HA/sharding work (not built yet)";
  }
}

export async function startAntler(namespace: Namespace, workDir: string, flags: readonly string[], cleanup: Cleanup): Promise<RunningTarget> {
  const dataDir = path.join(workDir, "antler");
  const enter = (args: string[]) => [...namespace.enter.slice(1), launcherPath, ...args];
  const down = async () => {
    const result = await runCommand(namespace.enter[0]!, enter(["down", "--data", dataDir]), { timeoutMs: benchLimits.serverReadyTimeoutMs });
    if (result.code !== 0) throw new Error(`antler down exited with ${result.code ?? result.signal}: ${result.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  };
  // Registered before `up`: a half-started cluster (up failed or was interrupted) is stopped too.
  const stop = cleanup.add(`antler down --data ${dataDir}`, down);
  const upArgs = ["up", "--data", dataDir, "--host", namespace.address, "--client-port", String(clientPort), "--chunkservers", "0", "--detach", "--log-level", "warn", ...flags];
  await runChecked(namespace.enter[0]!, enter(upArgs), { timeoutMs: benchLimits.serverReadyTimeoutMs });
  await waitForPort(namespace, clientPort, "antler", () => null);
  return {
    name: "antler",
    namespace,
    port: clientPort,
    description: `antler ${flags.length > 0 ? flags.join(" ") : "minimal (1 shard, 1 NATS node)"} (${namespace.address}:${clientPort}, data ${dataDir})`,
    stop,
  };
}
