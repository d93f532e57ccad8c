// The namespace workload (workload.ts) through real mfsmount clients, first against the real
// mfsmaster 3.0.117 (the reference: its transcript is what MooseFS does) and then against an
// Antler cluster started with `bin/antler up`, each in a fresh network namespace with two mounts.
// The transcripts must be equal; a difference is printed as a unified diff from the reference to
// Antler, with the steps that differ named first. Both transcripts and the diff are also saved
// in the artifacts directory, with the clusters' logs when something failed.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { artifactsDir, saveArtifact } from "./artifacts.ts";
import { cleanupAll } from "./cleanup.ts";
import { saveClusterLogs, startMountedCluster, type ClusterKind, type MountedCluster } from "./cluster.ts";
import { differingSteps, renderTranscript, unifiedDiff } from "./transcript.ts";
import { defaultWorkloadOptions, runWorkload, type WorkloadResult } from "./workload.ts";

/** Start + workload + teardown; a hanging Antler costs up to 120 s (big-dir) + 3 × 20 s more. */
const clusterTimeoutMs = 300_000;
/** A longer diff is cut in the test output; the whole one is in the artifacts. */
const diffLinesShownMax = 400;

function progress(kind: ClusterKind): (message: string) => void {
  return (message) => process.stderr.write(`  [${kind}] ${new Date().toISOString().slice(11, 23)} ${message}\n`);
}

async function runOn(kind: ClusterKind): Promise<WorkloadResult> {
  let cluster: MountedCluster | undefined;
  let failed = true;
  try {
    cluster = await startMountedCluster(kind, 2);
    const [primary, peer] = cluster.mounts;
    const mounted = cluster;
    const result = await runWorkload(primary!.dir, peer!.dir, {
      ...defaultWorkloadOptions,
      progress: progress(kind),
      recover: async () => {
        const [newPrimary, newPeer] = await mounted.remountAll();
        return [newPrimary!.dir, newPeer!.dir];
      },
    });
    saveArtifact(`${kind}.transcript.txt`, `${renderTranscript(result.lines).join("\n")}\n`);
    const timings = result.stepMs.map(([step, ms]) => `${step}=${ms}ms`).join(" ");
    process.stderr.write(`  [${kind}] step times: ${timings}\n`);
    failed = result.timedOut.length > 0;
    return result;
  } finally {
    if (cluster !== undefined) {
      if (failed) saveClusterLogs(kind, cluster.dir);
      cluster.teardown();
    }
  }
}

describe("namespace workload through real mfsmount: mfsmaster 3.0.117 vs Antler", () => {
  let reference: WorkloadResult | undefined;
  let antler: WorkloadResult | undefined;

  after(() => {
    const failures = cleanupAll();
    assert.deepEqual(failures, [], "cleanup failed");
  });

  test("reference: mfsmaster runs the whole workload", { timeout: clusterTimeoutMs }, async () => {
    reference = await runOn("mfsmaster");
    assert.deepEqual(reference.timedOut, [], "steps timed out on the reference");
  });

  test("antler runs the whole workload", { timeout: clusterTimeoutMs }, async () => {
    antler = await runOn("antler");
    assert.deepEqual(antler.timedOut, [], "steps timed out (hung) on Antler");
  });

  test("antler's transcript equals mfsmaster's", () => {
    assert.ok(reference !== undefined, "no reference transcript (the reference run failed)");
    assert.ok(antler !== undefined, "no Antler transcript (the Antler run failed to start)");
    const expected = renderTranscript(reference.lines);
    const actual = renderTranscript(antler.lines);
    const diff = unifiedDiff(expected, actual, { expectedLabel: "mfsmaster 3.0.117", actualLabel: "antler" });
    if (diff === "") return;
    const steps = differingSteps(reference.lines, antler.lines);
    const diffPath = saveArtifact("mfsmaster-vs-antler.diff", diff);
    const diffLines = diff.split("\n");
    const shown =
      diffLines.length <= diffLinesShownMax
        ? diff
        : `${diffLines.slice(0, diffLinesShownMax).join("\n")}\n… ${diffLines.length - diffLinesShownMax} more lines in ${diffPath}\n`;
    assert.fail(
      `Antler differs from mfsmaster in ${steps.length} step(s): ${steps.join(", ")}\n` +
        `(transcripts and diff in ${artifactsDir()}; diff: ${diffPath})\n${shown}`,
    );
  });
});
