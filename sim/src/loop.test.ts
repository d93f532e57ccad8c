import { test } from "node:test";
import assert from "node:assert/strict";
import { EventLoop } from "./loop.ts";
import { Prng } from "./prng.ts";

test("events run in time order, ties in scheduling order", () => {
  const loop = new EventLoop();
  const seen: string[] = [];
  loop.after(10, "c", () => seen.push(`c@${loop.nowMs}`));
  loop.after(5, "a", () => seen.push(`a@${loop.nowMs}`));
  loop.after(5, "b", () => seen.push(`b@${loop.nowMs}`));
  loop.after(0, "z", () => {
    seen.push(`z@${loop.nowMs}`);
    loop.after(5, "d", () => seen.push(`d@${loop.nowMs}`)); // same time as a and b, scheduled later
  });
  loop.run();
  assert.deepEqual(seen, ["z@0", "a@5", "b@5", "d@5", "c@10"]);
  assert.equal(loop.executed, 5);
  assert.equal(loop.pending, 0);
});

test("cancelled events never run and do not count", () => {
  const loop = new EventLoop();
  const seen: string[] = [];
  const t = loop.after(1, "x", () => seen.push("x"));
  loop.after(2, "y", () => seen.push("y"));
  t.cancel();
  loop.run();
  assert.deepEqual(seen, ["y"]);
  assert.equal(loop.executed, 1);
});

test("run stops at a deadline (advancing time to it) or when a condition holds", () => {
  const loop = new EventLoop();
  let n = 0;
  const tick = (): void => {
    n++;
    loop.after(10, "tick", tick);
  };
  loop.after(0, "tick", tick);
  loop.run({ deadlineMs: 95 });
  assert.equal(n, 10); // 0,10,...,90
  assert.equal(loop.nowMs, 95);
  loop.run({ until: () => n >= 15 });
  assert.equal(n, 15);
  loop.run({ maxEvents: 3 });
  assert.equal(n, 18);
  assert.throws(() => loop.after(-1, "bad", () => {}));
  assert.throws(() => loop.at(0, "past", () => {}));
});

test("a large random schedule pops in exact (time, seq) order", () => {
  const loop = new EventLoop();
  const prng = Prng.fromSeed(3);
  const order: [number, number][] = [];
  for (let i = 0; i < 5_000; i++) {
    const at = prng.int(0, 200);
    loop.at(at, "e", () => order.push([at, i]));
  }
  loop.run();
  for (let i = 1; i < order.length; i++) {
    const [t0, s0] = order[i - 1]!;
    const [t1, s1] = order[i]!;
    assert.ok(t0 < t1 || (t0 === t1 && s0 < s1));
  }
});
