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
import { parseBenchArgs, profilesOf, UsageError, usageText } from "./args.ts";
import { Cleanup } from "./cleanup.ts";
import { type ProfilePlan, runBenchmark } from "./driver.ts";
import { InterruptedError } from "./loadgen-runner.ts";
import { mfsmasterUnavailable } from "./mfsmaster-target.ts";
import { formatElapsed, formatSuiteMarkdown, formatSuiteText } from "./suite-report.ts";

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
  const profiles: ProfilePlan[] = [];
  if (options.only !== "mfsmaster") {
    const support = await probeLauncher();
    if (!support.available) {
      log(`bench: Antler cannot start: ${support.reason} (use --only mfsmaster for the reference alone)`);
      return 1;
    }
    // All or nothing: a long run that stops at its last profile helps nobody.
    for (const profile of profilesOf(options.profile)) {
      const flags = profileFlags(profile, support, options.shards);
      if (typeof flags === "string") {
        log(flags);
        return 2;
      }
      profiles.push({ profile, flags });
    }
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
  const aborter = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) return;
    interrupted = signal;
    aborter.abort();
    log(`bench: ${signal}: stopping everything that was started`);
    void cleanup.runAll(log).then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const suite = await runBenchmark({ options, profiles, workDir, cleanup, log, signal: aborter.signal });
    process.stdout.write(`\n${formatSuiteText(suite)}\n`);
    const stamp = suite.startedAt.replace(/[:.]/g, "-");
    const resultsDir = path.join(repoRoot, "bench", "results", stamp);
    await fsp.mkdir(resultsDir, { recursive: true });
    const json = `${JSON.stringify(suite, null, 2)}\n`;
    await fsp.writeFile(path.join(resultsDir, "result.json"), json);
    await fsp.writeFile(path.join(resultsDir, "result.md"), formatSuiteMarkdown(suite));
    // `npm run` changes to the repository root; INIT_CWD is where the user typed the command.
    if (options.jsonPath !== null) await fsp.writeFile(path.resolve(process.env.INIT_CWD ?? process.cwd(), options.jsonPath), json);
    log(`bench: results in ${path.relative(process.cwd(), resultsDir) || resultsDir}; elapsed ${formatElapsed(suite.elapsedSeconds)}`);
    if (suite.failures.length > 0) {
      // The server logs explain a failed stage.
      failed = true;
      return 1;
    }
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
