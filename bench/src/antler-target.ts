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
  if (help.code !== 0) {
    return { available: false, shards: false, ha: false, reason: `bin/antler help failed: ${text.trim().split("\n").slice(-3).join(" ")}` };
  }
  return supportFromUsage(text);
}

/** What the launcher's usage text (`antler help`) says it can start. */
export function supportFromUsage(text: string): LauncherSupport {
  if (!/\bup\b/.test(text)) return { available: false, shards: false, ha: false, reason: "bin/antler help does not list 'up'" };
  // `--profile P   minimal (...) or ha (...)`: the option's description may wrap onto the next line.
  const profileOption = /--profile\b[^\n]*(?:\n[ \t]{8,}[^\n-][^\n]*)*/.exec(text)?.[0] ?? "";
  return { available: true, shards: text.includes("--shards"), ha: /\bha\b/.test(profileOption) || /--ha\b/.test(text), reason: null };
}

/** The launcher flags of a profile, or the one-line reason it cannot run yet. */
export function profileFlags(profile: Profile, support: LauncherSupport, shards: number): string[] | string {
  switch (profile) {
    case "minimal":
      return [];
    case "ha":
      return support.ha ? ["--profile", "ha"] : "profile ha needs the HA/sharding work (not built yet)";
    case "sharded":
      // Shards × 3 replicas: the HA layout with more shards, so both flags must exist.
      if (!support.ha || !support.shards) return "profile sharded needs the HA/sharding work (not built yet)";
      return ["--profile", "ha", "--shards", String(shards)];
  }
}

/** What a profile runs, for the report's header. */
export function profileDescription(profile: Profile, shards: number): string {
  switch (profile) {
    case "minimal":
      return "minimal (1 shard × 1 replica, 1 NATS node, 1 gateway, 1 router)";
    case "ha":
      return "ha (1 shard × 3 replicas, 3 NATS nodes, 2 gateways, 2 routers)";
    case "sharded":
      return `sharded (${shards} shards × 3 replicas, 3 NATS nodes, 2 gateways, 2 routers)`;
  }
}

export interface AntlerStart {
  /** Launcher flags of the profile (profileFlags). */
  flags: readonly string[];
  /** One line for the report (profileDescription). */
  description: string;
  /** Directory (under the work directory) for the cluster's state and logs. */
  dataName: string;
  /** Added to the launcher's environment, which its services inherit (span files, profiling). */
  env?: Readonly<Record<string, string>>;
}

export async function startAntler(namespace: Namespace, workDir: string, start: AntlerStart, cleanup: Cleanup): Promise<RunningTarget> {
  const { flags } = start;
  const dataDir = path.join(workDir, start.dataName);
  const env = { ...process.env, ...start.env };
  const enter = (args: string[]) => [...namespace.enter.slice(1), launcherPath, ...args];
  const down = async () => {
    const result = await runCommand(namespace.enter[0]!, enter(["down", "--data", dataDir]), { timeoutMs: benchLimits.serverReadyTimeoutMs, env });
    if (result.code !== 0) throw new Error(`antler down exited with ${result.code ?? result.signal}: ${result.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  };
  // Registered before `up`: a half-started cluster (up failed or was interrupted) is stopped too.
  const stop = cleanup.add(`antler down --data ${dataDir}`, down);
  const upArgs = ["up", "--data", dataDir, "--host", namespace.address, "--client-port", String(clientPort), "--chunkservers", "0", "--detach", "--log-level", "warn", ...flags];
  try {
    await runChecked(namespace.enter[0]!, enter(upArgs), { timeoutMs: benchLimits.antlerStartTimeoutMs, env });
    await waitForPort(namespace, clientPort, "antler", () => null);
  } catch (error) {
    // Whatever did start stops now, not at the end of the run, where it would have loaded the
    // machine under the next measurements.
    await stop().catch(() => {});
    throw error;
  }
  return {
    name: "antler",
    namespace,
    port: clientPort,
    description: `antler ${start.description}${flags.length > 0 ? ` [up ${flags.join(" ")}]` : ""} (${namespace.address}:${clientPort}, data ${dataDir})`,
    stop,
  };
}
