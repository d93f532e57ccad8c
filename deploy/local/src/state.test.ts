/**
 * state.json round trip and validation, the READY-line scanner, the PID identity check that
 * keeps `down` from signalling reused PIDs, and the restart budget of a supervised child.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  readyScanBytesMax, restartBackoffMaxMs, restartBackoffMinMs, restartStableUptimeMs,
  restartsPerWindowMax, restartWindowMs,
} from "./limits.ts";
import { isSameProcess, logTail, processStartTicks, scanForReady } from "./processes.ts";
import { readState, writeState, type ClusterState } from "./state.ts";
import { SupervisedChild } from "./supervisor.ts";

const scratch = mkdtempSync(join(tmpdir(), "antler-launcher-unit-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const sampleState: ClusterState = {
  format: 1, dataDir: "/srv/a", phase: "serving",
  supervisor: { pid: 1234, startTicks: 99, attached: false },
  netns: { name: "antler-x", address: "10.213.1.1", owned: true },
  processes: [{
    name: "shard-0", role: "shard", pid: 1240, startTicks: 100, shardId: 0, leader: true,
    addresses: [], restarts: 2, status: "running", logFile: "/srv/a/logs/shard-0.log",
    command: ["node", "main.ts"],
    ready: { shard: 0 },
  }],
  mountCommand: "mfsmount /mnt/antler -H 10.213.1.1 -P 9421",
  updatedAt: "2026-01-01T00:00:00.000Z",
};

test("writeState then readState returns the same state; a missing file is undefined", () => {
  const file = join(scratch, "state.json");
  assert.equal(readState(file), undefined);
  writeState(file, sampleState);
  assert.deepEqual(readState(file), sampleState);
});

test("readState names what is wrong with a damaged file", () => {
  const file = join(scratch, "bad.json");
  writeFileSync(file, "{not json");
  assert.throws(() => readState(file), /bad\.json is not valid JSON/);
  const cases: Array<[unknown, RegExp]> = [
    [[], /not a valid state file/],
    [{ ...sampleState, format: 7 }, /format is not 1/],
    [{ ...sampleState, supervisor: { pid: -1 } }, /supervisor\.pid is missing/],
    [{ ...sampleState, processes: {} }, /processes is not a list/],
    [
      { ...sampleState, processes: [{ ...sampleState.processes[0], role: "master" }] },
      /processes\[0\]\.role is unknown/,
    ],
    [
      { ...sampleState, processes: [{ ...sampleState.processes[0], pid: "1" }] },
      /processes\[0\]\.pid is invalid/,
    ],
  ];
  for (const [value, pattern] of cases) {
    writeFileSync(file, JSON.stringify(value));
    assert.throws(() => readState(file), pattern);
  }
});

test("scanForReady finds a complete READY line after the offset, resuming where it stopped", () => {
  const log = join(scratch, "service.log");
  writeFileSync(log, 'READY {"old":true}\nstarting\n');
  const start = Buffer.byteLength('READY {"old":true}\nstarting\n');
  assert.deepEqual(scanForReady(log, start), { offset: start });
  appendFileSync(log, "opened the log ✓\nREADY {\"shard\"");
  const partial = scanForReady(log, start);
  assert.equal("ready" in partial, false, "a half-written line does not count");
  assert.equal(partial.offset, start + Buffer.byteLength("opened the log ✓\n"));
  appendFileSync(log, ":3}\n");
  assert.deepEqual(scanForReady(log, partial.offset).ready, { shard: 3 });
  appendFileSync(log, "READY not-json\n");
  const afterReady = partial.offset + Buffer.byteLength('READY {"shard":3}\n');
  assert.equal(scanForReady(log, afterReady).ready, "not-json");
});

test("scanForReady skips a single line longer than its window", () => {
  const log = join(scratch, "long.log");
  writeFileSync(log, `${"x".repeat(readyScanBytesMax + 10)}\nREADY {}\n`);
  let scan = scanForReady(log, 0);
  assert.equal(scan.offset, readyScanBytesMax);
  scan = scanForReady(log, scan.offset);
  assert.deepEqual(scan.ready, {});
});

test("logTail quotes only the lines written since an offset", () => {
  const log = join(scratch, "tail.log");
  writeFileSync(log, "earlier run\n");
  const offset = Buffer.byteLength("earlier run\n");
  appendFileSync(log, "line 1\nline 2\n");
  assert.equal(logTail(log, offset), "line 1\nline 2");
  assert.equal(logTail(log, 0, 1), "line 2");
  assert.equal(logTail(join(scratch, "none.log")), "");
});

test("a PID counts as ours only with the start time we recorded", () => {
  const ticks = processStartTicks(process.pid);
  assert.equal(typeof ticks, "number");
  assert.equal(isSameProcess(process.pid, ticks ?? null), true);
  assert.equal(isSameProcess(process.pid, (ticks ?? 0) + 1), false, "same PID, other start");
  assert.equal(isSameProcess(null, ticks ?? null), false);
  assert.equal(processStartTicks(2 ** 22 + 1), undefined, "beyond pid_max: no such process");
});

test("restart backoff doubles up to its maximum and the budget per window is bounded", () => {
  const child = new SupervisedChild({
    name: "router", role: "router", command: "node", args: [], env: {}, cwd: "/",
    logFile: "/dev/null",
    addresses: [], readyTimeoutMs: 1, probe: async () => true,
  });
  const delays: Array<number | undefined> = [];
  for (let restart = 0; restart < restartsPerWindowMax + 1; restart++) {
    delays.push(child.planRestart(1_000 + restart));
  }
  const expected: Array<number | undefined> = [];
  for (let restart = 0, delay = restartBackoffMinMs; restart < restartsPerWindowMax; restart++) {
    expected.push(delay);
    delay = Math.min(restartBackoffMaxMs, delay * 2);
  }
  expected.push(undefined);
  assert.deepEqual(delays, expected);
  assert.equal(child.record.restarts, restartsPerWindowMax);
  // Once the window has passed, restarts are allowed again; a long uptime resets the backoff.
  const later = 1_000 + restartWindowMs + restartStableUptimeMs;
  assert.equal(child.planRestart(later), restartBackoffMinMs);
  // Exits after a long run are no crash loop: they never use up the budget.
  for (let restart = 0; restart < 3 * restartsPerWindowMax; restart++) {
    assert.equal(child.planRestart(later + restart), restartBackoffMinMs);
  }
});
