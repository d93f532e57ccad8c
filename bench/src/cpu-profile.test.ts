/**
 * CPU profile summaries from synthetic V8 profiles: self time is the sum of the sampled ticks'
 * deltas, idle time is left out of the busy time, the service is recognised from where its code
 * lives, malformed profiles are typed errors (and skipped when reading a directory), and a real
 * profile written by `node --cpu-prof` is read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { CpuProfileFormatError, type CpuProfileJson, parseCpuProfile, readCpuProfiles, serviceOf, summarizeCpuProfile } from "./cpu-profile.ts";

const root = "/repo";
const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });

function profile(): CpuProfileJson {
  return {
    nodes: [
      { id: 1, callFrame: frame("(root)", "") },
      { id: 2, callFrame: frame("(idle)", "") },
      { id: 3, callFrame: frame("encodeReply", "file:///repo/services/gateway/server/src/reply.ts", 41) },
      { id: 4, callFrame: frame("parse", "node:internal/json") },
      { id: 5, callFrame: frame("(garbage collector)", "") },
      { id: 6, callFrame: frame("", "file:///repo/libs/ops/src/codec.ts", 9) },
    ],
    // Ticks: idle 5000 µs; encodeReply 300 + 300; parse 200; GC 100; anonymous 100.
    samples: [2, 3, 4, 3, 5, 6, 2],
    timeDeltas: [2000, 300, 200, 300, 100, 100, 3000],
    startTime: 1_000_000,
    endTime: 1_010_000,
  };
}

test("self time per function as a share of the busy time, largest first", () => {
  const summary = summarizeCpuProfile(profile(), "CPU.20261126.105700.4242.3.007.cpuprofile", 3, root);
  assert.deepEqual([summary.pid, summary.thread], [4242, 3], "pid and thread from Node's file name");
  assert.equal(summary.busyMicros, 1000, "idle ticks are not busy time");
  assert.equal(summary.wallMicros, 10_000);
  assert.equal(summary.service, "gateway");
  assert.deepEqual(summary.top, [
    { name: "encodeReply (services/gateway/server/src/reply.ts:42)", selfMicros: 600, share: 0.6 },
    { name: "parse (node:internal/json:1)", selfMicros: 200, share: 0.2 },
    { name: "(garbage collector)", selfMicros: 100, share: 0.1 },
  ]);
  const all = summarizeCpuProfile(profile(), "x", 10, root);
  assert.ok(all.top.some((cost) => cost.name === "(anonymous) (libs/ops/src/codec.ts:10)"));
});

test("the service is the one whose code the samples hit most", () => {
  const shard = profile();
  shard.nodes.push({ id: 7, callFrame: frame("execute", "file:///repo/services/shard/server/src/shard-server.ts") });
  shard.samples.push(7, 7, 7);
  shard.timeDeltas.push(1, 1, 1);
  assert.equal(serviceOf(shard), "shard");
  assert.equal(serviceOf({ ...profile(), samples: [4], timeDeltas: [1] }), "node");
  const launcher = { ...profile(), nodes: [{ id: 1, callFrame: frame("main", "file:///repo/deploy/local/src/cli.ts") }], samples: [1], timeDeltas: [1] };
  assert.equal(serviceOf(launcher), "launcher");
});

test("malformed profiles are typed errors and are skipped when reading a directory", async () => {
  assert.throws(() => parseCpuProfile("{"), CpuProfileFormatError);
  assert.throws(() => parseCpuProfile("{}"), CpuProfileFormatError);
  assert.throws(() => parseCpuProfile(JSON.stringify({ ...profile(), timeDeltas: [1] })), /differ in length/);
  assert.throws(() => parseCpuProfile(JSON.stringify({ ...profile(), nodes: [{ id: 1 }] })), /malformed node/);

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-cpuprof-"));
  try {
    await fsp.writeFile(path.join(dir, "a.cpuprofile"), JSON.stringify(profile()));
    await fsp.writeFile(path.join(dir, "b.cpuprofile"), "{\"nodes\":");
    // A real profile from node --cpu-prof: the format this module expects, not just our fixture.
    execFileSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-name=real.cpuprofile", "-e", "let x = 0; for (let i = 0; i < 3e6; i++) x += i;"]);
    const { processes, skipped } = await readCpuProfiles(dir, 5, root);
    assert.deepEqual(processes.map((process) => process.file), ["a.cpuprofile", "real.cpuprofile"]);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /^b\.cpuprofile: /);
    const real = processes[1]!;
    assert.ok(real.busyMicros > 0 && real.top.length > 0);
    assert.equal(real.service, "node");
    assert.deepEqual([real.pid, real.thread], [null, null], "a profile named otherwise has no pid");
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test("a window keeps only the samples taken inside it (the round, not the process's start)", () => {
  // Sample times: 1_002_000 idle, 1_002_300 encodeReply, 1_002_500 parse, 1_002_800 encodeReply,
  // 1_002_900 GC, 1_003_000 anonymous, 1_006_000 idle.
  const summary = summarizeCpuProfile(profile(), "x", 5, root, { startMicros: 1_002_400, endMicros: 1_002_950 });
  assert.equal(summary.busyMicros, 600);
  assert.deepEqual(summary.top.map((cost) => [cost.name, cost.selfMicros]), [
    ["encodeReply (services/gateway/server/src/reply.ts:42)", 300],
    ["parse (node:internal/json:1)", 200],
    ["(garbage collector)", 100],
  ]);
  assert.equal(summary.wallMicros, 550);
});
