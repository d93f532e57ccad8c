/**
 * Tracing with the in-memory exporter: spans nest, errors are recorded, and a span context
 * survives the trip through message headers (injectTrace → extractTrace) so the receiving side's
 * span joins the sender's trace. Also: with telemetry off nothing is injected.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SpanStatusCode } from "@opentelemetry/api";
import { extractTrace, injectTrace } from "./propagation.ts";
import { isTracing, withSpan } from "./span.ts";
import { parseExporterKind, startTelemetry, TelemetryConfigError, type Telemetry } from "./telemetry.ts";

class Headers {
  readonly map = new Map<string, string>();
  get(key: string): string {
    return this.map.get(key) ?? "";
  }
  set(key: string, value: string): void {
    this.map.set(key, value);
  }
}

test("with telemetry off, spans are no-ops and nothing is injected", () => {
  const headers = new Headers();
  const value = withSpan("off", {}, () => {
    injectTrace(headers);
    return 42;
  });
  assert.equal(value, 42);
  assert.equal(headers.map.size, 0);
});

describe("with the memory exporter", () => {
  let telemetry: Telemetry;
  before(() => {
    telemetry = startTelemetry({ serviceName: "test", exporter: "memory" });
  });
  after(async () => {
    await telemetry.shutdown();
  });

  test("a second start in the same process is refused", () => {
    assert.equal(isTracing(), true);
    assert.throws(() => startTelemetry({ serviceName: "again", exporter: "memory" }), TelemetryConfigError);
  });

  test("nested spans share a trace and the child points at the parent", async () => {
    telemetry.resetSpans();
    await withSpan("parent", { a: 1 }, async () => {
      await withSpan("child", {}, async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
      });
    });
    const spans = telemetry.finishedSpans();
    const parent = spans.find((s) => s.name === "parent")!;
    const child = spans.find((s) => s.name === "child")!;
    assert.equal(child.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(child.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(parent.attributes.a, 1);
  });

  test("a thrown error is recorded on the span and rethrown", async () => {
    telemetry.resetSpans();
    await assert.rejects(
      withSpan("failing", {}, async () => {
        throw new RangeError("nope");
      }),
      RangeError,
    );
    assert.throws(() => withSpan("failing-sync", {}, () => { throw new Error("sync"); }), /sync/);
    const spans = telemetry.finishedSpans();
    assert.equal(spans.length, 2);
    for (const span of spans) assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(spans[0]!.events[0]?.name, "exception");
  });

  test("trace context crosses headers: the receiver's span joins the sender's trace", () => {
    telemetry.resetSpans();
    const headers = new Headers();
    withSpan("send", {}, () => injectTrace(headers));
    assert.match(headers.get("traceparent"), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    withSpan("receive", {}, () => {}, { parent: extractTrace(headers) });
    const send = telemetry.finishedSpans().find((s) => s.name === "send")!;
    const receive = telemetry.finishedSpans().find((s) => s.name === "receive")!;
    assert.equal(receive.spanContext().traceId, send.spanContext().traceId);
    assert.equal(receive.parentSpanContext?.spanId, send.spanContext().spanId);
    assert.equal(receive.parentSpanContext?.isRemote, true);
  });

  test("tracestate is carried along", () => {
    const headers = new Headers();
    headers.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    headers.set("tracestate", "vendor=abc");
    const forwarded = new Headers();
    injectTrace(forwarded, extractTrace(headers));
    assert.equal(forwarded.get("traceparent"), headers.get("traceparent"));
    assert.equal(forwarded.get("tracestate"), "vendor=abc");
  });

  test("malformed or missing trace headers give a root context, never an error", () => {
    for (const bad of ["", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"]) {
      const headers = new Headers();
      headers.set("traceparent", bad);
      const out = new Headers();
      injectTrace(out, extractTrace(headers));
      assert.equal(out.map.size, 0, bad);
    }
    const out = new Headers();
    injectTrace(out, extractTrace(undefined));
    assert.equal(out.map.size, 0);
  });
});

test("exporter names are validated", () => {
  assert.equal(parseExporterKind(undefined), "none");
  assert.equal(parseExporterKind("otlp"), "otlp");
  assert.throws(() => parseExporterKind("jaeger"), TelemetryConfigError);
});

test("with telemetry off, withSpan passes results, throws and rejections through unchanged", async () => {
  assert.equal(isTracing(), false);
  const failure = new Error("boom");
  assert.throws(() => withSpan("off", {}, () => {
    throw failure;
  }), (err) => err === failure);
  await assert.rejects(withSpan("off", {}, async () => {
    throw failure;
  }), (err) => err === failure);
  assert.equal(await withSpan("off", {}, async (span) => {
    span.setAttribute("ignored", 1);
    return "value";
  }), "value");
});
