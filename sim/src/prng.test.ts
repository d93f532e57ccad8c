import { test } from "node:test";
import assert from "node:assert/strict";
import { Prng, drawSeed, seedMax } from "./prng.ts";

function take(prng: Prng, n: number): number[] {
  return Array.from({ length: n }, () => prng.nextU32());
}

test("the same seed gives the same sequence, different seeds differ", () => {
  assert.deepEqual(take(Prng.fromSeed(42), 100), take(Prng.fromSeed(42), 100));
  assert.notDeepEqual(take(Prng.fromSeed(42), 100), take(Prng.fromSeed(43), 100));
  // Seeds above 2^32 use the high word too.
  assert.notDeepEqual(take(Prng.fromSeed(7), 20), take(Prng.fromSeed(7 + 2 ** 32), 20));
});

test("the sequence is pinned: a change to the generator changes every recorded seed", () => {
  // If this fails, replay commands printed by older runs no longer reproduce their failures.
  assert.deepEqual(take(Prng.fromSeed(1), 4), [2342961283, 352167968, 3920899865, 3321281138]);
  assert.deepEqual(take(Prng.fromSeed(1).fork("workload"), 2), [3441269092, 143226609]);
});

test("a forked stream does not depend on how much the parent or a sibling consumed", () => {
  const a = Prng.fromSeed(99);
  const b = Prng.fromSeed(99);
  take(b, 1000);
  b.fork("faults").nextU32();
  assert.deepEqual(take(a.fork("workload"), 50), take(b.fork("workload"), 50));
  assert.notDeepEqual(take(a.fork("workload"), 50), take(a.fork("network"), 50));
  assert.notDeepEqual(take(Prng.fromSeed(1).fork("x"), 20), take(Prng.fromSeed(2).fork("x"), 20));
  // A fork of a fork is still a pure function of names.
  assert.deepEqual(take(a.fork("n").fork("m"), 10), take(b.fork("n").fork("m"), 10));
});

test("int() is within bounds and roughly uniform", () => {
  const prng = Prng.fromSeed(5);
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < 60_000; i++) {
    const x = prng.int(1, 6);
    assert.ok(x >= 1 && x <= 6);
    counts[x - 1]!++;
  }
  for (const c of counts) assert.ok(c > 9_000 && c < 11_000, `bucket ${c}`);
  assert.equal(prng.int(3, 3), 3);
  const full = prng.int(0, 2 ** 32 - 1);
  assert.ok(full >= 0 && full < 2 ** 32);
  assert.throws(() => prng.int(2, 1));
});

test("float, chance, pick, weighted and exponential behave", () => {
  const prng = Prng.fromSeed(11);
  let hits = 0;
  for (let i = 0; i < 10_000; i++) {
    const f = prng.float();
    assert.ok(f >= 0 && f < 1);
    if (prng.chance(0.25)) hits++;
  }
  assert.ok(hits > 2_200 && hits < 2_800, `chance(0.25) hit ${hits} of 10000`);
  assert.equal(prng.chance(0), false);
  assert.equal(prng.chance(1), true);
  assert.throws(() => prng.pick([]));
  const w = { a: 1, b: 0, c: 3 };
  const seen = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 4_000; i++) seen[prng.weighted(w)]++;
  assert.equal(seen.b, 0);
  assert.ok(seen.c > seen.a * 2);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) sum += prng.exponentialMs(20);
  assert.ok(Math.abs(sum / 10_000 - 20) < 2);
});

test("seeds are validated and drawn seeds are valid", () => {
  assert.throws(() => Prng.fromSeed(-1));
  assert.throws(() => Prng.fromSeed(1.5));
  assert.doesNotThrow(() => Prng.fromSeed(seedMax));
  const seed = drawSeed();
  assert.ok(Number.isSafeInteger(seed) && seed >= 0);
});
