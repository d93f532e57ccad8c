/**
 * Span files: with a span directory and no other exporter, tracing is on and every finished span
 * lands in <dir>/<service>-<pid>.jsonl as one JSON line that keeps its trace, its parent (also
 * across a header hop), its timing and its attributes. An unusable directory fails at start.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { extractTrace, injectTrace } from "./propagation.ts";
import { isTracing, SpanKind, withSpan } from "./span.ts";
import type { SpanRecord } from "./file-exporter.ts";
import { startTelemetry, TelemetryConfigError } from "./telemetry.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "antler-span-files-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

class Headers {
  readonly map = new Map<string, string>();
  get(key: string): string {
    return this.map.get(key) ?? "";
  }
  set(key: string, value: string): void {
    this.map.set(key, value);
  }
}

test("an unwritable span directory is a configuration error at start", () => {
  const file = path.join(dir, "not-a-directory");
  fs.writeFileSync(file, "");
  assert.throws(() => startTelemetry({ serviceName: "bad", spanDir: path.join(file, "spans") }), TelemetryConfigError);
  assert.equal(isTracing(), false, "a failed start leaves tracing off");
});

test("spans are written as JSON lines with trace, parent, timing and attributes", async () => {
  const spanDir = path.join(dir, "spans");
  const telemetry = startTelemetry({ serviceName: "antler-test", spanDir });
  assert.equal(isTracing(), true, "a span directory alone switches tracing on");
  const beforeMicros = Date.now() * 1000;
  const headers = new Headers();
  await withSpan("outer", { "antler.inode": 7 }, async () => {
    await withSpan("inner", {}, async () => {
      injectTrace(headers);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }, { kind: SpanKind.CLIENT });
  });
  withSpan("remote", {}, () => {}, { parent: extractTrace(headers), kind: SpanKind.SERVER });
  const afterMicros = Date.now() * 1000;
  await telemetry.shutdown();

  const file = path.join(spanDir, `antler-test-${process.pid}.jsonl`);
  const records = fs.readFileSync(file, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as SpanRecord);
  assert.deepEqual(records.map((record) => record.name).sort(), ["inner", "outer", "remote"]);
  const byName = new Map(records.map((record) => [record.name, record]));
  const outer = byName.get("outer")!;
  const inner = byName.get("inner")!;
  const remote = byName.get("remote")!;
  assert.equal(outer.parentSpanId, null);
  assert.equal(inner.parentSpanId, outer.spanId);
  assert.equal(remote.parentSpanId, inner.spanId, "the header hop keeps the parent");
  assert.equal(new Set(records.map((record) => record.traceId)).size, 1);
  assert.equal(inner.kind, SpanKind.CLIENT);
  assert.equal(outer.attributes["antler.inode"], 7);
  assert.equal(outer.service, "antler-test");
  assert.equal(outer.pid, process.pid);
  assert.ok(inner.durationMicros >= 15_000, `inner lasted about 20 ms, not ${inner.durationMicros} µs`);
  assert.ok(outer.durationMicros >= inner.durationMicros);
  assert.ok(outer.startMicros <= inner.startMicros && inner.startMicros + inner.durationMicros <= outer.startMicros + outer.durationMicros + 1);
  // Wall-clock µs since the epoch (a few ms of slack for the clock sources' rounding).
  assert.ok(outer.startMicros >= beforeMicros - 5_000 && outer.startMicros <= afterMicros, `start ${outer.startMicros} within the test`);
});
