/**
 * The simulation in the default test suite: a sweep of seeds against the real shard state
 * machine must pass, a run must be a pure function of its seed, and every deliberately broken
 * variant must be caught within a bounded number of seeds (a checker that cannot fail proves
 * nothing). Bounded to well under a minute on two cores.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { createPlacement } from "@antler/slots";
import { runSimulation, type SimulationOptions } from "./simulation.ts";
import { variants, type VariantName } from "./variants.ts";

// The same placement as `npm run sim`, so the replay command printed on failure reproduces it.
let directorySlot: SimulationOptions["directorySlot"];
before(async () => {
  const placement = await createPlacement();
  directorySlot = (parent, name) => placement.directorySlot(parent, name);
});

test("sweep: 150 seeds, mounts through gateways to the real state machine under faults, pass every checker", () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 150; seed++) {
    const result = runSimulation({ seed, steps: 500, directorySlot });
    if (result.failure !== null) failures.push(`seed ${seed}: ${result.failure}\n  replay: npm run sim -- --seed ${seed} --steps 500`);
  }
  assert.deepEqual(failures, []);
});

test("sweep: 100 seeds, clients straight to the shard (more load on the leader logic), pass every checker", () => {
  const failures: string[] = [];
  for (let seed = 1_001; seed <= 1_100; seed++) {
    const result = runSimulation({ seed, steps: 500, path: "direct", directorySlot });
    if (result.failure !== null) failures.push(`seed ${seed}: ${result.failure}\n  replay: npm run sim -- --seed ${seed} --steps 500 --direct`);
  }
  assert.deepEqual(failures, []);
});

test("sweep: 30 seeds with the reference model as the state machine (the harness checks itself)", () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 30; seed++) {
    const result = runSimulation({ seed, steps: 500, stateMachine: "model", directorySlot });
    if (result.failure !== null) failures.push(`seed ${seed}: ${result.failure}\n  replay: npm run sim -- --seed ${seed} --steps 500 --model`);
  }
  assert.deepEqual(failures, []);
});

// Regression (found by this simulation): the shard request id was `${sessionId}:${msgid}:${counter}`
// with a counter that restarts on every connection, and mfsmount reuses one msgid per worker
// thread, so after a reconnect a new request could carry the id of an earlier one and the shard
// answered it with the earlier request's remembered result. Connections now get a unique
// request-id prefix.
test(
  "regression: after a reconnect, a request must not reuse an earlier request's id (mfsmount msgids)",
  () => {
    const result = runSimulation({ seed: 4, steps: 500, msgids: "per-thread", directorySlot });
    assert.equal(result.failure, null);
  },
);

test("a run is a pure function of its seed", () => {
  const a = runSimulation({ seed: 77, steps: 300, trailLines: 1_000, directorySlot });
  const b = runSimulation({ seed: 77, steps: 300, trailLines: 1_000, directorySlot });
  assert.deepEqual(a, b);
  const c = runSimulation({ seed: 78, steps: 300, trailLines: 1_000, directorySlot });
  assert.notDeepEqual(a.trail, c.trail);
});

/**
 * How many seeds each broken variant may survive, and the workload size per seed. The variants
 * break the shard leader, so they run with clients straight to the shard (the most load on it).
 */
const bounds: Record<VariantName, { readonly seeds: number; readonly steps: number; readonly caughtBy: RegExp }> = {
  "reply-before-ack": { seeds: 20, steps: 400, caughtBy: /not durable|real-time order|status|log replay/ },
  unfenced: { seeds: 60, steps: 1_000, caughtBy: /fencing|log replay failed|two leaders/ },
  "no-read-barrier": { seeds: 100, steps: 1_000, caughtBy: /real-time order|read .* at seq/ },
};

for (const name of Object.keys(variants) as VariantName[]) {
  test(`the checkers catch the broken variant "${name}" within ${bounds[name].seeds} seeds`, () => {
    const { seeds, steps, caughtBy } = bounds[name];
    for (let seed = 1; seed <= seeds; seed++) {
      const result = runSimulation({ seed, steps, variant: variants[name], path: "direct", directorySlot });
      if (result.failure !== null) {
        assert.match(result.failure, caughtBy, `seed ${seed} failed for another reason (replay: npm run sim -- --seed ${seed} --steps ${steps} --variant ${name} --direct)`);
        return;
      }
    }
    assert.fail(`variant ${name} survived ${seeds} seeds: the checkers do not catch it`);
  });
}
