/** Every accepted and refused form of the bench command line. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { profileFlags } from "./antler-target.ts";
import { parseBenchArgs, UsageError } from "./args.ts";

test("defaults", () => {
  assert.deepEqual(parseBenchArgs([]), {
    mode: "protocol", profile: "minimal", shards: 2, rounds: 2, ops: 10_000, sessions: 4, inflight: 16, workers: 4,
    entriesPerDir: 100, phaseSeconds: 300, only: null, jsonPath: null, keep: false,
  });
  const mount = parseBenchArgs(["--mode", "mount"]);
  assert.ok(mount !== "help" && mount.ops === 1000, "mount mode defaults to fewer operations");
});

test("every option, in both --flag value and --flag=value form", () => {
  const options = parseBenchArgs([
    "--profile", "sharded", "--shards=4", "--rounds", "3", "--ops=500", "--sessions", "2", "--inflight", "8",
    "--workers", "6", "--entries-per-dir", "50", "--phase-seconds", "30", "--only", "mfsmaster", "--json", "out.json", "--keep",
    "--mode=mount",
  ]);
  assert.deepEqual(options, {
    mode: "mount", profile: "sharded", shards: 4, rounds: 3, ops: 500, sessions: 2, inflight: 8, workers: 6,
    entriesPerDir: 50, phaseSeconds: 30, only: "mfsmaster", jsonPath: "out.json", keep: true,
  });
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
    [["--profile", "huge"], /one of minimal, ha, sharded/],
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
  assert.deepEqual(profileFlags("sharded", all, 4), ["--shards", "4"]);
  assert.deepEqual(profileFlags("ha", all, 2), ["--profile", "ha"]);
});
