/**
 * The quorum journal under the deterministic simulation (quorum-sim.ts): the real
 * QuorumLogStream and follower against three in-memory replicas, with writer takeovers, crashes,
 * lost answers, delays, server crashes, pauses and disk loss, judged by quorum-sim-checker.ts.
 *
 * - A default sweep of seeds (ANTLER_QUORUM_SIM_SEEDS=N for a long one, ANTLER_QUORUM_SIM_FIRST
 *   for where it starts); every failure prints its seed and the command that replays it.
 * - ANTLER_QUORUM_SIM_SEED=<n> runs that one seed alone, with a trace (ANTLER_QUORUM_SIM_TRACE=1)
 *   and optionally ANTLER_QUORUM_SIM_VARIANT=<variant>.
 * - The checkers bite: each deliberately broken variant is caught within a bounded number of seeds.
 * - A seed replays exactly (same digest twice).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { QuorumBrokenVariant } from "./quorum-log-stream.ts";
import { runQuorumSim, type QuorumSimResult } from "./quorum-sim.ts";

const env = process.env;
const replay = (seed: number, variant?: string): string =>
  `ANTLER_QUORUM_SIM_SEED=${seed}${variant !== undefined ? ` ANTLER_QUORUM_SIM_VARIANT=${variant}` : ""} ANTLER_QUORUM_SIM_TRACE=1 ` +
  "node_modules/.bin/node --test libs/io-nats/src/quorum-sim.test.ts";

function describeFailure(result: QuorumSimResult, variant?: string): string {
  return `seed ${result.seed} failed (replay: ${replay(result.seed, variant)}):\n  ${result.violations.join("\n  ")}`;
}

const single = env["ANTLER_QUORUM_SIM_SEED"];

if (single !== undefined) {
  test(`quorum simulation, seed ${single}`, async (t) => {
    const variant = env["ANTLER_QUORUM_SIM_VARIANT"] as QuorumBrokenVariant | undefined;
    const observedOnly = env["ANTLER_QUORUM_SIM_OBSERVED_ONLY"] !== undefined;
    const lines: string[] = [];
    const result = await runQuorumSim({
      seed: Number(single),
      ...(variant !== undefined ? { variant } : {}),
      observedOnly,
      ...(env["ANTLER_QUORUM_SIM_TRACE"] ? { trace: (line: string) => lines.push(line) } : {}),
    });
    if (lines.length > 0) t.diagnostic(lines.join("\n"));
    t.diagnostic(`${result.acknowledged} acknowledged, ${result.writers} writers, ${result.reads} reads, ${result.serverFaults} server faults, ${result.events} events, ${result.simulatedMs} ms simulated`);
    assert.deepEqual(result.violations, [], describeFailure(result, variant));
  });
} else {
  const seeds = Number(env["ANTLER_QUORUM_SIM_SEEDS"] ?? 200);
  const first = Number(env["ANTLER_QUORUM_SIM_FIRST"] ?? 1);

  test(`quorum simulation: ${seeds} seeds from ${first} keep every safety and liveness property`, { timeout: Infinity }, async (t) => {
    const started = performance.now();
    const failures: string[] = [];
    let acknowledged = 0;
    let events = 0;
    for (let seed = first; seed < first + seeds; seed++) {
      const result = await runQuorumSim({ seed });
      acknowledged += result.acknowledged;
      events += result.events;
      if (result.violations.length > 0) {
        failures.push(describeFailure(result));
        t.diagnostic(failures[failures.length - 1]!);
      }
    }
    t.diagnostic(`${seeds - failures.length}/${seeds} seeds passed in ${((performance.now() - started) / 1000).toFixed(1)} s; ${acknowledged} acknowledged appends, ${events} events`);
    assert.equal(failures.length, 0, failures.slice(0, 5).join("\n"));
  });

  test("a seed replays exactly", async () => {
    const a = await runQuorumSim({ seed: 7 });
    const b = await runQuorumSim({ seed: 7 });
    assert.equal(a.digest, b.digest);
    assert.ok(a.acknowledged > 20, `seed 7 acknowledged only ${a.acknowledged} appends`);
  });

  /**
   * Bugs of the real journal found by this simulation (each seed failed before its fix in
   * quorum-log-stream.ts):
   * - 88, 175: every writer wedged for good after healing — one replica held a leftover past the
   *   agreed end, another was behind the truncation point, and neither was ever recreated
   *   (#holdsAgreedLog);
   * - 28, 68: a repair recreated a replica on a judgement seconds old, deleting records a newer
   *   writer had meanwhile agreed on it (#recreateIfUnchanged);
   * - 201: two different records at the end and the third replica divergent: no survey ever
   *   succeeded, the journal stayed unavailable with all servers up (#agree replaces the third);
   * - 5006: an acknowledgement counted although its replica restarted without its disk before the
   *   majority was reached: "stored" for a record on one replica, dropped by the next recovery
   *   (Ack in quorum-log-stream.ts);
   * - 3787: a replacement's stream delete, sent by a writer that then stalled, reached the server
   *   seconds later and deleted the replica's new stream, refilled meanwhile with one of only two
   *   copies of records a newer writer had acknowledged (JetStream's delete has no precondition).
   *   Streams now have derived names and a delete names the one judged, so a late delete finds
   *   nothing (quorum-replica.ts). The seed no longer reaches that moment on the final code; seed
   *   2871 does, see the test of the variant "fixed-name-delete" below;
   * - 4350: a server lost its disk and the two others ended on different records: the journal
   *   stayed unavailable after healing (#agree now gives the missing replica a stream).
   */
  for (const seed of [88, 175, 28, 68, 201, 5006, 3787, 4350]) {
    test(`regression seed ${seed} passes`, async () => {
      const result = await runQuorumSim({ seed });
      assert.deepEqual(result.violations, [], describeFailure(result));
    });
  }

  /**
   * The late delete of seed 3787 is rare (1 in 5,000 seeds of a sweep of the variant reaches it),
   * so its proof is one seed that does: deleting by a fixed name loses acknowledged records there,
   * the derived names do not.
   */
  test("seed 2871: a late replacement delete loses records with a fixed stream name, not with derived names", async () => {
    const broken = await runQuorumSim({ seed: 2871, variant: "fixed-name-delete" });
    assert.ok(broken.violations.some((v) => v.includes("is on 1 replica(s) after: deleted")), `the variant is caught at seed 2871: ${broken.violations.join("; ")}`);
    const fixed = await runQuorumSim({ seed: 2871 });
    assert.deepEqual(fixed.violations, [], describeFailure(fixed));
  });

  /** Seeds within which each broken variant must be caught. */
  const variantSeedsMax = 40;
  for (const variant of ["ack-one", "highest-end", "copy-blind"] as const) {
    for (const observedOnly of [false, true]) {
      const judged = observedOnly ? "by what processes were told alone" : "by the invariants";
      test(`the broken variant "${variant}" is caught ${judged} within ${variantSeedsMax} seeds`, async (t) => {
        for (let seed = 1; seed <= variantSeedsMax; seed++) {
          const result = await runQuorumSim({ seed, variant, observedOnly });
          if (result.violations.length > 0) {
            t.diagnostic(`caught at seed ${seed}: ${result.violations[0]}`);
            return;
          }
        }
        assert.fail(`variant ${variant} survived ${variantSeedsMax} seeds`);
      });
    }
  }
}
