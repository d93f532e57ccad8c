// File data through real, unmodified mfschunkservers (issue 3), proven through real mfsmount
// clients: first against the real mfsmaster 3.0.117 (the reference: it shows that every assertion
// holds for MooseFS itself and within the bounds used), then against Antler, with the very same
// steps and assertions. Each run has its own namespace with 3 chunkservers owned by the test
// (data-path-cluster.ts says why) and goal 2 on the mount root.
//
// Steps, in order, on one cluster per master:
//  1. files of 0 B, 1 B, 64 KiB, 64 MiB-1, 64 MiB, 64 MiB+1 and bigger ones, from /dev/urandom;
//  2. their md5 read back through a second, fresh mount;
//  3. mfsfileinfo: 2 valid copies of every chunk, and exactly those 2 chunk files on the disks;
//  4. overwrite in the middle, append, truncate (inside a chunk, growing with zeros, across
//     64 MiB), each compared byte for byte with the same operations on a local file;
//  5. SIGKILL the chunkserver holding the most copies: reads still succeed, chunks are changed
//     while it is away (its copies go stale), and every chunk is back at 2 valid copies on the
//     other two within a bound;
//  6. restart it: its extra and stale copies are removed (fileinfo and disks) within a bound;
//  7. mfsmakesnapshot of a directory, then changes to the original: the snapshot keeps old bytes;
//  8. rm with trashtime 0: the chunk files leave the disks within a bound; with a trashtime
//     (1 h, the smallest MooseFS 3.0 keeps) they are still there a minute after that.
// Timings (write/read rate, re-replication, removal of extra copies, deletion) are printed in one
// "DATA-PATH SUMMARY" line per master and saved in the artifacts.
//
// The default run writes 292 MiB of test files in step 1; ANTLER_E2E_DATA_FULL=1 writes 1 GiB.
// ANTLER_E2E_DATA_ONLY=mfsmaster or =antler runs one of the two.
// The Antler run is skipped, loudly, only while Antler has no data path yet: a first 1-byte
// write through a probe mount fails because WRITE_CHUNK is answered with ENOTSUP (seen in that
// mount's log). Every other failure, EIO included, is a failure.

import assert from "node:assert/strict";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { saveArtifact } from "./artifacts.ts";
import { cleanupAll } from "./cleanup.ts";
import { probeDataPath, startDataCluster, waitForChunkservers, type DataCluster, type DataClusterKind, type TestChunkserver } from "./data-path-cluster.ts";
import { chunkBytes, KiB, md5OfFile, MiB, MirroredFile, randomBytesFromDevice, writeRandomFile } from "./data-path-files.ts";
import { copyProblems, MfsTools, type ChunkInfo } from "./data-path-tools.ts";
import type { MfsMount } from "./mount.ts";
import { sleep } from "./proc.ts";

const full = process.env["ANTLER_E2E_DATA_FULL"] === "1";
const goal = 2;
const chunkserverCount = 3;

/** The sizes the issue names, plus bigger files: 292 MiB by default, 1 GiB in the full run. */
const fileSizes: readonly number[] = [
  0,
  1,
  64 * KiB,
  chunkBytes - 1,
  chunkBytes,
  chunkBytes + 1,
  // Full: 192 MiB above + 4 × 200 MiB + 32 MiB = 1 GiB (and 64 KiB + 1 B).
  ...(full ? [200 * MiB, 200 * MiB, 200 * MiB, 200 * MiB, 32 * MiB] : [100 * MiB]),
];

/** Copies appear as chunkservers confirm writes; replication after a write is not instant. */
const copiesSettleTimeoutMs = 120_000;
/** A lost chunkserver's chunks are copied again within this (mfsmaster: seconds). */
const reReplicationTimeoutMs = 300_000;
/** Extra copies go in housekeeping passes (mfsmaster: one pass per CHUNKS_LOOP_MIN_TIME = 60 s). */
const overGoalRemovalTimeoutMs = 300_000;
/**
 * Chunk files of a file removed with trashtime 0 leave the disks within this. mfsmaster 3.0.117
 * needs up to about 7 minutes: the writer's session is dropped about 2 minutes after its
 * unmount, an unlinked file still open in a session waits in "sustained" until its bucket comes
 * round (256 buckets, one per second), and the chunks go in the next chunk-loop pass (60 s).
 */
