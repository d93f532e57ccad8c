// A large tree through a real mfsmount on Antler with its metadata over several shards: at least
// 2,000 directories nested up to 4 levels (each new directory lands on the shard its slot,
// BLAKE3(parent‖name), maps to, so most mkdirs are cross-shard transactions) holding at least
// 20,000 files with small varied contents and modes, plus symlinks and hard links from one
// subtree into another. The same tree is written to a local reference directory by the same
// writers (tree_writer.py, several processes at once, each one top-level subtree after another).
//
// Then the mount must equal the reference: the `find` listing (sorted), and for every entry its
// type, mode, nlink, size (not of directories: their size is the file system's business) and the
// md5 of every file (the target of every symlink). Where the directories and files landed is
// counted from their inode numbers and the cluster's shard map, printed next to what the cluster
// reports (`antler status --json`); every shard must hold directories. Last, `antler fsck` must
// find the namespace consistent.
//
// Environment:
//   ANTLER_E2E_SHARDED=1          run it (off by default: 5-10 minutes, most of it writing and reading back)
//   ANTLER_E2E_SHARDS             shards (default 4)
//   ANTLER_E2E_TREE_DIRS          directories (default 2,000)
//   ANTLER_E2E_TREE_FILES         files (default 20,000)
//   ANTLER_E2E_TREE_WRITERS       writer processes at once (default 16, one per top-level subtree)
//   ANTLER_E2E_TREE_SEED          replay a tree (the seed is printed)

