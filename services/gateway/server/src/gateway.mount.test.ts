/**
 * An unmodified mfsmount against the gateway (with the stand-in shard of test-support/cluster.ts):
 * the mount registers, the kernel's first stat and a LOOKUP work, and after the gateway is
 * restarted the mount resumes the same session (RECONNECT → loaded from Redis) without the file
 * system noticing (protocol §2.5, §2.7). Needs root, /dev/fuse and mfsmount; skipped otherwise.
 *
 * mfsmount runs in the foreground (-f) as our own child, so it is stopped by its PID; the mount
 * point is a fresh temp dir. Everything here is asynchronous: the stand-in shard answers from this
 * process, so a blocking call would stall the very requests the mount waits for.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { connectRedis, sessionCounterKey } from "@antler/io-redis";
import { findExecutable, isRoot } from "@antler/testkit";
import { fileName, startTestCluster } from "./test-support/cluster.ts";

const mfsmount = findExecutable("mfsmount");
const skip = !isRoot() ? "needs root" : mfsmount === undefined ? "mfsmount not installed" : !existsSync("/dev/fuse") ? "no /dev/fuse" : false;
const run = promisify(execFile);

async function isMounted(dir: string): Promise<boolean> {
  return (await readFile("/proc/mounts", "utf8")).split("\n").some((line) => line.split(" ")[1] === dir);
}

async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test("a real mfsmount keeps its session across a gateway restart", { skip, timeout: 90_000 }, async () => {
  const cluster = await startTestCluster();
  const dir = await mkdtemp(join(tmpdir(), "antler-gateway-mount-"));
  const mountPoint = join(dir, "mnt");
  let mount: ChildProcess | undefined;
  try {
    let gateway = await cluster.startGateway();
    await run("mkdir", [mountPoint]);
    mount = spawn(mfsmount!, ["-f", mountPoint, "-H", "127.0.0.1", "-P", String(gateway.port)], { stdio: "ignore" });
    const deadline = Date.now() + 15_000;
    while (!(await isMounted(mountPoint))) {
      assert.ok(Date.now() < deadline && mount.exitCode === null, "mfsmount did not mount");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    assert.ok((await within(10_000, "stat root", stat(mountPoint))).isDirectory());
    assert.equal((await within(10_000, "stat f", stat(join(mountPoint, fileName)))).size, 3);
    await assert.rejects(within(10_000, "stat missing", stat(join(mountPoint, "missing"))), { code: "ENOENT" });

    const redis = await connectRedis(cluster.redis.url);
    const sessionsBefore = await redis.get(sessionCounterKey);
    assert.equal(await gateway.stop("SIGTERM"), 0);
    gateway = await cluster.startGateway({ port: gateway.port });
    // mfsmount reconnects within ~2 s and re-sends what was pending; a new name forces a request.
    await assert.rejects(within(20_000, "stat after restart", stat(join(mountPoint, "missing-after-restart"))), { code: "ENOENT" });
    assert.equal((await within(10_000, "stat f after restart", stat(join(mountPoint, fileName)))).size, 3);
    assert.equal(await redis.get(sessionCounterKey), sessionsBefore, "no new session was created");
    assert.ok(gateway.logs.some((line) => line.includes('"session resumed"')), "the mount resumed its session");
    redis.disconnect();
  } finally {
    if (await isMounted(mountPoint).catch(() => false)) {
      await run("umount", [mountPoint], { timeout: 10_000 }).catch(() => run("umount", ["-l", mountPoint]).catch(() => {}));
    }
    if (mount !== undefined && mount.exitCode === null && mount.signalCode === null) {
      const exited = new Promise((resolve) => mount!.once("exit", resolve));
      mount.kill("SIGTERM");
      const killer = setTimeout(() => mount!.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