const deletionTimeoutMs = 600_000;
/** After those chunk files are gone, the trashed file's must still be there this much later. */
const trashExtraWaitMs = 60_000;
const pollIntervalMs = 1_000;

interface Timings {
  writeMiBps?: number;
  readMiBps?: number;
  reReplicationMs?: number;
  overGoalRemovalMs?: number;
  deletionMs?: number;
  trashKeptMs?: number;
}

function progress(kind: DataClusterKind): (message: string) => void {
  return (message) => process.stderr.write(`  [data ${kind}] ${new Date().toISOString().slice(11, 23)} ${message}\n`);
}

function dataPathSuite(kind: DataClusterKind): void {
  describe(`file data through real chunkservers: ${kind}`, () => {
    const log = progress(kind);
    const timings: Timings = {};
    let cluster: DataCluster | undefined;
    let tools: MfsTools | undefined;
    let primary: MfsMount | undefined;
    let second: MfsMount | undefined;
    /** Why this run's tests are skipped (Antler without a data path), or undefined. */
    let skipReason: string | undefined;
    let failed = false;
    /** Every file the suite keeps, with its expected md5, relative to the mount root. */
    const expectedMd5 = new Map<string, string>();
    let edited: MirroredFile | undefined;
    /** The chunkserver the kill step stopped. */
    let victimIndex: number | undefined;
    let referenceDir = "";

    before(async () => {
      try {
        cluster = await startDataCluster(kind, chunkserverCount);
        tools = new MfsTools(cluster.netns);
        primary = await cluster.mount();
        await waitForChunkservers(cluster, primary.dir, chunkserverCount);
        referenceDir = join(cluster.dir, "local-reference");
        await mkdir(referenceDir);
        const probeFailure = await probeDataPath(cluster);
        if (probeFailure !== undefined) {
          if (kind !== "antler") throw new Error(`the reference cannot write a file: ${probeFailure}`);
          skipReason = `Antler has no file data path yet: a 1-byte write through mfsmount failed (${probeFailure})`;
          announceSkip(skipReason);
        }
      } catch (error) {
        failed = true;
        throw error;
      }
    });

    after(() => {
      const summary = summaryLine(kind, timings, skipReason);
      process.stderr.write(`${summary}\n`);
      saveArtifact(`data-path-${kind}.summary.txt`, `${summary}\n`);
      if (cluster !== undefined && failed) cluster.saveLogs(`data-path-${kind}`);
      cluster?.teardown();
      const failures = cleanupAll();
      assert.deepEqual(failures, [], "cleanup failed");
    });

    /** Runs a step unless the run is skipped; a failing step marks the run for log saving. */
    const step = (name: string, timeoutMs: number, body: () => Promise<void>): void => {
      test(name, { timeout: timeoutMs }, async (t: TestContext) => {
        if (skipReason !== undefined) {
          t.skip(skipReason);
          return;
        }
        assert.ok(cluster !== undefined && primary !== undefined && tools !== undefined, `the ${kind} cluster did not start`);
        try {
          await body();
        } catch (error) {
          failed = true;
          throw error;
        }
      });
    };
    const at = (name: string): string => join(primary!.dir, name);

    step(`goal ${goal} on the root; files of ${fileSizes.map(formatSize).join(", ")} from /dev/urandom`, full ? 1_800_000 : 900_000, async () => {
      await tools!.setGoal(primary!.dir, goal, false);
      await mkdir(at("sizes"));
      let bytes = 0;
      const started = Date.now();
      for (const [index, size] of fileSizes.entries()) {
        const name = `sizes/file${index}-${size}`;
        expectedMd5.set(name, await writeRandomFile([at(name)], size));
        bytes += size;
        assert.equal((await stat(at(name))).size, size, `${name}: size after writing`);
      }
      timings.writeMiBps = rate(bytes, Date.now() - started);
      log(`wrote ${formatSize(bytes)} in ${fileSizes.length} files at ${timings.writeMiBps.toFixed(1)} MiB/s`);
    });

    step("every file reads back with the same md5 through a second, fresh mount", 900_000, async () => {
      assert.ok(expectedMd5.size === fileSizes.length, "the files were not all written");
      second = await cluster!.mount();
      let bytes = 0;
      const started = Date.now();
      for (const [name, md5] of expectedMd5) {
        assert.equal(await md5OfFile(join(second.dir, name)), md5, `${name}: md5 through the second mount`);
        bytes += (await stat(join(second.dir, name))).size;
      }
      timings.readMiBps = rate(bytes, Date.now() - started);
      log(`read ${formatSize(bytes)} back at ${timings.readMiBps.toFixed(1)} MiB/s`);
    });

    step(`mfsfileinfo: ${goal} valid copies of every chunk, and exactly those chunk files on the disks`, 300_000, async () => {
      for (const [index, size] of fileSizes.entries()) {
        const chunks = await tools!.fileInfo(at(`sizes/file${index}-${size}`));
        assert.equal(chunks.length, Math.ceil(size / chunkBytes), `file of ${size} B: number of chunks`);
      }
      const waited = await waitForGoal(cluster!, tools!, [...expectedMd5.keys()].map(at), copiesSettleTimeoutMs);
      const spread = cluster!.chunkservers.map((chunkserver) => `cs${chunkserver.index}=${chunkserver.chunkFiles().length}`).join(" ");
      log(`every chunk at ${goal} valid copies and chunk files (${waited} ms); chunk files per chunkserver: ${spread}`);
    });

    step("overwrite in the middle, append, truncate: byte-identical to a local reference file", 900_000, async () => {
      await mkdir(at("edit"));
      const name = "edit/file";
      edited = new MirroredFile(at(name), join(referenceDir, "edit-file"));
      await writeRandomFile([edited.mountPath, edited.referencePath], 100 * MiB);
      const operations: [string, () => Promise<void>][] = [
        ["overwrite 1 MiB in the middle of chunk 0", async () => edited!.writeAt(30 * MiB + 123, await randomBytesFromDevice(MiB))],
        ["overwrite 64 KiB across the 64 MiB boundary", async () => edited!.writeAt(chunkBytes - 32 * KiB, await randomBytesFromDevice(64 * KiB))],
        ["append 3 MiB + 5 B", async () => edited!.append(await randomBytesFromDevice(3 * MiB + 5))],
        ["truncate: shrink inside chunk 1", async () => edited!.truncate(80 * MiB + 17)],
        ["truncate: grow with zeros across 128 MiB", async () => edited!.truncate(150 * MiB + 3)],
        ["write 10 B inside the grown zeros", async () => edited!.writeAt(140 * MiB, await randomBytesFromDevice(10))],
        ["truncate: shrink across 64 MiB into chunk 0", async () => edited!.truncate(10 * MiB + 7)],
        ["truncate: grow across 64 MiB again (old bytes must not come back)", async () => edited!.truncate(70 * MiB)],
        ["append 1 MiB", async () => edited!.append(await randomBytesFromDevice(MiB))],
      ];
      for (const [label, operation] of operations) {
        await operation();
        assert.equal(await edited.differenceFrom(), undefined, `after "${label}": the mount differs from the local reference`);
      }
      assert.equal(await edited.differenceFrom(join(second!.dir, name)), undefined, "through the second mount");
      expectedMd5.set(name, await md5OfFile(edited.referencePath));
      await waitForGoal(cluster!, tools!, [at(name)], copiesSettleTimeoutMs);
    });

    step("a chunkserver is killed: reads succeed, a write bumps versions, every chunk is back at 2 copies", reReplicationTimeoutMs + 600_000, async () => {
      // The one holding the most copies, so that its loss really leaves chunks below goal.
      const victim = [...cluster!.chunkservers].sort((a, b) => b.chunkFiles().length - a.chunkFiles().length)[0]!;
      victimIndex = victim.index;
      assert.ok(victim.chunkFiles().length > 0, "no chunkserver holds any chunk file");
      const pid = victim.kill();
      const killedAt = Date.now();
      log(`killed chunkserver ${victim.index} (pid ${pid}, port ${victim.port}, ${victim.chunkFiles().length} chunk files)`);
      // Through a fresh mount: the second one may still have these files in its page cache.
      const reader = await cluster!.mount();
      for (const [name, md5] of expectedMd5) {
        assert.equal(await md5OfFile(join(reader.dir, name)), md5, `${name}: md5 with a chunkserver down`);
      }
      reader.unmount();
      // A chunk changed while a copy is away: that copy's version is stale when it comes back.
      await edited!.writeAt(MiB, await randomBytesFromDevice(MiB));
      await edited!.writeAt(chunkBytes + MiB, await randomBytesFromDevice(MiB));
      assert.equal(await edited!.differenceFrom(join(second!.dir, "edit/file")), undefined, "edit/file written with a chunkserver down");
      expectedMd5.set("edit/file", await md5OfFile(edited!.referencePath));
      await waitForGoal(cluster!, tools!, [...expectedMd5.keys()].map(at), reReplicationTimeoutMs, victim);
      timings.reReplicationMs = Date.now() - killedAt;
      log(`every chunk back at ${goal} copies ${timings.reReplicationMs} ms after the kill`);
    });

    step("the chunkserver comes back: extra and stale copies are removed", overGoalRemovalTimeoutMs + 300_000, async () => {
      assert.ok(victimIndex !== undefined, "no chunkserver was killed");
      const returning = cluster!.chunkservers[victimIndex]!;
      const filesWhileDown = returning.chunkFiles().length;
      await returning.start();
      await waitForChunkservers(cluster!, primary!.dir, chunkserverCount);
      const restartedAt = Date.now();
      log(`chunkserver ${returning.index} restarted with ${filesWhileDown} chunk files; ${returning.chunkFiles().length} left once registered`);
      await waitForGoal(cluster!, tools!, [...expectedMd5.keys()].map(at), overGoalRemovalTimeoutMs);
      timings.overGoalRemovalMs = Date.now() - restartedAt;
      log(`extra copies gone ${timings.overGoalRemovalMs} ms after the restart`);
      const reader = await cluster!.mount();
      for (const [name, md5] of expectedMd5) {
        assert.equal(await md5OfFile(join(reader.dir, name)), md5, `${name}: md5 after the chunkserver came back`);
      }
      reader.unmount();
    });

    step("mfsmakesnapshot of a directory keeps the old bytes when the original changes", 600_000, async () => {
      await mkdir(at("snap/src"), { recursive: true });
      const big = new MirroredFile(at("snap/src/big"), join(referenceDir, "snap-big"));
      const small = new MirroredFile(at("snap/src/small"), join(referenceDir, "snap-small"));
      const bigMd5 = await writeRandomFile([big.mountPath, big.referencePath], 70 * MiB);
      const smallMd5 = await writeRandomFile([small.mountPath, small.referencePath], 1000);
      await tools!.makeSnapshot(at("snap/src"), at("snap/copy"));
      await big.writeAt(10 * MiB, await randomBytesFromDevice(MiB));
      await big.writeAt(chunkBytes + 5, await randomBytesFromDevice(100));
      await small.append(await randomBytesFromDevice(50));
      await big.truncate(65 * MiB);
      for (const [label, path, md5] of [
        ["snapshot of big", "snap/copy/big", bigMd5],
        ["snapshot of small", "snap/copy/small", smallMd5],
      ] as const) {
        assert.equal(await md5OfFile(join(second!.dir, path)), md5, `${label}: changed with the original`);
      }
      assert.equal(await big.differenceFrom(join(second!.dir, "snap/src/big")), undefined, "the original big file");
      assert.equal(await small.differenceFrom(join(second!.dir, "snap/src/small")), undefined, "the original small file");
      expectedMd5.set("snap/copy/big", bigMd5);
      expectedMd5.set("snap/src/big", await md5OfFile(big.referencePath));
      await waitForGoal(cluster!, tools!, ["snap/copy/big", "snap/copy/small", "snap/src/big", "snap/src/small"].map(at), copiesSettleTimeoutMs);
    });

    step("rm with trashtime 0 deletes the chunk files; with a trashtime they stay", deletionTimeoutMs + 300_000, async () => {
      await mkdir(at("trash0"));
      await mkdir(at("trash1h"));
      // Written through a mount of their own that is gone before the rm: a file is only purged
      // once no session holds it open, and mfsmount 3.0.117 keeps closed files "held" for minutes.
      const writer = await cluster!.mount();
      await writeRandomFile([join(writer.dir, "trash0/file")], 70 * MiB);
      await writeRandomFile([join(writer.dir, "trash1h/file")], 70 * MiB);
      writer.unmount();
      // Set on the files themselves, so the step does not depend on inheritance from the directory.
      await tools!.setTrashTime(at("trash0/file"), 0, false);
      await tools!.setTrashTime(at("trash1h/file"), 3600, false);
      await waitForGoal(cluster!, tools!, [at("trash0/file"), at("trash1h/file")], copiesSettleTimeoutMs);
      const deletedChunks = chunkIds(await tools!.fileInfo(at("trash0/file")));
      const trashedChunks = chunkIds(await tools!.fileInfo(at("trash1h/file")));
      assert.equal(deletedChunks.length, 2, "a 70 MiB file has 2 chunks");
      await rm(at("trash0/file"));
      await rm(at("trash1h/file"));
      const removedAt = Date.now();
      await waitForCondition(
        () => {
          const left = chunkFileCopies(cluster!, deletedChunks);
          return left.length === 0 ? undefined : `still on the disks: ${left.join(", ")}`;
        },
        deletionTimeoutMs,
        "chunk files of the file removed with trashtime 0",
      );
      timings.deletionMs = Date.now() - removedAt;
      log(`chunk files of the trashtime-0 file gone ${timings.deletionMs} ms after rm`);
      // The file in the trash went through the same steps; give housekeeping one more pass.
      const keepUntil = Date.now() + trashExtraWaitMs;
      while (Date.now() < keepUntil) await sleep(pollIntervalMs);
      timings.trashKeptMs = Date.now() - removedAt;
      const kept = chunkFileCopies(cluster!, trashedChunks);
      assert.equal(kept.length, goal * trashedChunks.length, `chunk files of the file in the trash after ${timings.trashKeptMs} ms: ${kept.join(", ")}`);
    });
  });
}

