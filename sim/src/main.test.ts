/** The command line contract of `npm run sim`: seed first, FAIL line, replay command, exit codes. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));

function sim(...args: string[]): { readonly code: number | null; readonly stdout: string; readonly stderr: string } {
  const run = spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

test("a passing seed prints ok and exits 0", () => {
  const run = sim("--seed", "3", "--steps", "100");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^ok seed=3: 100\/100 ops answered/m);
});

test("without --seed the run draws one and prints it first", () => {
  const run = sim("--steps", "50");
  assert.match(run.stdout.split("\n")[0] ?? "", /^seed \d+$/);
});

test("a failing seed prints the reason and the exact replay command, and exits 1", () => {
  const run = sim("--seed", "1", "--steps", "400", "--variant", "reply-before-ack", "--direct", "--hostile");
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^FAIL seed=1: acknowledged .* is not durable/m);
  assert.match(run.stdout, /^replay: npm run sim -- --seed 1 --steps 400 --variant reply-before-ack --direct --hostile$/m);
});

test("bad arguments print the usage and exit 2", () => {
  for (const args of [["--seed", "x"], ["--bogus"], ["--variant", "nope"], ["--msgids", "sometimes"]]) {
    const run = sim(...args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, /usage: npm run sim/);
  }
});
