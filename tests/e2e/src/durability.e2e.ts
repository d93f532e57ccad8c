// Durability of acknowledged operations in Antler, through a real mfsmount:
//  1. While the mount keeps creating files, the shard process is killed with SIGKILL; the
//     launcher's supervisor restarts it. Every file whose create had returned before (or after)
//     the kill must exist afterwards: an acknowledged create is in the shard log.
//  2. After `antler down` and `antler up` on the same data directory (and a fresh mount), every
//     acknowledged file still exists.
//  3. The gateway is killed with SIGKILL and restarted by the supervisor while the mount stays
//     mounted: operations on that same mount succeed afterwards (mfsmount reconnects its session).
// The tests run in order on one cluster; each depends on the files of the one before.

import assert from "node:assert/strict";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanupAll } from "./cleanup.ts";
import { saveClusterLogs, startMountedCluster, type MountedCluster } from "./cluster.ts";
import { startMountLoad } from "./mount-load.ts";
import { sleep } from "./proc.ts";
import { formatError } from "./transcript.ts";

const restartTimeoutMs = 30_000;
/** How long the mount keeps creating files before the kill, and after the restart. */
const loadBeforeKillMs = 2_000;
const loadAfterRestartMs = 2_000;
/** After a restart is reported, the mount's operations must succeed again within this long. */
const resumeTimeoutMs = 20_000;

/** Milliseconds until `probe` holds (polled every 50 ms), or undefined after `timeoutMs`. */
async function resumesWithin(probe: () => boolean, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started >= timeoutMs) return undefined;
    await sleep(50);
  }
  return Date.now() - started;
}

/** Names in `dir` that are missing, out of `names`. */
async function missingFiles(dir: string, names: readonly string[]): Promise<string[]> {
  const present = new Set(await readdir(dir));
  const missing = names.filter((name) => !present.has(name));
  // A listing can be served from a cache; stat each name the listing did not show to be sure.
  const confirmed: string[] = [];
  for (const name of missing) {
    try {
      await stat(join(dir, name));
    } catch (error) {
      confirmed.push(`${name} (${formatError(error)})`);
    }
  }
  return confirmed;
}

describe("durability of acknowledged operations (Antler, real mfsmount)", () => {
  let cluster: MountedCluster | undefined;
  let passedAll = true;
  const acknowledged: string[] = [];
  const dirName = "durable";

  before(async () => {
    cluster = await startMountedCluster("antler", 1);
    await mkdir(join(cluster.mounts[0]!.dir, dirName));
  });

  after(() => {
    if (cluster !== undefined && !passedAll) saveClusterLogs("durability-antler", cluster.dir);
    const failures = cleanupAll();
    assert.deepEqual(failures, [], "cleanup failed");
  });

  const fail = (error: unknown): never => {
    passedAll = false;
    throw error;
  };

  test("acknowledged creates survive kill -9 of the shard", { timeout: 120_000 }, async () => {
    try {
      assert.ok(cluster !== undefined, "the Antler cluster did not start");
      const dir = join(cluster.mounts[0]!.dir, dirName);
      const load = startMountLoad(dir, "before-shard-kill");
      await sleep(loadBeforeKillMs);
      const killedPid = await cluster.antler!.kill9("shard");
      const restarted = await cluster.antler!.waitRestarted("shard", killedPid, restartTimeoutMs);
      process.stderr.write(`  shard pid ${killedPid} killed, restarted as ${restarted.pid} (restarts ${restarted.restarts})\n`);
      const createdAtRestart = load.createdCount();
      // The mount must come back by itself: creates resume within a bound after the restart.
      const resumed = await resumesWithin(() => load.createdCount() > createdAtRestart, resumeTimeoutMs);
      await sleep(loadAfterRestartMs);
      const report = await load.stop();
      process.stderr.write(`  creates resumed ${resumed === undefined ? "never" : `${resumed} ms`} after the restart was reported\n`);
      acknowledged.push(...report.created);
      process.stderr.write(
        `  ${report.created.length} acknowledged creates, ${report.operations} operations, slowest ${report.slowestMs} ms, failures: ${report.failures.join("; ") || "none"}\n`,
      );
      assert.ok(createdAtRestart > 0, "no create was acknowledged before the shard came back");
      assert.ok(resumed !== undefined, `no create succeeded on the mount within ${resumeTimeoutMs} ms of the shard restart`);
      assert.deepEqual(await missingFiles(dir, report.created), [], "acknowledged files lost after the shard restart");
    } catch (error) {
      fail(error);
    }
  });

  test("acknowledged creates survive antler down + up on the same data directory", { timeout: 240_000 }, async () => {
    try {
      assert.ok(cluster !== undefined, "the Antler cluster did not start");
      assert.ok(acknowledged.length > 0, "the previous test acknowledged no files");
      cluster.unmountAll();
      cluster.antler!.down();
      await cluster.antler!.up();
      const mount = await cluster.mount();
      const dir = join(mount.dir, dirName);
      assert.deepEqual(await missingFiles(dir, acknowledged), [], "acknowledged files lost across down + up");
    } catch (error) {
      fail(error);
    }
  });

  test("the same mount keeps working across kill -9 of the gateway", { timeout: 120_000 }, async () => {
    try {
      assert.ok(cluster !== undefined, "the Antler cluster did not start");
      const mount = cluster.mounts[cluster.mounts.length - 1]!;
      const dir = join(mount.dir, dirName);
      const killedPid = await cluster.antler!.kill9("gateway");
      const restarted = await cluster.antler!.waitRestarted("gateway", killedPid, restartTimeoutMs);
      process.stderr.write(`  gateway pid ${killedPid} killed, restarted as ${restarted.pid}\n`);
      assert.ok(mount.client.running(), "mfsmount exited when the gateway died");
      const load = startMountLoad(dir, "after-gateway-kill");
      await sleep(loadAfterRestartMs);
      const report = await load.stop();
      process.stderr.write(`  after the gateway restart: ${report.operations} operations, slowest ${report.slowestMs} ms\n`);
      assert.deepEqual(report.failures, [], "operations on the mount failed after the gateway restart");
      assert.ok(report.created.length > 0, "no create succeeded after the gateway restart");
      assert.deepEqual(await missingFiles(dir, acknowledged), [], "acknowledged files not visible after the gateway restart");
    } catch (error) {
      fail(error);
    }
  });
});