/** "ID_VERSION" of every (non-hole) chunk. */
function chunkIds(chunks: readonly ChunkInfo[]): string[] {
  return chunks.filter((chunk) => chunk.id !== undefined).map((chunk) => `${chunk.id}_${chunk.version}`);
}

/**
 * Chunk files on the disks (as "csN:name") whose chunk id is one of `chunks` (any version), on
 * every chunkserver but `excluded` (a stopped one, whose disk still holds what it had).
 */
function chunkFileCopies(cluster: DataCluster, chunks: readonly string[], excluded?: TestChunkserver): string[] {
  const ids = new Set(chunks.map((chunk) => chunk.slice(0, 16)));
  const counted = cluster.chunkservers.filter((chunkserver) => chunkserver !== excluded);
  return counted.flatMap((chunkserver) =>
    chunkserver
      .chunkFiles()
      .filter((file) => ids.has(file.slice("chunk_".length, "chunk_".length + 16)))
      .map((file) => `cs${chunkserver.index}:${file}`),
  );
}

/**
 * Waits until every chunk of every file has exactly `goal` copies, all VALID, none on `excluded`
 * (a stopped chunkserver), and the other disks hold exactly `goal` files of each chunk, all of its
 * current version (no extra or stale copies). Returns the milliseconds it took.
 */
