/**
 * The per-hop breakdown from synthetic spans with known timings: hops of a write and of a read add
 * up to the gateway span, percentiles are exact nearest-rank values, traces that lack a span or
 * have another shape are counted with their reason (never filled in), clock error shows up as a
 * count of negative values, span files with torn lines are read without failing, and the tables
 * say what is missing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { SpanRecord } from "@antler/telemetry";
import { computeBreakdown, hops, percentileOf, statsOf } from "./breakdown.ts";
import { type BreakdownReport, breakdownNotes, formatBreakdown, formatWhereTable } from "./breakdown-report.ts";
import { parseSpanLine, readSpanFiles } from "./span-files.ts";

let nextId = 1;
const hex = (value: number, width: number) => value.toString(16).padStart(width, "0");

function span(traceId: string, parent: SpanRecord | null, name: string, service: string, startMicros: number, durationMicros: number): SpanRecord {
  return {
    traceId, spanId: hex(nextId++, 16), parentSpanId: parent?.spanId ?? null, name, kind: 0, service, process: null, pid: 1,
    startMicros, durationMicros, status: 0, attributes: {},
  };
}

interface TraceTimes {
  /** Offsets from the root's start and durations, µs. */
  request: [number, number];
  forward: [number, number];
  shard: [number, number];
  append?: [number, number];
  rootDuration: number;
}

/** One gateway call's spans: R → T → F → S (→ A), placed at `t0` with the given times. */
function trace(command: string, t0: number, times: TraceTimes, omit: readonly string[] = []): SpanRecord[] {
  const traceId = hex(nextId++, 32);
  const root = span(traceId, null, command, "antler-gateway", t0, times.rootDuration);
  const request = span(traceId, root, "request antler.meta", "antler-gateway", t0 + times.request[0], times.request[1]);
  const forward = span(traceId, request, "router forward", "antler-router", t0 + times.forward[0], times.forward[1]);
  const shard = span(traceId, forward, "shard request", "antler-shard", t0 + times.shard[0], times.shard[1]);
  const spans = [root, request, forward, shard];
  if (times.append !== undefined) spans.push(span(traceId, shard, "shard log append", "antler-shard", t0 + times.append[0], times.append[1]));
  return spans.filter((candidate) => !omit.includes(candidate.name));
}

// A write: R 0–2000; T 100–1900; F 300–380; S 500–2100 (closes late, after the reply left, as
// the shard's span does); A 600–1300. Hops: gateway 200, gateway→router 200, router 80,
// router→shard 120, shard 100, log append 700, reply 1900 − 1300 = 600. Sum 2000.
const write: TraceTimes = { rootDuration: 2000, request: [100, 1800], forward: [300, 80], shard: [500, 1600], append: [600, 700] };
// A read: R 0–1000; T 50–950; F 200–260; S 400–1100 (also late). Hops: 100, 150, 60, 140, then
// shard + reply 950 − 400 = 550 (S's end is not used). Sum 1000.
const read: TraceTimes = { rootDuration: 1000, request: [50, 900], forward: [200, 60], shard: [400, 700] };

test("the hops of a write and of a read add up to the gateway span", () => {
  const breakdown = computeBreakdown([...trace("mkdir", 1e15, write), ...trace("getattr", 1e15 + 5000, read)]);
  assert.equal(breakdown.spans, 9);
  assert.equal(breakdown.otherTraces, 0);
  const mkdir = breakdown.commands.find((command) => command.command === "mkdir")!;
  const getattr = breakdown.commands.find((command) => command.command === "getattr")!;
  const p50s = (command: typeof mkdir) => hops.map((hop) => command.hops[hop]?.p50 ?? null);
  assert.deepEqual(hops, ["gateway", "gateway→router", "router", "router→shard", "shard", "log append", "reply", "shard + reply"]);
  assert.deepEqual(p50s(mkdir), [200, 200, 80, 120, 100, 700, 600, null]);
  assert.deepEqual(p50s(getattr), [100, 150, 60, 140, null, null, null, 550]);
  assert.equal(mkdir.total?.p50, 2000);
  const sum = (command: typeof mkdir) => hops.reduce((total, hop) => total + (command.hops[hop]?.p50 ?? 0), 0);
  assert.equal(sum(mkdir), 2000);
  assert.equal(sum(getattr), 1000);
  assert.deepEqual(breakdown.groups.map((group) => [group.name, group.complete, group.total?.mean]), [
    ["reads", 1, 1000],
    ["writes", 1, 2000],
  ]);
  assert.deepEqual([mkdir.roots, mkdir.complete, mkdir.withAppend, getattr.withAppend], [1, 1, 1, 0]);
  for (const command of [mkdir, getattr]) for (const hop of hops) assert.equal(command.hops[hop]?.negative ?? 0, 0);
});

