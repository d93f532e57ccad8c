// Concurrent directory renames on Antler with its metadata over several shards, through several
// real mfsmounts. The kernel serializes cross-directory renames within one mount (and checks
// ancestry against its own, possibly stale, dentries), but nothing serializes two mounts: only
// the cluster can stop two renames from moving A under B and B under A at once, which would cut
// both off from the root in a cycle. Antler's coordinator serializes every directory rename to a
// new parent and checks the destination's ancestors (ARCHITECTURE §5, @antler/ops txn.ts).
//
// Method: top-level directories d0..dN-1, each with a subtree (every directory name unique);
// workers on every mount (rename_worker.py) rename random directories into random others'
// subtrees for a bounded number of operations. EINVAL (into itself), ENOENT (moved meanwhile)
// and the like are expected outcomes and are counted. Afterwards `antler fsck` must be clean, and
// a full `find` through each mount must terminate and list every directory exactly once: the
// multiset of names equals the set created (none lost in a cycle, none listed twice).
//
// Environment:
//   ANTLER_E2E_SHARDED=1          run it (off by default)
//   ANTLER_E2E_SHARDS             shards (default 4)
//   ANTLER_E2E_RENAME_DIRS        top-level directories (default 8), each with 3 + 9 + 27 below
//   ANTLER_E2E_RENAME_MOUNTS      mounts (default 2)
//   ANTLER_E2E_RENAME_WORKERS     workers per mount (default 2)
//   ANTLER_E2E_RENAME_OPS         renames tried per worker (default 150)
//   ANTLER_E2E_RENAME_SEED        replay (the seed is printed)

import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { cleanupAll } from "./cleanup.ts";
import { describeFsck, fsckUntilSettled } from "./fsck.ts";
import { describeFailure, run } from "./proc.ts";
import { positiveIntegerFromEnv, progressTo, seedFromEnv, shardedSkipReason, startShardedCluster, type ShardedCluster } from "./sharded.ts";

const shards = positiveIntegerFromEnv("ANTLER_E2E_SHARDS", 4);
const topCount = positiveIntegerFromEnv("ANTLER_E2E_RENAME_DIRS", 8);
const mountCount = positiveIntegerFromEnv("ANTLER_E2E_RENAME_MOUNTS", 2);
const workersPerMount = positiveIntegerFromEnv("ANTLER_E2E_RENAME_WORKERS", 2);
const operations = positiveIntegerFromEnv("ANTLER_E2E_RENAME_OPS", 150);
const seed = seedFromEnv("ANTLER_E2E_RENAME_SEED");

const workerScript = new URL("./rename_worker.py", import.meta.url).pathname;
const python = "/usr/bin/python3";
/** Subdirectories per directory, and levels below each top-level directory. */
const fanOut = 3;
const levelsBelow = 3;
/** How deep a worker's random walk goes (renames make the tree deeper than it started). */
const walkDepthMax = 8;
const workersTimeoutMs = 600_000;
/** A find that does not end within this is looping (a cycle) or hung. */
const findTimeoutMs = 120_000;
const fsckSettleMs = 10_000;

const progress = progressTo("rename");

/** The directory names of the tree, parents before children: d3, d3.0, d3.0.2, ... */
function treeNames(): string[] {
  const paths: string[] = [];
  const grow = (path: string, name: string, depth: number): void => {
    paths.push(path);
    if (depth === levelsBelow) return;
    for (let index = 0; index < fanOut; index++) grow(`${path}/${name}.${index}`, `${name}.${index}`, depth + 1);
  };
  for (let top = 0; top < topCount; top++) grow(`d${top}`, `d${top}`, 0);
  return paths;
}

async function directoryNames(root: string): Promise<string[]> {
  const result = await run(["find", root, "-mindepth", "1", "-type", "d", "-printf", "%f %d\\n"], { timeoutMs: findTimeoutMs });
  if (result.code !== 0) throw new Error(`find ${root} did not end cleanly (a cycle or a hung mount):\n${describeFailure(result)}`);
  return result.stdout.split("\n").filter((line) => line !== "");
}

