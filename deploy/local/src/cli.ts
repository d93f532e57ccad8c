/**
 * Entry point of the `antler` command (bin/antler runs it on Node 24). Exit status: 0 success,
 * 1 operating failure (printed as one line, plus log excerpts where useful), 2 bad usage; fsck
 * adds 1 = problems found and 3 = the namespace could not be read (fsck.ts).
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs, usageText, UsageError, type Command } from "./args.ts";
// The commands are imported when run: the NATS client behind status, fsck and the supervisor
// takes seconds to load on a busy machine, and a command re-run inside the cluster's namespace
// should not pay for it twice.
import { readClusterConfig } from "./cluster-file.ts";
import { layoutOf } from "./config.ts";
import { insideNetns, netnsEnterArgv, netnsExists } from "./netns.ts";

// A reader that goes away (`antler status | head -1`) is not an error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Set in the environment of a command re-run inside the cluster's namespace: never re-run twice. */
const enteredNetnsVariable = "ANTLER_ENTERED_NETNS";

/**
 * `status` and `fsck` ask the cluster's NATS, which listens on 127.0.0.1 inside the cluster's
 * network namespace. Outside it, the same command line is run again inside it (nsenter, root
 * only) with this terminal, and its exit status is ours; undefined when this process should
 * carry on itself (already inside, host mode, no such namespace, not root: status then shows
 * why it has no live figures, fsck fails to connect).
 */
async function rerunInsideNetns(dataDir: string): Promise<number | undefined> {
  const config = readClusterConfig(layoutOf(dataDir));
  if (config?.network.mode !== "netns") return undefined;
  const name = config.network.netns;
  if (process.env[enteredNetnsVariable] !== undefined || process.getuid?.() !== 0) return undefined;
  if (!netnsExists(name) || insideNetns(name)) return undefined;
  const [file, ...args] = [...netnsEnterArgv(name), process.execPath, import.meta.filename, ...process.argv.slice(2)];
  const child = spawn(file as string, args, { stdio: "inherit", env: { ...process.env, [enteredNetnsVariable]: name } });
  return new Promise((resolveExit, reject) => {
    child.once("error", (error) => reject(new Error(`could not enter namespace ${name}: ${error.message}`)));
    child.once("exit", (code, signal) => resolveExit(code ?? (signal === null ? 1 : 128 + 15)));
  });
}

async function run(command: Command): Promise<number> {
  switch (command.kind) {
    case "help":
      out(usageText);
      return 0;
    case "up": {
      const { up } = await import("./up.ts");
      return up({ ...command, dataDir: resolve(command.dataDir) }, out);
    }
    case "supervise": {
      const { supervise } = await import("./supervise.ts");
      return supervise({ ...command, dataDir: resolve(command.dataDir) });
    }
    case "status":
    case "fsck": {
      const dataDir = resolve(command.dataDir);
      const exitCode = await rerunInsideNetns(dataDir);
      if (exitCode !== undefined) return exitCode;
      if (command.kind === "status") {
        const { status } = await import("./status.ts");
        return status({ ...command, dataDir }, out);
      }
      const { fsck } = await import("./fsck.ts");
      return fsck({ ...command, dataDir }, out, progress);
    }
    case "down": {
      const { down } = await import("./down.ts");
      return down({ ...command, dataDir: resolve(command.dataDir) }, out);
    }
  }
}

async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseArgs(process.argv.slice(2), {
      logLevel: process.env["ANTLER_LOG_LEVEL"],
      otelExporter: process.env["ANTLER_OTEL_EXPORTER"],
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`antler: ${error.message}\nrun 'antler help' for usage\n`);
    return 2;
  }
  try {
    return await run(command);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`antler: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof Error ? `${error.message}` : String(error);
    process.stderr.write(`antler: error: ${message}\n`);
    if (process.env["ANTLER_DEBUG"] !== undefined && error instanceof Error) {
      process.stderr.write(`${error.stack}\n`);
    }
    return 1;
  }
}

process.exitCode = await main();
