/**
 * `npm run bench:data -w @antler/bench -- [options]` (options: data-throughput-args.ts): sequential
 * write and read throughput of one file (1 GiB by default) through a real mfsmount, Antler next
 * to mfsmaster 3.0.117 in the same run, alternating, each on a fresh cluster with the same real
 * mfschunkservers (the e2e file-data cluster from @antler/e2e). Not a test: it measures.
 *
 * Per round and master: start the cluster, mfssetgoal on the root, write the file in 1 MiB
 * pieces from a random buffer (read once from /dev/urandom, so the random source does not limit
 * the rate), fsync and close (the write time includes both); unmount, drop the page cache
 * (`echo 3 > /proc/sys/vm/drop_caches`: the chunkservers' files too), mount afresh and read the
 * file sequentially, checking its md5. Results: stdout table, bench/results/<ts>-data/.
 *
 * Antler without a file data path yet (a probe write fails with EIO/ENOTSUP) is reported as such
 * in the table and its remaining rounds are skipped. Exit codes: 0 done, 1 failed, 2 usage.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { cleanupAll, MfsTools, probeDataPath, startDataCluster, waitForChunkservers, type DataCluster } from "@antler/e2e";
import { repoRoot } from "./antler-target.ts";
import { UsageError } from "./args.ts";
import {
  dataRunOrder, dataUsageText, formatDataTable, parseDataBenchArgs,
  type DataBenchOptions, type DataMeasurement, type DataTarget,
} from "./data-throughput-args.ts";

const MiB = 1024 * 1024;
/** The random pattern written over and over; big enough that no layer can dedupe or compress it. */
const patternBytes = 64 * MiB;
const pieceBytes = MiB;
const dropCachesPath = "/proc/sys/vm/drop_caches";

const log = (line: string): void => {
  process.stderr.write(`[bench:data ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

async function main(argv: readonly string[]): Promise<number> {
  let options: DataBenchOptions | "help";
  try {
    options = parseDataBenchArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      log(error.message);
      return 2;
    }
    throw error;
  }
  if (options === "help") {
    process.stdout.write(`${dataUsageText}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    log("cannot run: not root (namespaces, FUSE and drop_caches need root)");
    return 1;
  }
  const pattern = await readRandom(patternBytes);
  const measurements: DataMeasurement[] = [];
  let antlerMissing: string | null = null;
  for (const { round, target } of dataRunOrder(options.rounds, options.only)) {
    if (target === "antler" && antlerMissing !== null) {
      measurements.push({ round, target, writeMiBps: null, readMiBps: null, error: antlerMissing });
      continue;
    }
    log(`round ${round}: ${target}`);
    const measurement = await measureOne(options, round, target, pattern);
    if (target === "antler" && measurement.error?.startsWith("no file data path") === true) antlerMissing = measurement.error;
    measurements.push(measurement);
    log(
      `round ${round} ${target}: write ${formatRate(measurement.writeMiBps)}, read ${formatRate(measurement.readMiBps)}` +
        (measurement.error === null ? "" : ` (${measurement.error})`),
    );
  }
  const table = formatDataTable(options, measurements);
  process.stdout.write(`\n${table}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = options.resultsDir ?? path.join(repoRoot, "bench", "results", `${stamp}-data`);
  await fsp.mkdir(resultsDir, { recursive: true });
  await fsp.writeFile(path.join(resultsDir, "result.json"), `${JSON.stringify({ options, measurements }, null, 2)}\n`);
  await fsp.writeFile(path.join(resultsDir, "result.md"), table);
  log(`results in ${resultsDir}`);
  return measurements.some((measurement) => measurement.error !== null && measurement.target === "mfsmaster") ? 1 : 0;
}

async function measureOne(options: DataBenchOptions, round: number, target: DataTarget, pattern: Buffer): Promise<DataMeasurement> {
  const result: DataMeasurement = { round, target, writeMiBps: null, readMiBps: null, error: null };
  let cluster: DataCluster | undefined;
  try {
    cluster = await startDataCluster(target, options.chunkservers);
    const writer = await cluster.mount();
    await waitForChunkservers(cluster, writer.dir, options.chunkservers);
    await new MfsTools(cluster.netns).setGoal(writer.dir, options.goal, false);
    const probeFailure = await probeDataPath(cluster);
    if (probeFailure !== undefined) {
      result.error = `no file data path: ${probeFailure}`;
      return result;
    }
    const size = options.sizeMiB * MiB;
    const file = path.join(writer.dir, "bench-data");
    const written = await timed(() => writeSequential(file, size, pattern));
    result.writeMiBps = size / MiB / written.seconds;
    writer.unmount();
    const dropped = dropPageCache();
    const reader = await cluster.mount();
    const read = await timed(() => readSequential(path.join(reader.dir, "bench-data")));
    if (read.value.bytes !== size || read.value.md5 !== written.value) {
      result.error = `read back ${read.value.bytes} B with md5 ${read.value.md5}; wrote ${size} B with md5 ${written.value}`;
      return result;
    }
    result.readMiBps = size / MiB / read.seconds;
    if (!dropped) result.error = "page cache not dropped: the read may be served from memory";
    return result;
  } catch (error) {
    result.error = (error as Error).message.split("\n")[0] ?? String(error);
    if (cluster !== undefined) cluster.saveLogs(`bench-data-${target}-r${round}`);
    return result;
  } finally {
    cluster?.teardown();
    const failures = cleanupAll();
    for (const failure of failures) log(failure);
  }
}

/** Writes `size` bytes of the repeated pattern in 1 MiB pieces; fsync + close; returns the md5. */
async function writeSequential(file: string, size: number, pattern: Buffer): Promise<string> {
  const hash = createHash("md5");
  const handle = await fsp.open(file, "w");
  try {
    for (let position = 0; position < size; ) {
      const offset = position % pattern.length;
      const piece = pattern.subarray(offset, offset + Math.min(pieceBytes, size - position, pattern.length - offset));
      hash.update(piece);
      for (let done = 0; done < piece.length; ) {
        const { bytesWritten } = await handle.write(piece, done, piece.length - done, position + done);
        done += bytesWritten;
      }
      position += piece.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}

async function readSequential(file: string): Promise<{ bytes: number; md5: string }> {
  const hash = createHash("md5");
  const handle = await fsp.open(file, "r");
  const buffer = Buffer.alloc(pieceBytes);
  let bytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, pieceBytes, bytes);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { bytes, md5: hash.digest("hex") };
}

async function timed<T>(action: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await action();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Flushes dirty pages and drops the page cache; false when the kernel refused. */
function dropPageCache(): boolean {
  try {
    fs.writeFileSync(dropCachesPath, "3\n");
    return true;
  } catch (error) {
    log(`cannot drop the page cache (${(error as Error).message}); reads may come from memory`);
    return false;
  }
}

async function readRandom(length: number): Promise<Buffer> {
  const device = await fsp.open("/dev/urandom", "r");
  try {
    const buffer = Buffer.alloc(length);
    for (let filled = 0; filled < length; ) {
      const { bytesRead } = await device.read(buffer, filled, Math.min(pieceBytes, length - filled), null);
      filled += bytesRead;
    }
    return buffer;
  } finally {
    await device.close();
  }
}

function formatRate(value: number | null): string {
  return value === null ? "n/a" : `${value.toFixed(1)} MiB/s`;
}

process.exitCode = await main(process.argv.slice(2));
