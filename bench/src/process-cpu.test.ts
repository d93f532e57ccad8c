/**
 * Per-process CPU sampling against this very process: a busy loop must show up as CPU time of a
 * process in our own network namespace, and command lines map to readable names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { cpuSecondsBetween, instanceName, nameFromCommandLine, namespaceInode, sampleNamespaceCpu } from "./process-cpu.ts";

test("command lines map to service or program names", () => {
  assert.equal(nameFromCommandLine(["/x/node", "/work/main/services/gateway/server/src/main.ts"]), "gateway");
  assert.equal(nameFromCommandLine(["/opt/antler/bin/nats-server", "-c", "x.conf"]), "nats-server");
  assert.equal(nameFromCommandLine(["mfsmaster (data writer)"]), "mfsmaster");
  assert.equal(nameFromCommandLine(["mfsmount (mounted on: /tmp/antler-bench-x/mnt-antler)"]), "mfsmount");
  assert.equal(nameFromCommandLine(["/x/node", "/work/main/deploy/local/src/cli.ts", "__supervise", "--data", "d"]), "supervisor");
  assert.equal(nameFromCommandLine([]), "?");
});

test("a busy child in our namespace is measured; the excluded pid is not", { skip: process.platform !== "linux", timeout: 60_000 }, async () => {
  const inode = namespaceInode("/proc/self/ns/net");
  assert.notEqual(inode, null);
  // A child that burns 300 ms of its own CPU time (however loaded the machine), says so, and idles.
  const script =
    "const start = process.cpuUsage(); while (process.cpuUsage(start).user < 300000); process.stdout.write('done'); setTimeout(() => {}, 30000);";
  const before = sampleNamespaceCpu(inode, process.pid);
  const child = spawn(process.execPath, ["-e", script]);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`busy child exited early with ${code}`)));
    });
    const after = sampleNamespaceCpu(inode, process.pid);
    assert.ok(!after.has(process.pid), "the load generator itself is excluded");
    assert.ok(after.has(child.pid!), "the child is in our namespace");
    // Only the child's own entry: other processes in this namespace are busy too.
    const childOnly = new Map([[child.pid!, after.get(child.pid!)!]]);
    const seconds = cpuSecondsBetween(before, childOnly);
    assert.ok((seconds.node ?? 0) >= 0.25, `busy child measured: ${JSON.stringify(seconds)}`);
  } finally {
    child.kill("SIGKILL");
  }
  assert.deepEqual(sampleNamespaceCpu(null, process.pid).size, 0);
});

test("a shard process is named by its service directory, so each shard is counted apart", { skip: process.platform !== "linux", timeout: 30_000 }, async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-instance-"));
  // What the launcher does: the shard's main under services/shard/, its working directory shard-<id>.
  const main = path.join(root, "services", "shard", "server", "main.js");
  await fsp.mkdir(path.dirname(main), { recursive: true });
  await fsp.writeFile(main, "process.stdout.write('up'); setTimeout(() => {}, 20000);\n");
  const children = await Promise.all(
    ["shard-3", "shard-1-r2", "elsewhere"].map(async (directory) => {
      await fsp.mkdir(path.join(root, directory));
      const child = spawn(process.execPath, [main], { cwd: path.join(root, directory) });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once("data", () => resolve());
        child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
      });
      return child;
    }),
  );
  try {
    assert.deepEqual(children.map((child) => instanceName(child.pid!)), ["shard-3", "shard-1-r2", "shard"]);
    const sample = sampleNamespaceCpu(namespaceInode("/proc/self/ns/net"), process.pid, instanceName);
    assert.equal(sample.get(children[0]!.pid!)?.name, "shard-3");
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await fsp.rm(root, { recursive: true, force: true });
  }
});
