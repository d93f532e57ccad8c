/**
 * `npm run bench -- [options]`: Antler side by side with mfsmaster on this machine (see
 * docs/benchmarks.md). Parses options, checks prerequisites, runs the driver, prints the table and
 * writes bench/results/<timestamp>/{result.json,result.md}. Whatever happens — success, failure,
 * Ctrl-C, SIGTERM — every process, mount and namespace it started is removed before it exits.
 *
 * Exit codes: 0 done (the table may still report errors), 1 failed, 2 usage, 130/143 interrupted.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { probeLauncher, profileFlags, repoRoot } from "./antler-target.ts";
import { parseBenchArgs, UsageError, usageText } from "./args.ts";
import { Cleanup } from "./cleanup.ts";
import { runBenchmark } from "./driver.ts";
import { InterruptedError } from "./loadgen-runner.ts";
import { mfsmasterUnavailable } from "./mfsmaster-target.ts";
import { formatMarkdown, formatText } from "./report.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      log(`bench: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options === "help") {
    process.stdout.write(`${usageText}\n`);
    return 0;
  }

  // Namespaces need root whichever server runs; the reference also needs its package.
  const unavailable = options.only === "antler" ? (process.getuid?.() === 0 ? null : "not root (network namespaces need root)") : mfsmasterUnavailable();
  if (unavailable !== null) {
    log(`bench: cannot run: ${unavailable}`);
    return 1;
  }
  let antlerFlags: string[] = [];
  if (options.only !== "mfsmaster") {
    const support = await probeLauncher();
    if (!support.available) {
      log(`bench: Antler cannot start: ${support.reason} (use --only mfsmaster for the reference alone)`);
      return 1;
    }
    const flags = profileFlags(options.profile, support, options.shards);
    if (typeof flags === "string") {
      log(flags);
      return 2;
    }
    antlerFlags = flags;
  } else if (options.profile !== "minimal") {
    log(`bench: --profile ${options.profile} only changes Antler; with --only mfsmaster it has no effect`);
  }

  const cleanup = new Cleanup();
  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-"));
  // Kept after a failure (server logs explain it) or with --keep; removed otherwise, also on Ctrl-C.
  let failed = false;
  const removeWorkDir = async () => {
    if (options.keep || failed) {
      log(`bench: work directory kept: ${workDir}`);
      return;
    }
    await fsp.rm(workDir, { recursive: true, force: true });
  };
  cleanup.add(`remove ${workDir}`, removeWorkDir);

  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) return;
    interrupted = signal;
    log(`bench: ${signal}: stopping everything that was started`);
    void cleanup.runAll(log).then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const report = await runBenchmark({ options, antlerFlags, workDir, cleanup, log });
    const text = formatText(report);
    process.stdout.write(`\n${text}\n`);
    const stamp = report.startedAt.replace(/[:.]/g, "-");
    const resultsDir = path.join(repoRoot, "bench", "results", stamp);
    await fsp.mkdir(resultsDir, { recursive: true });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    await fsp.writeFile(path.join(resultsDir, "result.json"), json);
    await fsp.writeFile(path.join(resultsDir, "result.md"), formatMarkdown(report));
    // `npm run` changes to the repository root; INIT_CWD is where the user typed the command.
    if (options.jsonPath !== null) await fsp.writeFile(path.resolve(process.env.INIT_CWD ?? process.cwd(), options.jsonPath), json);
    log(`bench: results in ${path.relative(process.cwd(), resultsDir) || resultsDir}`);
    return 0;
  } catch (error) {
    // After Ctrl-C the children die too and the run fails as a consequence: not a real failure.
    if (interrupted === null && !(error instanceof InterruptedError)) {
      failed = true;
      log(`bench: failed: ${(error as Error).message}`);
    }
    return 1;
  } finally {
    // Shared with the signal handler's run (runAll is idempotent), so the order does not matter.
    await cleanup.runAll(log);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`bench: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  },
);
