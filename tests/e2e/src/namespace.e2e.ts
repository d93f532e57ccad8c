// The namespace workload (workload.ts) through real mfsmount clients, first against the real
// mfsmaster 3.0.117 (the reference: its transcript is what MooseFS does), then against an Antler
// cluster started with `bin/antler up` (one metadata shard), then against one with its metadata
// over several shards (`--shards N`: directories land on other shards than their parents, so
// mkdir, rmdir, rename, link and unlink become cross-shard transactions), each in a fresh network
// namespace with two mounts. Each Antler transcript must equal the reference; a difference is
// printed as a unified diff from the reference to Antler, with the steps that differ named
// first. The transcripts and diffs are also saved in the artifacts directory, with the clusters'
// logs when something failed.
//
// Environment:
//   ANTLER_E2E_SHARDS   shards of the sharded run (default 4; 1 skips it: the first run has one)

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { cleanupAll } from "./cleanup.ts";
import { assertSameTranscript, namespaceRunTimeoutMs, runNamespaceWorkload } from "./namespace-run.ts";
import { positiveIntegerFromEnv } from "./sharded.ts";
import type { WorkloadResult } from "./workload.ts";

const shards = positiveIntegerFromEnv("ANTLER_E2E_SHARDS", 4);
const shardedLabel = `antler-${shards}-shards`;

describe("namespace workload through real mfsmount: mfsmaster 3.0.117 vs Antler", () => {
  let reference: WorkloadResult | undefined;
  let antler: WorkloadResult | undefined;
  let sharded: WorkloadResult | undefined;

  after(() => {
    const failures = cleanupAll();
    assert.deepEqual(failures, [], "cleanup failed");
  });

  test("reference: mfsmaster runs the whole workload", { timeout: namespaceRunTimeoutMs }, async () => {
    reference = await runNamespaceWorkload("mfsmaster", "mfsmaster");
    assert.deepEqual(reference.timedOut, [], "steps timed out on the reference");
  });

  test("antler runs the whole workload", { timeout: namespaceRunTimeoutMs }, async () => {
    antler = await runNamespaceWorkload("antler", "antler");
    assert.deepEqual(antler.timedOut, [], "steps timed out (hung) on Antler");
  });

  test("antler's transcript equals mfsmaster's", () => {
    assertSameTranscript(reference, antler, "antler");
  });

  test(`antler with ${shards} shards runs the whole workload`, { timeout: namespaceRunTimeoutMs, skip: shards === 1 }, async () => {
    sharded = await runNamespaceWorkload("antler", shardedLabel, { shards });
    assert.deepEqual(sharded.timedOut, [], `steps timed out (hung) on Antler with ${shards} shards`);
  });

  test(`antler with ${shards} shards: transcript equals mfsmaster's`, { skip: shards === 1 }, () => {
    assertSameTranscript(reference, sharded, shardedLabel);
  });
});
