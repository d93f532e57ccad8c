/**
 * Short real runs against the real mfsmaster 3.0.117 with an empty filesystem: the load generator
 * as the driver starts it (a child process entered into the master's network namespace), and mount
 * mode through a real mfsmount. Checks that every phase ran exactly the planned number of
 * operations with zero errors, that the server's CPU was measured, and that the run directory was
 * removed again. No timing assertions. Needs root and mfsmaster (and mfsmount + /dev/fuse for
 * mount mode); skipped with a message otherwise.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { Cleanup } from "./cleanup.ts";
import { runLoadgen } from "./loadgen-runner.ts";
import { mfsmasterUnavailable, startMfsmaster } from "./mfsmaster-target.ts";
import { mfsmountBinary, mountTarget } from "./mount.ts";
import { mountPhases } from "./mount-workload.ts";
import { createNamespace, deleteNamespace } from "./netns.ts";
import { protocolPhases } from "./protocol-workload.ts";
import type { RunningTarget } from "./target.ts";

const unavailable = mfsmasterUnavailable();
if (unavailable !== null) process.stderr.write(`loadgen.test: real mfsmaster run skipped: ${unavailable}\n`);
const mountUnavailable =
  unavailable ?? (!fs.existsSync(mfsmountBinary) ? `${mfsmountBinary} is missing` : !fs.existsSync("/dev/fuse") ? "/dev/fuse is missing" : null);
if (mountUnavailable !== null && unavailable === null) process.stderr.write(`loadgen.test: mount mode skipped: ${mountUnavailable}\n`);

const cleanup = new Cleanup();
let target: RunningTarget | null = null;
let workDir = "";
let leftoverProcesses = 0;

before(async () => {
  if (unavailable !== null) return;
  workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-test-"));
  cleanup.add(`remove ${workDir}`, () => fsp.rm(workDir, { recursive: true, force: true }));
  // Index 50: clear of the driver's 0 and 1, so a benchmark running meanwhile is not disturbed.
  const namespace = await createNamespace(50);
  cleanup.add(`delete namespace ${namespace.name}`, async () => {
    leftoverProcesses = await deleteNamespace(namespace.name);
  });
  target = await startMfsmaster(namespace, workDir, cleanup);
});

after(async () => {
  await cleanup.runAll((line) => process.stderr.write(`${line}\n`));
  // mfsmaster and mfsmount are stopped by their PIDs first; nothing may be left for the sweep.
  assert.equal(leftoverProcesses, 0, "processes left in the namespace after every owner stopped its own");
});

test("a few hundred operations per phase against mfsmaster: exact counts, zero errors", { skip: unavailable ?? false, timeout: 120_000 }, async () => {
  assert.ok(target !== null);
  const ops = 300;
  const sessions = 3;
  const entriesPerDir = 40;
  const result = await runLoadgen(
    {
      mode: "protocol", label: "self-test", host: target.namespace.address, port: target.port, sessions, inflight: 4, ops,
      entriesPerDir, phaseSeconds: 60, tag: `selftest-${process.pid}`,
    },
    protocolPhases.length,
    target.namespace,
    cleanup,
  );
  assert.deepEqual(result.notes, []);
  assert.equal(result.setupErrors, 0);
  assert.equal(result.cleanupErrors, 0, "the run directory and its buckets were removed");
  assert.deepEqual(result.phases.map((phase) => phase.phase), [...protocolPhases]);
  // readdir reads whole buckets, ceil(items/10) times per session; each session has 100 items.
  const readdirs = sessions * Math.ceil(ops / sessions / 10);
  for (const phase of result.phases) {
    const planned = phase.phase === "readdir" ? readdirs : ops;
    assert.equal(phase.errors, 0, `${phase.phase}: ${phase.errorSamples.join("; ")}`);
    assert.equal(phase.planned, planned, phase.phase);
    assert.equal(phase.count, planned, phase.phase);
    assert.equal(phase.histogram.count, planned, `${phase.phase}: one latency per successful operation`);
    assert.equal(phase.truncated, false);
    assert.ok("mfsmaster" in phase.serverCpuSeconds, `${phase.phase}: the master's CPU was sampled`);
  }
});

test("mount mode through a real mfsmount: exact counts, zero errors", { skip: mountUnavailable ?? false, timeout: 120_000 }, async () => {
  assert.ok(target !== null);
  const mounted = await mountTarget(target, workDir, cleanup);
  const ops = 60;
  const workers = 3;
  const result = await runLoadgen(
    {
      mode: "mount", label: "self-test mount", mountpoint: mounted.mountpoint, ops, workers, entriesPerDir: 25,
      phaseSeconds: 60, tag: `selftest-mount-${process.pid}`, serverNetns: `/run/netns/${target.namespace.name}`,
    },
    mountPhases.length * 2,
    null,
    cleanup,
  );
  const leftInRoot = await fsp.readdir(mounted.mountpoint);
  await mounted.unmount();
  assert.deepEqual(leftInRoot, [], "the run directory was removed from the filesystem root");
  assert.deepEqual(result.notes, []);
  assert.equal(result.setupErrors, 0);
  assert.equal(result.cleanupErrors, 0);
  const expected = [1, workers].flatMap((pass) => mountPhases.map((phase) => `${phase} ×${pass}`));
  assert.deepEqual(result.phases.map((phase) => phase.phase), expected);
  for (const phase of result.phases) {
    const planned = phase.phase.startsWith("readdir") ? Math.ceil(ops / 10) : ops;
    assert.equal(phase.errors, 0, `${phase.phase}: ${phase.errorSamples.join("; ")}`);
    assert.equal(phase.count, planned, phase.phase);
    assert.ok("mfsmaster" in phase.serverCpuSeconds && "mfsmount" in phase.serverCpuSeconds, `${phase.phase}: server processes sampled`);
  }
});
