// Fuzzing the gateway's client port while a real mount uses it. A seeded fuzzer (fuzzer.ts, run
// inside the cluster's namespace) opens many connections to port 9421 and sends random, cut-off
// and malformed packets for a bounded time, while the mount keeps creating and stat-ing files.
// Pass: every mount operation succeeds throughout, and the gateway neither crashed nor was
// restarted (malformed input must close that connection, never the process). The same fuzzing
// against the real mfsmaster, briefly, checks the harness: the reference survives it.
//
// Replay a run with the seed it prints: ANTLER_E2E_FUZZ_SEED=<seed> npm run test:e2e -w @antler/e2e

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { cleanupAll } from "./cleanup.ts";
import { saveClusterLogs, startMountedCluster, type MountedCluster } from "./cluster.ts";
import { startMountLoad, type MountLoadReport } from "./mount-load.ts";
import { clientPort } from "./mount.ts";
import { describeFailure } from "./proc.ts";

const fuzzerScript = fileURLToPath(new URL("./fuzzer.ts", import.meta.url));
const seedFromEnv = process.env["ANTLER_E2E_FUZZ_SEED"];
const seed = seedFromEnv === undefined ? randomInt(0, 2 ** 31) : Number(seedFromEnv);

interface FuzzOutcome {
  readonly load: MountLoadReport;
  readonly fuzzer: string;
}

async function fuzzWhileMounted(cluster: MountedCluster, durationMs: number): Promise<FuzzOutcome> {
  const dir = join(cluster.mounts[0]!.dir, "fuzz-load");
  await mkdir(dir);
  const load = startMountLoad(dir, "f");
  const argv = [
    process.execPath,
    fuzzerScript,
    "--host",
    cluster.netns.address,
    "--port",
    String(clientPort),
    "--seed",
    String(seed),
    "--duration-ms",
    String(durationMs),
  ];
  const fuzzer = await cluster.netns.run(argv, { timeoutMs: durationMs + 20_000 });
  // Keep the mount busy a little after the storm too: the gateway must still serve.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const report = await load.stop();
  if (fuzzer.code !== 0) throw new Error(`the fuzzer itself failed:\n${describeFailure(fuzzer)}`);
  process.stderr.write(`  fuzzer summary: ${fuzzer.stdout.trim()}\n`);
  process.stderr.write(`  mount load: ${report.operations} operations, slowest ${report.slowestMs} ms, ${report.failures.length} failures\n`);
  return { load: report, fuzzer: fuzzer.stdout.trim() };
}

function assertMountUnharmed(outcome: FuzzOutcome): void {
  assert.deepEqual(outcome.load.failures, [], `mount operations failed during fuzzing (seed ${seed})`);
  assert.ok(outcome.load.operations >= 30, `only ${outcome.load.operations} mount operations completed during fuzzing (seed ${seed})`);
  const summary = JSON.parse(outcome.fuzzer) as { connections: number };
  assert.ok(summary.connections >= 50, `the fuzzer made only ${summary.connections} connections (seed ${seed})`);
}

describe(`fuzzing the client port under a live mount (seed ${seed})`, () => {
  before(() => {
    process.stderr.write(`  fuzz seed: ${seed} (replay: ANTLER_E2E_FUZZ_SEED=${seed})\n`);
  });

  after(() => {
    const failures = cleanupAll();
    assert.deepEqual(failures, [], "cleanup failed");
  });

  test("harness check: the real mfsmaster survives the same fuzzing", { timeout: 90_000 }, async () => {
    const cluster = await startMountedCluster("mfsmaster", 1);
    try {
      const outcome = await fuzzWhileMounted(cluster, 4_000);
      assertMountUnharmed(outcome);
      assert.ok(cluster.reference!.master.running(), "mfsmaster died during fuzzing");
    } finally {
      cluster.teardown();
    }
  });

  test("antler: the mount keeps working and the gateway never restarts", { timeout: 240_000 }, async () => {
    const cluster = await startMountedCluster("antler", 1);
    let passed = false;
    try {
      const before = await cluster.antler!.process("gateway");
      const outcome = await fuzzWhileMounted(cluster, 12_000);
      const afterFuzz = await cluster.antler!.process("gateway");
      assertMountUnharmed(outcome);
      assert.equal(afterFuzz.pid, before.pid, `the gateway process changed during fuzzing (seed ${seed})`);
      assert.equal(afterFuzz.restarts, before.restarts, `the gateway was restarted during fuzzing (seed ${seed})`);
      passed = true;
    } finally {
      if (!passed) saveClusterLogs("fuzz-antler", cluster.dir);
      cluster.teardown();
    }
  });
});
