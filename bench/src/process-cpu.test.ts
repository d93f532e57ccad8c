/**
 * Per-process CPU sampling against this very process: a busy loop must show up as CPU time of a
 * process in our own network namespace, and command lines map to readable names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpuSecondsBetween, nameFromCommandLine, namespaceInode, sampleNamespaceCpu } from "./process-cpu.ts";

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
