// The fault test's arithmetic (no root needed): stalls around a kill, percentiles, the table.

import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSummary, longestStall, percentile, summarize, type RoundResult } from "./fault-stats.ts";

test("the stall is the longest gap ending after the kill, the gap holding the kill counted whole", () => {
  const acks = [0, 1, 2, 3, 900, 901, 902, 1500, 1501];
  assert.equal(longestStall(acks, 3.5, 2000), 897, "the gap 3 → 900 holds the kill");
  assert.equal(longestStall(acks, 950, 2000), 598, "a later hiccup (902 → 1500) counts");
  assert.equal(longestStall(acks, 950, 1400), 498, "acknowledgements after the round end do not count: 902 → end");
  assert.equal(longestStall(acks, 0.5, 1), 1, "a round that ends early sees only its own gaps");
  assert.equal(longestStall(acks, 1600, 5000), 3499, "nothing after the kill: up to the round end");
  assert.equal(longestStall([], 10, 110), 100, "nothing at all: from the kill to the round end");
});

test("percentiles by nearest rank", () => {
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.equal(percentile([7], 0), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test("the summary groups rounds per system and fault kind, in order of appearance", () => {
  const round = (system: string, kind: string, stallMs: number, lost: string[] = [], failed: string[] = []): RoundResult =>
    ({ system, kind, target: "x", stallMs, lost, failedCreates: failed });
  const summaries = summarize([
    round("Antler", "shard leader", 300), round("Antler", "shard leader", 700), round("Antler", "shard leader", 500),
    round("Antler", "gateway", 200, [], ["f-1"]),
    round("mfsmaster", "mfsmaster", 4000, ["a", "b"]), round("mfsmaster", "mfsmaster", 3000),
  ]);
  assert.deepEqual(summaries.map((line) => [line.system, line.kind, line.rounds, line.stallP50Ms, line.stallMaxMs, line.lost, line.roundsWithLoss, line.failedCreates]), [
    ["Antler", "shard leader", 3, 500, 700, 0, 0, 0],
    ["Antler", "gateway", 1, 200, 200, 0, 0, 1],
    ["mfsmaster", "mfsmaster", 2, 3000, 4000, 2, 1, 0],
  ]);
  const table = formatSummary(summaries).split("\n");
  assert.equal(table.length, 5);
  assert.match(table[0]!, /^system +fault +rounds +stall p50 ms +stall max ms/);
  assert.match(table[4]!, /^mfsmaster +mfsmaster +2 +3000 +4000 +2 \(in 1 of 2 rounds\) +0$/);
});
