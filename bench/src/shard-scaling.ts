/**
 * `npm run bench:shards -w @antler/bench -- [options]` (options: shard-scaling-args.ts): how
 * metadata throughput and latency change with the number of shards, on clusters of 1, 2 and 4
 * shards started side by side (see docs/benchmarks.md, "Shard scaling"). Parses options, checks
 * prerequisites, runs the driver, prints the table and writes
 * bench/results/<timestamp>-shards/{result.json,result.md}. Whatever happens — success, failure,
 * Ctrl-C, SIGTERM — every process and namespace it started is removed before it exits.
 *
 * Exit codes: 0 done (the table may still report errors), 1 failed, 2 usage, 130/143 interrupted.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { probeLauncher, repoRoot } from "./antler-target.ts";
import { UsageError } from "./args.ts";
import { Cleanup } from "./cleanup.ts";
import { InterruptedError } from "./loadgen-runner.ts";
import { parseShardScalingArgs, shardScalingUsageText } from "./shard-scaling-args.ts";
import { runShardScaling } from "./shard-scaling-driver.ts";
import { formatShardMarkdown, formatShardText } from "./shard-scaling-report.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseShardScalingArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      log(`bench:shards: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options === "help") {
    process.stdout.write(`${shardScalingUsageText}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    log("bench:shards: cannot run: not root (network namespaces need root)");
    return 1;
  }
  const support = await probeLauncher();
  if (!support.available || (!support.shards && options.shardCounts.some((count) => count > 1))) {
    log(`bench:shards: Antler cannot start ${options.shardCounts.join("/")} shards: ${support.reason ?? "bin/antler up has no --shards"}`);
    return 1;
  }

  const cleanup = new Cleanup();
  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-shards-"));
  // Kept after a failure (the cluster logs explain it) or with --keep; removed otherwise.
  let failed = false;
  cleanup.add(`remove ${workDir}`, async () => {
    if (options.keep || failed) {
      log(`bench:shards: work directory kept: ${workDir}`);
      return;
    }
    await fsp.rm(workDir, { recursive: true, force: true });
  });

  let interrupted: NodeJS.Signals | null = null;
  const aborter = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) return;
    interrupted = signal;
    aborter.abort();
    log(`bench:shards: ${signal}: stopping everything that was started`);
    void cleanup.runAll(log).then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const suite = await runShardScaling({ options, workDir, cleanup, log, signal: aborter.signal });
    process.stdout.write(`\n${formatShardText(suite)}\n`);
    const stamp = suite.startedAt.replace(/[:.]/g, "-");
    const resultsDir = path.join(repoRoot, "bench", "results", `${stamp}-shards`);
    await fsp.mkdir(resultsDir, { recursive: true });
    const json = `${JSON.stringify(suite, null, 2)}\n`;
    await fsp.writeFile(path.join(resultsDir, "result.json"), json);
    await fsp.writeFile(path.join(resultsDir, "result.md"), formatShardMarkdown(suite));
    // `npm run -w` changes to the package directory; INIT_CWD is where the user typed the command.
    if (options.jsonPath !== null) await fsp.writeFile(path.resolve(process.env.INIT_CWD ?? process.cwd(), options.jsonPath), json);
    log(`bench:shards: results in ${path.relative(process.cwd(), resultsDir) || resultsDir}`);
    if (suite.failures.length > 0) {
      failed = true;
      return 1;
    }
    return 0;
  } catch (error) {
    if (interrupted === null && !(error instanceof InterruptedError)) {
      failed = true;
      log(`bench:shards: failed: ${(error as Error).message}`);
    }
    return 1;
  } finally {
    await cleanup.runAll(log);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`bench:shards: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  },
);
