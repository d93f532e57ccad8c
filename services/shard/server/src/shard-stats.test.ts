/** The request-rate ring: averages over the full seconds of the window, forgets what is older. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RequestRate } from "./shard-stats.ts";

test("the rate averages the full seconds of the window and leaves out the current one", () => {
  const rate = new RequestRate(10_000);
  const t0 = 1_000_000_000;
  for (let s = 0; s < 10; s++) rate.record(t0 + s * 1000 + 10, 50);
  // The current second (t0 + 10 s) is busy but not counted yet.
  rate.record(t0 + 10_000 + 5, 1_000);
  assert.equal(rate.perSecond(t0 + 10_500), 50);
  assert.equal(rate.perSecond(t0 + 11_500), (9 * 50 + 1_000) / 10);
});

test("seconds older than the window are forgotten, even after a quiet spell longer than the ring", () => {
  const rate = new RequestRate(5_000);
  const t0 = 2_000_000_000;
  rate.record(t0, 100);
  assert.equal(rate.perSecond(t0 + 1_000), 20);
  assert.equal(rate.perSecond(t0 + 6_000), 0);
  // The slot of t0 is reused 6 s later (ring of 6): the old count must not leak in.
  rate.record(t0 + 6_000, 3);
  assert.equal(rate.perSecond(t0 + 7_000), 3 / 5);
  assert.equal(rate.perSecond(t0 + 60_000), 0);
});
