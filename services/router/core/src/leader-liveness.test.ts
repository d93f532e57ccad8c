import assert from "node:assert/strict";
import { test } from "node:test";
import { LeaderLiveness } from "./leader-liveness.ts";

const held = (revision: number, holder: string) => ({ revision, record: { holder, epoch: 1, renewals: revision } });

test("a shard never observed is not suspect (the router forwards as before)", () => {
  assert.equal(new LeaderLiveness({ suspectAfterMs: 200, takeoverGraceMs: 300 }).suspect(0, 1000), false);
});

test("a renewing leader is not suspect; one that stops renewing is, after suspectAfterMs", () => {
  const liveness = new LeaderLiveness({ suspectAfterMs: 200, takeoverGraceMs: 300 });
  liveness.observe(0, held(5, "a"), 0);
  assert.equal(liveness.suspect(0, 150), false, "the initial value is not taken as a holder change");
  liveness.observe(0, held(6, "a"), 100);
  liveness.observe(0, held(7, "a"), 200);
  assert.equal(liveness.suspect(0, 400), false);
  assert.equal(liveness.suspect(0, 401), true);
  liveness.observe(0, held(6, "a"), 450);
  assert.equal(liveness.suspect(0, 451), true, "an older revision is not a renewal");
  liveness.observe(0, held(8, "a"), 460);
  assert.equal(liveness.suspect(0, 461), false);
});

test("a new holder stays suspect for the takeover grace; a released or missing lease is suspect", () => {
  const liveness = new LeaderLiveness({ suspectAfterMs: 200, takeoverGraceMs: 300 });
  liveness.observe(1, held(1, "a"), 0);
  liveness.observe(1, held(2, "b"), 1000);
  assert.equal(liveness.suspect(1, 1100), true);
  liveness.observe(1, held(3, "b"), 1100);
  liveness.observe(1, held(4, "b"), 1200);
  assert.equal(liveness.suspect(1, 1299), true);
  assert.equal(liveness.suspect(1, 1300), false);
  liveness.observe(1, held(5, ""), 1350);
  assert.equal(liveness.suspect(1, 1351), true);
  liveness.observe(1, { revision: 6, record: null }, 1400);
  assert.equal(liveness.suspect(1, 1401), true);
  assert.equal(liveness.suspect(2, 1401), false, "shards are independent");
});