async function waitForGoal(
  cluster: DataCluster,
  tools: MfsTools,
  paths: readonly string[],
  timeoutMs: number,
  excluded?: TestChunkserver,
): Promise<number> {
  const started = Date.now();
  await waitForCondition(
    async () => {
      const problems: string[] = [];
      for (const path of paths) {
        const chunks = await tools.fileInfo(path);
        const name = path.slice(cluster.dir.length);
        problems.push(...copyProblems(chunks, goal).map((problem) => `${name}: ${problem}`));
        for (const chunk of chunks) {
          if (chunk.id === undefined) continue;
          if (excluded !== undefined && chunk.copies.some((copy) => copy.port === excluded.port)) {
            problems.push(`${name}: chunk ${chunk.index} still listed on the stopped chunkserver (port ${excluded.port})`);
          }
          const files = chunkFileCopies(cluster, [`${chunk.id}_${chunk.version}`], excluded);
          const current = files.filter((file) => file.endsWith(`chunk_${chunk.id}_${chunk.version}.mfs`));
          if (current.length !== goal || files.length !== goal) {
            problems.push(`${name}: chunk ${chunk.index} on the disks: ${files.join(", ") || "nowhere"}`);
          }
        }
      }
      return problems.length === 0 ? undefined : problems.join("\n");
    },
    timeoutMs,
    `${goal} copies of every chunk`,
  );
  return Date.now() - started;
}

