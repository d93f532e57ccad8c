/** Every accepted and refused form of the bench command line. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { profileFlags, supportFromUsage } from "./antler-target.ts";
import { parseBenchArgs, profilesOf, UsageError } from "./args.ts";

test("defaults", () => {
  assert.deepEqual(parseBenchArgs([]), {
    mode: "protocol", profile: "minimal", shards: 4, rounds: 2, ops: 10_000, sessions: 4, inflight: 16, workers: 4,
    entriesPerDir: 100, phaseSeconds: 300, only: null, jsonPath: null, keep: false, breakdown: false, breakdownOps: 300, cpuProf: false,
  });
  const mount = parseBenchArgs(["--mode", "mount"]);
  assert.ok(mount !== "help" && mount.ops === 1000, "mount mode defaults to fewer operations");
  const all = parseBenchArgs(["--profile", "all"]);
  assert.ok(all !== "help" && all.ops === 3000, "all profiles in one run default to fewer operations");
});

test("--profile all stands for the three profiles in a fixed order", () => {
  assert.deepEqual(profilesOf("all"), ["minimal", "ha", "sharded"]);
  assert.deepEqual(profilesOf("ha"), ["ha"]);
});

test("every option, in both --flag value and --flag=value form", () => {
  const options = parseBenchArgs([
    "--profile", "sharded", "--shards=4", "--rounds", "3", "--ops=500", "--sessions", "2", "--inflight", "8",
    "--workers", "6", "--entries-per-dir", "50", "--phase-seconds", "30", "--only", "mfsmaster", "--json", "out.json", "--keep",
    "--mode=mount",
  ]);
  assert.deepEqual(options, {
    mode: "mount", profile: "sharded", shards: 4, rounds: 3, ops: 500, sessions: 2, inflight: 8, workers: 6,
    entriesPerDir: 50, phaseSeconds: 30, only: "mfsmaster", jsonPath: "out.json", keep: true, breakdown: false, breakdownOps: 300, cpuProf: false,
  });
  const traced = parseBenchArgs(["--profile=all", "--breakdown", "--breakdown-ops", "50", "--shards", "3", "--cpu-prof"]);
  assert.ok(traced !== "help");
  assert.deepEqual([traced.profile, traced.breakdown, traced.breakdownOps, traced.shards, traced.cpuProf], ["all", true, 50, 3, true]);
  assert.equal(parseBenchArgs(["--ops", "5", "--help"]), "help");
});

test("refused command lines give one-line usage errors", () => {
  const refused: Array<[string[], RegExp]> = [
    [["--bogus"], /unknown option/],
    [["--ops"], /needs a value/],
    [["--ops", "--rounds", "2"], /needs a value/],
    [["--ops", "12x"], /whole number/],
    [["--ops", "0"], /between 1 and/],
    [["--sessions", "100000"], /between 1 and/],
    [["--only", "ceph"], /one of antler, mfsmaster/],
    [["--profile", "huge"], /one of minimal, ha, sharded, all/],
    [["--breakdown", "--only", "mfsmaster"], /cannot go with --only mfsmaster/],
    [["--breakdown-ops", "20"], /needs --breakdown/],
    [["--breakdown=yes"], /takes no value/],
    [["--cpu-prof", "--only", "mfsmaster"], /cannot go with --only mfsmaster/],
    [["--cpu-prof", "--mode", "mount"], /cannot go with --mode mount/],
    [["--shards", "0"], /between 1 and/],
    [["--mode", "fuse"], /one of protocol, mount/],
    [["--rounds", "2", "--rounds", "3"], /given twice/],
    [["--keep=yes"], /takes no value/],
    [["positional"], /unknown option/],
  ];
  for (const [argv, message] of refused) {
    assert.throws(() => parseBenchArgs(argv), (error: unknown) => error instanceof UsageError && message.test(error.message), argv.join(" "));
  }
});

test("profiles the launcher cannot start yet are refused with one line", () => {
  const none = { available: true, shards: false, ha: false, reason: null };
  assert.deepEqual(profileFlags("minimal", none, 2), []);
  assert.equal(profileFlags("ha", none, 2), "profile ha needs the HA/sharding work (not built yet)");
  assert.equal(profileFlags("sharded", none, 2), "profile sharded needs the HA/sharding work (not built yet)");
  const all = { available: true, shards: true, ha: true, reason: null };
  assert.deepEqual(profileFlags("sharded", all, 4), ["--profile", "ha", "--shards", "4"]);
  assert.deepEqual(profileFlags("ha", all, 2), ["--profile", "ha"]);
  // Sharded means shards × 3 replicas: --shards alone (1 replica each) would mislabel the numbers.
  const shardsOnly = { available: true, shards: true, ha: false, reason: null };
  assert.equal(profileFlags("sharded", shardsOnly, 4), "profile sharded needs the HA/sharding work (not built yet)");
});

test("the launcher's usage text tells which profiles it can start", () => {
  const usage = `usage: antler <command> [options]

commands:
  up --data DIR [options]      start (or resume) a local cluster whose state lives in DIR
      --shards N               metadata shards, fixed when DIR is created (default 1)
      --profile P              minimal (default: one process of each) or ha (3 NATS servers,
                               3 replicas per shard, 2 gateways, 2 routers); fixed when DIR is
                               created
      --log-level LEVEL        debug, info, warn or error (default info)
  down --data DIR              stop the cluster started on DIR and remove its namespace`;
  assert.deepEqual(supportFromUsage(usage), { available: true, shards: true, ha: true, reason: null });
  const older = usage.replace(/ {6}--profile P[^]*created\n/, "");
  assert.deepEqual(supportFromUsage(older), { available: true, shards: true, ha: false, reason: null });
  // "ha" elsewhere in the text (a word in another option's description) does not count.
  const elsewhere = `${older}\n      --chunkservers N         mfschunkserver processes (ha ha)`;
  assert.equal(supportFromUsage(elsewhere).ha, false);
  assert.equal(supportFromUsage("something else entirely").available, false);
});
