/**
 * Entry point of the `antler` command (bin/antler runs it on Node 24). Exit status: 0 success,
 * 1 operating failure (printed as one line, plus log excerpts where useful), 2 bad usage.
 */
import { resolve } from "node:path";
import { parseArgs, usageText, UsageError, type Command } from "./args.ts";
import { down } from "./down.ts";
import { status } from "./status.ts";
import { supervise } from "./supervise.ts";
import { up } from "./up.ts";

// A reader that goes away (`antler status | head -1`) is not an error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function run(command: Command): Promise<number> {
  switch (command.kind) {
    case "help":
      out(usageText);
      return 0;
    case "up":
      return up({ ...command, dataDir: resolve(command.dataDir) }, out);
    case "supervise":
      return supervise({ ...command, dataDir: resolve(command.dataDir) });
    case "status":
      return status({ ...command, dataDir: resolve(command.dataDir) }, out);
    case "down":
      return down({ ...command, dataDir: resolve(command.dataDir) }, out);
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
