/** The logger writes one parseable JSON object per line and filters by level. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, parseLogLevel } from "./logger.ts";

function capture(level?: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  const logger = createLogger("svc", { level: level ?? "info", write: (l) => lines.push(l), nowMs: () => 0 });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("writes one JSON line per event with service, level, message and fields", () => {
  const { logger, lines, records } = capture();
  logger.info("started", { port: 9421, big: 2n ** 64n, data: new Uint8Array(3) });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes("\n"));
  assert.deepEqual(records()[0], {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    service: "svc",
    msg: "started",
    port: 9421,
    big: "18446744073709551616",
    data: { bytes: 3 },
  });
});

test("drops events below the level", () => {
  const { logger, records } = capture("warn");
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  assert.deepEqual(
    records().map((r) => r.msg),
    ["w", "e"],
  );
});

test("errors keep name, message and cause; child loggers add their fields", () => {
  const { logger, records } = capture();
  logger.child({ shard: 3 }).error("append failed", { err: new TypeError("boom", { cause: "disk" }) });
  const record = records()[0]!;
  assert.equal(record.shard, 3);
  assert.deepEqual(record.err, { name: "TypeError", message: "boom", cause: "disk" });
});

test("a field with a cycle does not throw", () => {
  const { logger, records } = capture();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  logger.info("x", { cyclic });
  assert.equal(records()[0]!.msg, "x");
  assert.ok(typeof records()[0]!.logError === "string");
});

test("parseLogLevel accepts known levels only", () => {
  assert.equal(parseLogLevel("DEBUG"), "debug");
  assert.equal(parseLogLevel("verbose"), undefined);
  assert.equal(parseLogLevel(undefined), undefined);
});