/** Polls `check` (undefined: satisfied; else what is still wrong) until satisfied or `timeoutMs`. */
async function waitForCondition(check: () => string | undefined | Promise<string | undefined>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const wrong = await check();
    if (wrong === undefined) return;
    if (Date.now() >= deadline) assert.fail(`${what}: not reached within ${timeoutMs} ms; still:\n${wrong}`);
    await sleep(pollIntervalMs);
  }
}

function announceSkip(reason: string): void {
  const bar = "!".repeat(100);
  process.stderr.write(`\n${bar}\n!!! SKIPPING the Antler file-data run: ${reason}\n!!! The mfsmaster reference run still counts.\n${bar}\n\n`);
}

function summaryLine(kind: DataClusterKind, timings: Timings, skipReason: string | undefined): string {
  const seconds = (ms: number | undefined): string => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(1)}s`);
  const mibps = (value: number | undefined): string => (value === undefined ? "n/a" : `${value.toFixed(1)}MiB/s`);
  const head = `DATA-PATH SUMMARY master=${kind} files=${full ? "full" : "default"}`;
  if (skipReason !== undefined) return `${head} SKIPPED (${skipReason})`;
  return (
    `${head} write=${mibps(timings.writeMiBps)} read=${mibps(timings.readMiBps)}` +
    ` re-replication=${seconds(timings.reReplicationMs)} extra-copies-removed=${seconds(timings.overGoalRemovalMs)}` +
    ` trashtime0-deletion=${seconds(timings.deletionMs)} trash-kept-for>=${seconds(timings.trashKeptMs)}`
  );
}

function rate(bytes: number, ms: number): number {
  return bytes / MiB / Math.max(ms / 1000, 0.001);
}

function formatSize(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes > MiB) return `${bytes} B (${(bytes / MiB).toFixed(2)} MiB)`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}

/** ANTLER_E2E_DATA_ONLY=mfsmaster|antler runs one master only (e.g. while iterating on Antler). */
const only = process.env["ANTLER_E2E_DATA_ONLY"];
if (only !== undefined && only !== "mfsmaster" && only !== "antler") throw new Error(`ANTLER_E2E_DATA_ONLY=${only}: expected mfsmaster or antler`);
if (only !== "antler") dataPathSuite("mfsmaster");
if (only !== "mfsmaster") dataPathSuite("antler");