import assert from "node:assert/strict";
import { mkdirSync, readdirSync } from "node:fs";
import { lstat, readdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { saveArtifact } from "./artifacts.ts";
import { cleanupAll } from "./cleanup.ts";
import { describeFsck, fsckUntilSettled } from "./fsck.ts";
import { describeFailure, run, waitFor } from "./proc.ts";
import {
  countByShard,
  formatShardCounts,
  positiveIntegerFromEnv,
  progressTo,
  readShardMap,
  reportedShardCounts,
  seedFromEnv,
  shardedSkipReason,
  startShardedCluster,
  statusJson,
  type ShardedCluster,
} from "./sharded.ts";
import { makeTempDir } from "./tempdir.ts";
import { partitionByTop, planTree, type TreePlan } from "./tree-plan.ts";

const shards = positiveIntegerFromEnv("ANTLER_E2E_SHARDS", 4);
const dirCount = positiveIntegerFromEnv("ANTLER_E2E_TREE_DIRS", 2_000);
const fileCount = positiveIntegerFromEnv("ANTLER_E2E_TREE_FILES", 20_000);
const writers = positiveIntegerFromEnv("ANTLER_E2E_TREE_WRITERS", 16);
const seed = seedFromEnv("ANTLER_E2E_TREE_SEED");

const writerScript = new URL("./tree_writer.py", import.meta.url).pathname;
const python = "/usr/bin/python3";
/** Writing and reading back scale with the tree: the default one takes about 4 + 5 minutes on a loaded 2-core machine. */
const writeTimeoutMs = 900_000;
const scanTimeoutMs = 900_000;
const findTimeoutMs = 120_000;
/** The chunkserver registers its space within seconds of the start. */
const spaceTimeoutMs = 60_000;
/** Nothing is in flight when fsck runs: any pending transaction must resolve within this. */
const fsckSettleMs = 10_000;
const differencesShownMax = 30;
const progressEveryMs = 20_000;

const progress = progressTo("tree");

/** One scanned entry: path, type, mode, size, nlink, md5 / symlink target, inode. */
type ScanRow = [string, string, number, number, number, string, number];

async function writeTree(plan: TreePlan, roots: readonly string[]): Promise<void> {
  const toInput = (part: TreePlan): string =>
    JSON.stringify({
      roots,
      dirs: part.dirs.map((dir) => [dir.path, dir.mode]),
      files: part.files.map((file) => [file.path, file.mode, file.size, file.seed]),
      symlinks: part.symlinks.map((link) => [link.path, link.target]),
      hardLinks: part.hardLinks.map((link) => [link.existing, link.path]),
    });
  const writeParts = async (parts: readonly TreePlan[]): Promise<void> => {
    const results = await Promise.all(parts.map((part) => run([python, writerScript, "write"], { timeoutMs: writeTimeoutMs, input: toInput(part) })));
    const failed = results.filter((result) => result.code !== 0);
    if (failed.length > 0) {
      const explained = await Promise.all(failed.map(async (result) => `${describeFailure(result)}${await explainWriteFailure(result.stdout)}`));
      throw new Error(`tree_writer.py failed:\n${explained.join("\n")}`);
    }
  };
  const started = Date.now();
  // The reference copy is written right after the mount's: counting it shows how far the writers are.
  const ticker = setInterval(() => {
    const written = readdirSync(roots[roots.length - 1]!, { recursive: true }).length;
    progress(`${written} of ${plan.dirs.length + plan.files.length + plan.symlinks.length} entries written (${Math.round((Date.now() - started) / 1000)} s)`);
  }, progressEveryMs);
  try {
    await writeParts(partitionByTop(plan, writers));
  } finally {
    clearInterval(ticker);
  }
  progress(`${plan.dirs.length} directories, ${plan.files.length} files, ${plan.symlinks.length} symlinks written by ${writers} writers in ${Date.now() - started} ms`);
  const linksStarted = Date.now();
  await writeParts([{ dirs: [], files: [], symlinks: [], hardLinks: plan.hardLinks }]);
  progress(`${plan.hardLinks.length} hard links across subtrees in ${Date.now() - linksStarted} ms`);
}

/**
 * For a writer's failure on PATH: each ancestor of PATH as the mount shows it now (lstat, and
 * whether its parent lists it), so a report says which directory went missing or never existed.
 */
async function explainWriteFailure(stdout: string): Promise<string> {
  let path: string;
  try {
    path = (JSON.parse(stdout) as { path?: string }).path ?? "";
  } catch {
    return "";
  }
  const start = path.indexOf("/tree/");
  if (start < 0) return "";
  const lines: string[] = [];
  const parts = path.slice(start + 1).split("/");
  let current = path.slice(0, start);
  for (const part of parts) {
    const parent = current;
    current = `${current}/${part}`;
    const found = await lstat(current).then((stats) => `inode ${stats.ino} nlink ${stats.nlink}${stats.isDirectory() ? " dir" : ""}`, (error: NodeJS.ErrnoException) => error.code ?? String(error));
    const listed = await readdir(parent).then((names) => (names.includes(part) ? "listed" : "not listed"), (error: NodeJS.ErrnoException) => `parent unlistable: ${error.code}`);
    lines.push(`    ${current}: ${found}, ${listed}`);
  }
  return `\n  the path on the mount now:\n${lines.join("\n")}`;
}

async function findListing(root: string): Promise<string[]> {
  const result = await run(["find", root, "-mindepth", "1", "-printf", "%P\\n"], { timeoutMs: findTimeoutMs });
  if (result.code !== 0) throw new Error(`find ${root} failed:\n${describeFailure(result)}`);
  return result.stdout.split("\n").filter((line) => line !== "").sort();
}

async function scanTree(root: string): Promise<ScanRow[]> {
  const result = await run([python, writerScript, "scan", root], { timeoutMs: scanTimeoutMs });
  if (result.code !== 0) throw new Error(`tree_writer.py scan ${root} failed:\n${describeFailure(result)}`);
  return result.stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as ScanRow);
}

/** What must be equal: everything but the inode, and a directory's size. */
function comparable(row: ScanRow): string {
  const [path, type, mode, size, nlink, digest] = row;
  return `${path} ${type} mode=${mode.toString(8)} nlink=${nlink}${type === "d" ? "" : ` size=${size}`} ${digest}`;
}

/** The lines of one side missing from the other, both ways (inputs sorted). */
function differences(expected: readonly string[], actual: readonly string[]): string[] {
  const actualSet = new Set(actual);
  const expectedSet = new Set(expected);
  return [
    ...expected.filter((line) => !actualSet.has(line)).map((line) => `- ${line}`),
    ...actual.filter((line) => !expectedSet.has(line)).map((line) => `+ ${line}`),
  ];
}

