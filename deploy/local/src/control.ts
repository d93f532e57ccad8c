/**
 * Starting and stopping a local cluster from code (e2e tests, benchmarks), through the same CLI
 * an operator uses, so the supervisor is detached from the caller exactly as with
 * `antler up --detach`, and the caller's crash never takes the cluster's processes along
 * unsupervised: `stopCluster` (or `antler down`) cleans up, also after a crashed caller.
 *
 *   const cluster = await startCluster({ dataDir, chunkservers: 2 });
 *   // cluster.mountCommand, cluster.network.address, cluster.clientPort ...
 *   await stopCluster(dataDir);
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { LogLevel, OtelExporter, Profile } from "./args.ts";
import { statusView, type StatusView } from "./status.ts";

const run = promisify(execFile);
const cliPath = join(import.meta.dirname, "cli.ts");

export interface StartClusterOptions {
  dataDir: string;
  host?: string;
  netns?: string;
  clientPort?: number;
  csPort?: number;
  chunkservers?: number;
  shards?: number;
  profile?: Profile;
  shardReplicas?: number;
  logLevel?: LogLevel;
  otelExporter?: OtelExporter;
  /** Only nats-server and redis-server (the launcher's own tests). */
  onlyInfra?: boolean;
  /** Extra environment for the launcher and, through it, every service (ANTLER_* overrides). */
  env?: Record<string, string>;
}

/** `antler up`/`down` failed; the message is the CLI's own explanation. */
export class LauncherError extends Error {
  override name = "LauncherError";
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

async function antler(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [cliPath, ...args], {
      encoding: "utf8", env: { ...process.env, ...env },
    });
    return stdout;
  } catch (error) {
    const failed = error as { code?: unknown; stderr?: string; message: string };
    const code = typeof failed.code === "number" ? failed.code : 1;
    const message = failed.stderr?.trim().replace(/^antler: (error: )?/, "") || failed.message;
    throw new LauncherError(message, code);
  }
}

/** `antler up --detach`: resolves once the cluster serves, with its status. */
export async function startCluster(options: StartClusterOptions): Promise<StatusView> {
  const args = ["up", "--data", options.dataDir, "--detach"];
  const numeric: Array<[string, number | undefined]> = [
    ["--client-port", options.clientPort], ["--cs-port", options.csPort],
    ["--chunkservers", options.chunkservers], ["--shards", options.shards],
    ["--shard-replicas", options.shardReplicas],
  ];
  for (const [flag, value] of numeric) if (value !== undefined) args.push(flag, String(value));
  if (options.host !== undefined) args.push("--host", options.host);
  if (options.netns !== undefined) args.push("--netns", options.netns);
  if (options.profile !== undefined) args.push("--profile", options.profile);
  if (options.logLevel !== undefined) args.push("--log-level", options.logLevel);
  if (options.otelExporter !== undefined) args.push("--otel", options.otelExporter);
  if (options.onlyInfra === true) args.push("--only-infra");
  await antler(args, options.env);
  return statusView(options.dataDir);
}

/** `antler down`: stops everything started on dataDir; a no-op when nothing runs. */
export async function stopCluster(dataDir: string): Promise<void> {
  await antler(["down", "--data", dataDir]);
}
