import { test } from "node:test";
import assert from "node:assert/strict";
import { EventLoop } from "./loop.ts";
import { BytePipe, Network } from "./network.ts";
import { Prng } from "./prng.ts";

function setup(faults = { delayMinMs: 1, delayMaxMs: 50, lossProbability: 0, duplicateProbability: 0 }) {
  const loop = new EventLoop();
  const net = new Network<number>(loop, Prng.fromSeed(9), faults);
  const got: Record<string, [string, number][]> = { a: [], b: [], c: [] };
  for (const n of ["a", "b", "c"]) net.register(n, (from, m) => got[n]!.push([from, m]));
  return { loop, net, got };
}

test("network: messages arrive, reordered by random delays", () => {
  const { loop, net, got } = setup();
  for (let i = 0; i < 100; i++) net.send("a", "b", i);
  loop.run();
  const values = got.b!.map(([, m]) => m);
  assert.equal(values.length, 100);
  assert.deepEqual([...values].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(values, Array.from({ length: 100 }, (_, i) => i), "some reordering happened");
  assert.ok(got.b!.every(([from]) => from === "a"));
});

test("network: loss and duplication follow their probabilities", () => {
  const { loop, net, got } = setup({ delayMinMs: 1, delayMaxMs: 1, lossProbability: 0.2, duplicateProbability: 0.1 });
  for (let i = 0; i < 2_000; i++) net.send("a", "b", i);
  loop.run();
  assert.ok(net.stats.lost > 300 && net.stats.lost < 500, `lost ${net.stats.lost}`);
  assert.ok(net.stats.duplicated > 100 && net.stats.duplicated < 230, `duplicated ${net.stats.duplicated}`);
  assert.equal(got.b!.length, 2_000 - net.stats.lost + net.stats.duplicated);
});

test("network: partitions and down nodes block delivery, also of messages already in flight", () => {
  const { loop, net, got } = setup({ delayMinMs: 10, delayMaxMs: 10, lossProbability: 0, duplicateProbability: 0 });
  net.send("a", "b", 1);
  net.send("a", "c", 2);
  loop.run({ deadlineMs: 5 });
  net.partition(["a"], ["b"]);
  loop.run();
  assert.deepEqual(got.b, []);
  assert.deepEqual(got.c, [["a", 2]]);
  assert.equal(net.connected("b", "a"), false, "partitions cut both directions");
  net.heal();
  net.setDown("c", true);
  net.send("a", "b", 3);
  net.send("a", "c", 4);
  net.send("c", "a", 5);
  loop.run();
  assert.deepEqual(got.b, [["a", 3]]);
  assert.deepEqual(got.c, [["a", 2]]);
  assert.deepEqual(got.a, []);
});

test("byte pipe: bytes arrive in order, split at random points, nothing after close", () => {
  const loop = new EventLoop();
  const received: number[] = [];
  let chunks = 0;
  const pipe = new BytePipe(loop, Prng.fromSeed(4), "tcp", (b) => {
    chunks++;
    received.push(...b);
  }, { minMs: 0, maxMs: 20 });
  const sent: number[] = [];
  for (let i = 0; i < 50; i++) {
    const chunk = Uint8Array.from({ length: 20 }, (_, j) => (i * 20 + j) & 255);
    sent.push(...chunk);
    pipe.write(chunk);
  }
  loop.run();
  assert.deepEqual(received, sent);
  assert.ok(chunks > 50, "some writes were split");
  pipe.write(new Uint8Array([1, 2, 3]));
  pipe.close();
  loop.run();
  assert.equal(received.length, sent.length, "in-flight bytes are lost on close");
});