test("percentiles are nearest-rank over the traces; means are exact", () => {
  const spans: SpanRecord[] = [];
  // Router durations 1..100 µs across 100 reads; everything else the same.
  for (let index = 1; index <= 100; index += 1) {
    spans.push(...trace("lookup", index * 10_000, { ...read, forward: [200, index], shard: [400 + index, 700] }));
  }
  const lookup = computeBreakdown(spans).commands[0]!;
  assert.equal(lookup.complete, 100);
  assert.deepEqual([lookup.hops.router!.p50, lookup.hops.router!.p99, lookup.hops.router!.mean], [50, 99, 50.5]);
  assert.equal(percentileOf([5], 99), 5);
  assert.ok(Number.isNaN(percentileOf([], 50)));
  assert.equal(statsOf([]), null);
  assert.deepEqual(statsOf([3, -1, 2]), { count: 3, p50: 2, p99: 3, mean: 4 / 3, negative: 1 });
});

test("traces without every span, or of another shape, are counted with their reason and not used", () => {
  const spans = [
    ...trace("create", 0, write),
    ...trace("create", 10_000, write, ["router forward"]),
    ...trace("create", 20_000, write, ["shard request", "shard log append"]),
    ...trace("create", 30_000, write, ["request antler.meta"]),
  ];
  // A retried request: a second NATS request span under the same root.
  const retried = trace("create", 40_000, write);
  spans.push(...retried, span(retried[0]!.traceId, retried[0]!, "request antler.meta", "antler-gateway", 40_000 + 1000, 500));
  // Fan-out to every shard (statfs): the router's span has another name and several shards below.
  const fanOut = trace("statfs", 50_000, read, ["router forward", "shard request"]);
  spans.push(...fanOut, span(fanOut[0]!.traceId, fanOut[1]!, "router fan-out", "antler-router", 50_100, 300));
  // A trace that does not start at the gateway (a shard's own work).
  spans.push(span(hex(nextId++, 32), null, "shard snapshot", "antler-shard", 60_000, 10));

  const breakdown = computeBreakdown(spans);
  assert.equal(breakdown.otherTraces, 1);
  const create = breakdown.commands.find((command) => command.command === "create")!;
  assert.deepEqual([create.roots, create.complete], [5, 1]);
  assert.deepEqual(create.incomplete, { "no router span": 1, "no shard span": 1, "no gateway NATS request span": 1, "request retried": 1 });
  assert.deepEqual(create.hops["log append"], { count: 1, p50: 700, p99: 700, mean: 700, negative: 0 });
  const statfs = breakdown.commands.find((command) => command.command === "statfs")!;
  assert.deepEqual([statfs.complete, statfs.incomplete], [0, { "fan-out to all shards": 1 }]);
  assert.equal(statfs.total, null);
  assert.ok(hops.every((hop) => statfs.hops[hop] === null), "no numbers for a command without a complete trace");
});

test("span ids repeat across traces without mixing them up", () => {
  const first = trace("rmdir", 0, write);
  const second = trace("rmdir", 10_000, { ...write, append: [600, 900], request: [100, 2000], rootDuration: 2200 }).map((record, index) => ({
    ...record,
    // Same span ids as the first trace, but another trace id.
    spanId: first[index]!.spanId,
    parentSpanId: first[index]!.parentSpanId,
  }));
  const rmdir = computeBreakdown([...first, ...second]).commands[0]!;
  assert.equal(rmdir.complete, 2);
  assert.deepEqual(rmdir.hops["log append"], { count: 2, p50: 700, p99: 900, mean: 800, negative: 0 });
});

test("clock error between processes is counted as negative values, not clamped", () => {
  // The router's clock runs 400 µs behind: its span seems to start before the request did.
  const skewed = trace("unlink", 0, { ...write, forward: [-300, 80] });
  const unlink = computeBreakdown(skewed).commands[0]!;
  assert.equal(unlink.hops["gateway→router"]!.p50, -400);
  assert.equal(unlink.hops["gateway→router"]!.negative, 1);
  const report: BreakdownReport = { profile: "minimal", shape: "test", spanFiles: ["a"], malformedLines: 0, breakdown: computeBreakdown(skewed), client: {}, clientGroups: {} };
  assert.ok(breakdownNotes(report).some((note) => note.includes("gateway→router below zero in 1 of 1")));
});

