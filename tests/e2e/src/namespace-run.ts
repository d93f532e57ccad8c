// The parts of the namespace comparison shared by namespace.e2e.ts (mfsmaster vs Antler) and
// sharded-namespace.e2e.ts (mfsmaster vs Antler with its metadata over several shards): run the
// workload (workload.ts) on one cluster with two mounts, keep its transcript, and compare two
// transcripts as a unified diff naming the steps that differ.

import assert from "node:assert/strict";
import type { AntlerClusterOptions } from "./antler.ts";
import { artifactsDir, saveArtifact } from "./artifacts.ts";
import { saveClusterLogs, startMountedCluster, type ClusterKind, type MountedCluster } from "./cluster.ts";
import { differingSteps, renderTranscript, unifiedDiff } from "./transcript.ts";
import { defaultWorkloadOptions, runWorkload, type WorkloadResult } from "./workload.ts";

/** Start + workload + teardown; a hanging Antler costs up to 120 s (big-dir) + 3 × 20 s more. */
export const namespaceRunTimeoutMs = 300_000;
/** A longer diff is cut in the test output; the whole one is in the artifacts. */
const diffLinesShownMax = 400;

export function progress(label: string): (message: string) => void {
  return (message) => process.stderr.write(`  [${label}] ${new Date().toISOString().slice(11, 23)} ${message}\n`);
}

/**
 * Runs the whole workload on a fresh cluster of `kind`; `label` names its transcript
 * (`<label>.transcript.txt` in the artifacts) and its progress lines.
 */
export async function runNamespaceWorkload(kind: ClusterKind, label: string, antlerOptions: AntlerClusterOptions = {}): Promise<WorkloadResult> {
  let cluster: MountedCluster | undefined;
  let failed = true;
  try {
    cluster = await startMountedCluster(kind, 2, antlerOptions);
    const [primary, peer] = cluster.mounts;
    const mounted = cluster;
    const result = await runWorkload(primary!.dir, peer!.dir, {
      ...defaultWorkloadOptions,
      progress: progress(label),
      recover: async () => {
        const [newPrimary, newPeer] = await mounted.remountAll();
        return [newPrimary!.dir, newPeer!.dir];
      },
    });
    saveArtifact(`${label}.transcript.txt`, `${renderTranscript(result.lines).join("\n")}\n`);
    const timings = result.stepMs.map(([step, ms]) => `${step}=${ms}ms`).join(" ");
    process.stderr.write(`  [${label}] step times: ${timings}\n`);
    failed = result.timedOut.length > 0;
    return result;
  } finally {
    if (cluster !== undefined) {
      if (failed) saveClusterLogs(label, cluster.dir);
      cluster.teardown();
    }
  }
}

/** Fails with the diff (reference → actual) when the transcripts differ. */
export function assertSameTranscript(reference: WorkloadResult | undefined, actual: WorkloadResult | undefined, actualLabel: string): void {
  assert.ok(reference !== undefined, "no reference transcript (the reference run failed)");
  assert.ok(actual !== undefined, `no ${actualLabel} transcript (the run failed to start)`);
  const expected = renderTranscript(reference.lines);
  const got = renderTranscript(actual.lines);
  const diff = unifiedDiff(expected, got, { expectedLabel: "mfsmaster 3.0.117", actualLabel });
  if (diff === "") return;
  const steps = differingSteps(reference.lines, actual.lines);
  const diffPath = saveArtifact(`mfsmaster-vs-${actualLabel}.diff`, diff);
  const diffLines = diff.split("\n");
  const shown =
    diffLines.length <= diffLinesShownMax
      ? diff
      : `${diffLines.slice(0, diffLinesShownMax).join("\n")}\n… ${diffLines.length - diffLinesShownMax} more lines in ${diffPath}\n`;
  assert.fail(
    `${actualLabel} differs from mfsmaster in ${steps.length} step(s): ${steps.join(", ")}\n` +
      `(transcripts and diff in ${artifactsDir()}; diff: ${diffPath})\n${shown}`,
  );
}