function assertSame(what: string, expected: readonly string[], actual: readonly string[]): void {
  const found = differences(expected, actual);
  if (found.length === 0) return;
  const path = saveArtifact(`tree-${what.replace(/\W+/g, "-")}.diff`, `${found.join("\n")}\n`);
  assert.fail(
    `${what}: mount differs from the reference in ${found.length} line(s) (- reference only, + mount only; all in ${path}):\n` +
      found.slice(0, differencesShownMax).join("\n"),
  );
}

describe(`sharded tree: ${dirCount} directories and ${fileCount} files over ${shards} shards through a real mfsmount`, { skip: shardedSkipReason }, () => {
  let cluster: ShardedCluster | undefined;

  after(() => {
    try {
      cluster?.teardown();
    } finally {
      const failures = cleanupAll();
      assert.deepEqual(failures, [], "cleanup failed");
    }
  });

  test("the tree on the mount equals the reference, every shard holds directories, fsck is clean", { timeout: 2_400_000 }, async () => {
    process.stderr.write(`sharded tree: seed ${seed} (ANTLER_E2E_TREE_SEED=${seed} replays it), ${shards} shards, ${dirCount} dirs, ${fileCount} files, ${writers} writers\n`);
    const plan = planTree({ dirs: dirCount, files: fileCount, seed });
    let passed = false;
    cluster = await startShardedCluster({ label: "tree", shards, mounts: 1 });
    try {
      const mount = cluster.mounts[0]!;
      const root = join(mount.dir, "tree");
      const reference = join(makeTempDir("tree-reference"), "tree");
      mkdirSync(root);
      mkdirSync(reference);
      // A write before the chunkserver's space is known is answered EAGAIN (no room anywhere).
      await waitFor(async () => (await statfs(mount.dir)).blocks > 0, spaceTimeoutMs, () => "the mount reports no space: no chunkserver registered", 200);
      progress(`cluster up with ${shards} shards; writing`);

      await writeTree(plan, [root, reference]);

      const listStarted = Date.now();
      const [expectedListing, actualListing] = await Promise.all([findListing(reference), findListing(root)]);
      progress(`find: ${actualListing.length} entries on the mount, ${expectedListing.length} in the reference (${Date.now() - listStarted} ms)`);
      assertSame("find listing", expectedListing, actualListing);

      const scanStarted = Date.now();
      const [expectedRows, actualRows] = await Promise.all([scanTree(reference), scanTree(root)]);
      progress(`stat + md5 of ${actualRows.length} entries in ${Date.now() - scanStarted} ms`);
      assertSame("type, mode, nlink, size, md5", expectedRows.map(comparable), actualRows.map(comparable));

      const map = await readShardMap(cluster.antler);
      const observed = countByShard(actualRows.map((row) => ({ inode: row[6], isDir: row[1] === "d" })), map);
      process.stderr.write(`${formatShardCounts("where the tree landed (inode slot → shard map):", observed)}\n`);
      const reported = reportedShardCounts(await statusJson(cluster.netns, cluster.antler.dataDir));
      if (reported === undefined) process.stderr.write("  antler status --json shows no per-shard counts\n");
      else process.stderr.write(`${formatShardCounts("what the shards report (antler status --json, whole namespace):", reported)}\n`);
      for (const entry of observed) assert.ok(entry.dirs > 0, `shard ${entry.shardId} holds none of the ${plan.dirs.length} directories: ${JSON.stringify(observed)}`);
      if (reported !== undefined) {
        assert.equal(reported.length, shards, `antler status reports ${reported.length} shards`);
        for (const entry of reported) assert.ok(entry.dirs > 0, `antler status: shard ${entry.shardId} reports no directories: ${JSON.stringify(reported)}`);
      }

      const { report, runs } = await fsckUntilSettled(cluster.netns, cluster.antler.dataDir, fsckSettleMs);
      progress(`antler fsck exited ${report.code} after ${runs} run(s), ${report.elapsedMs} ms for the last`);
      const fsckCounts = reportedShardCounts(report.json);
      if (fsckCounts !== undefined) process.stderr.write(`${formatShardCounts("what antler fsck counted:", fsckCounts)}\n`);
      assert.equal(report.code, 0, describeFsck(report));
      passed = true;
    } finally {
      if (!passed) cluster.saveLogs("tree-failed");
    }
  });
});