function reportOf(spans: SpanRecord[], client: BreakdownReport["client"], clientGroups: BreakdownReport["clientGroups"] = {}): BreakdownReport {
  return { profile: "ha", shape: "1 session × 1 in flight", spanFiles: ["antler-gateway-1.jsonl"], malformedLines: 0, breakdown: computeBreakdown(spans), client, clientGroups };
}

test("where the time goes: hop p50s, and means as shares of the client-measured mean", () => {
  const client = { mkdir: { count: 1, p50: 2500, p99: 2500, mean: 2500 }, getattr: { count: 1, p50: 1200, p99: 1200, mean: 1200 } };
  const report = reportOf([...trace("mkdir", 0, write), ...trace("getattr", 10_000, read)], client, {
    reads: client.getattr,
    writes: client.mkdir,
  });
  const table = formatWhereTable(report, "text");
  // Reads: 200 µs of the client's 1200 are outside the spans (TCP, framing); writes: 500 of 2500.
  assert.match(table, /client ↔ gateway \(outside the spans\)\s+–\s+200 \(17 %\)\s+–\s+500 \(20 %\)/);
  assert.match(table, /\nlog append\s+–\s+–\s+700\s+700 \(28 %\)/);
  assert.match(table, /\nshard \+ reply\s+550\s+550 \(46 %\)\s+–\s+–/);
  assert.match(table, /total at the client\s+1200\s+1200\s+2500\s+2500/);
  assert.doesNotMatch(table, /readdir/, "groups without traces are left out");
  const text = formatBreakdown(report, "text");
  assert.match(text, /mkdir\s+1\s+2500 \/ 2500\s+2000 \/ 2000\s+200 \/ 200/);
});

test("missing data is said, not invented", () => {
  const empty = reportOf([], { mkdir: { count: 3, p50: 1, p99: 1, mean: 1 } });
  empty.spanFiles = [];
  assert.deepEqual(breakdownNotes(empty), ["no spans were written (0 span files): the services did not trace; no breakdown"]);
  assert.doesNotMatch(formatBreakdown(empty, "text"), /log append/);

  // Writes whose entry rode in another request's batch have no append span of their own.
  const batched = reportOf([...trace("create", 0, write), ...trace("create", 10_000, { ...write, append: undefined })], {
    create: { count: 2, p50: 1, p99: 1, mean: 1 },
    lookup: { count: 2, p50: 1, p99: 1, mean: 1 },
  });
  const notes = breakdownNotes(batched);
  assert.ok(notes.includes("create: 1 of 2 traces had no log append span of their own (batched with another request); their wait for the log counts in shard + reply"), notes.join("\n"));
  assert.ok(notes.includes("no gateway spans for lookup"), notes.join("\n"));
});

test("span files: records are read back, torn or foreign lines are counted and skipped", async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "antler-bench-spans-"));
  try {
    const spans = trace("lookup", 0, read);
    await fsp.writeFile(path.join(dir, "antler-gateway-1.jsonl"), `${spans.slice(0, 2).map((record) => JSON.stringify(record)).join("\n")}\n`);
    // The last line torn (a process killed mid-write), one line of something else, one blank.
    const torn = JSON.stringify(spans[3]).slice(0, 40);
    await fsp.writeFile(path.join(dir, "antler-shard-2.jsonl"), `${JSON.stringify(spans[2])}\n${JSON.stringify(spans[3])}\n{"level":"info"}\n\n${torn}`);
    await fsp.writeFile(path.join(dir, "notes.txt"), "not a span file");
    const files = await readSpanFiles(dir);
    assert.deepEqual(files.files, ["antler-gateway-1.jsonl", "antler-shard-2.jsonl"]);
    assert.equal(files.records.length, 4);
    assert.equal(files.malformedLines, 2);
    assert.equal(computeBreakdown(files.records).commands[0]!.complete, 1);
    assert.deepEqual(await readSpanFiles(path.join(dir, "absent")), { files: [], records: [], malformedLines: 0 });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
  assert.equal(parseSpanLine(JSON.stringify({ ...trace("x", 0, read)[0], startMicros: "soon" })), null);
  assert.equal(parseSpanLine("null"), null);
});