describe(`sharded renames: workers on ${mountCount} mounts move directories into each other's subtrees over ${shards} shards`, { skip: shardedSkipReason }, () => {
  let cluster: ShardedCluster | undefined;

  after(() => {
    try {
      cluster?.teardown();
    } finally {
      const failures = cleanupAll();
      assert.deepEqual(failures, [], "cleanup failed");
    }
  });

  test("afterwards fsck is clean and find lists every directory exactly once", { timeout: 900_000 }, async () => {
    process.stderr.write(
      `sharded renames: seed ${seed} (ANTLER_E2E_RENAME_SEED=${seed} replays it), ${shards} shards, ${topCount} top-level dirs, ` +
        `${mountCount} mounts x ${workersPerMount} workers x ${operations} renames\n`,
    );
    let passed = false;
    cluster = await startShardedCluster({ label: "rename", shards, mounts: mountCount });
    try {
      const roots = cluster.mounts.map((mount) => join(mount.dir, "rename"));
      await mkdir(roots[0]!);
      const paths = treeNames();
      const started = Date.now();
      for (const path of paths) await mkdir(join(roots[0]!, path));
      progress(`${paths.length} directories made in ${Date.now() - started} ms`);
      const created = paths.map((path) => path.slice(path.lastIndexOf("/") + 1)).sort();

      const workStarted = Date.now();
      const workers = roots.flatMap((root, mountIndex) =>
        Array.from({ length: workersPerMount }, (_, worker) =>
          run([python, workerScript, root, String(seed + mountIndex * workersPerMount + worker), String(operations), String(walkDepthMax)], { timeoutMs: workersTimeoutMs }),
        ),
      );
      const results = await Promise.all(workers);
      const failed = results.filter((result) => result.code !== 0);
      assert.deepEqual(failed.map(describeFailure), [], "rename workers failed");
      const outcomes = new Map<string, number>();
      for (const result of results) {
        const { outcomes: counted } = JSON.parse(result.stdout) as { outcomes: Record<string, number> };
        for (const [outcome, count] of Object.entries(counted)) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count);
      }
      const table = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([outcome, count]) => `${outcome} ${count}`).join(", ");
      progress(`${results.length} workers done in ${Date.now() - workStarted} ms: ${table}`);
      assert.ok((outcomes.get("ok") ?? 0) > 0, `no rename succeeded (${table}): the test proved nothing`);

      const { report, runs } = await fsckUntilSettled(cluster.netns, cluster.antler.dataDir, fsckSettleMs);
      progress(`antler fsck exited ${report.code} after ${runs} run(s)`);

      for (const [index, root] of roots.entries()) {
        const listed = await directoryNames(root);
        const names = listed.map((line) => line.slice(0, line.lastIndexOf(" "))).sort();
        const depthMax = Math.max(0, ...listed.map((line) => Number(line.slice(line.lastIndexOf(" ") + 1))));
        progress(`mount ${index}: find lists ${names.length} directories (of ${created.length}), deepest at level ${depthMax}`);
        const counts = new Map<string, number>();
        for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
        const twice = [...counts.entries()].filter(([, count]) => count > 1).map(([name, count]) => `${name} x${count}`);
        const lost = created.filter((name) => !counts.has(name));
        const unknown = names.filter((name) => !created.includes(name));
        assert.deepEqual(
          { twice, lost, unknown },
          { twice: [], lost: [], unknown: [] },
          `mount ${index}: directories listed twice, lost (unreachable from the root: a cycle?) or never made`,
        );
      }
      assert.equal(report.code, 0, describeFsck(report));
      passed = true;
    } finally {
      if (!passed) cluster.saveLogs("rename-failed");
    }
  });
});
