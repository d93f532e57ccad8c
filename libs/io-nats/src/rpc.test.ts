/**
 * Request/reply with trace propagation against a real nats-server: the server-side span of
 * `serve` is a child of the client span of `request`, in the same trace, and the handler's own
 * spans nest below it. Uses the in-memory span exporter.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startTelemetry, withSpan, type Telemetry } from "@antler/telemetry";
import { connectNats, type NatsConnection } from "./connect.ts";
import { newHeaders, request, serve } from "./rpc.ts";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
let telemetry: Telemetry;
before(async () => {
  telemetry = startTelemetry({ serviceName: "rpc-test", exporter: "memory" });
  dir = await mkdtemp(join(tmpdir(), "antler-rpc-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "rpc-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await telemetry?.shutdown();
});

test("a request's trace continues in the server span and the handler's spans", async () => {
  const sub = serve(nc, "test.echo", "q", async (msg) => {
    await withSpan("handler work", {}, async () => {});
    const h = newHeaders();
    h.set("Echo-Header", msg.headers?.get("Custom") ?? "");
    return { data: msg.data, headers: h };
  });
  try {
    telemetry.resetSpans();
    const headers = newHeaders();
    headers.set("Custom", "value");
    const reply = await withSpan("client op", {}, () => request(nc, "test.echo", new TextEncoder().encode("ping"), headers, 2000));
    assert.equal(new TextDecoder().decode(reply.data), "ping");
    assert.equal(reply.headers?.get("Echo-Header"), "value");
    // The server span ends after respond(); give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const spans = telemetry.finishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name) ?? assert.fail(`no span ${name}: ${spans.map((s) => s.name).join(", ")}`);
    const op = byName("client op");
    const client = byName("request test.echo");
    const serverSpan = byName("serve test.echo");
    const work = byName("handler work");
    const traceId = op.spanContext().traceId;
    for (const span of [client, serverSpan, work]) assert.equal(span.spanContext().traceId, traceId);
    assert.equal(client.parentSpanContext?.spanId, op.spanContext().spanId);
    assert.equal(serverSpan.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(work.parentSpanContext?.spanId, serverSpan.spanContext().spanId);
  } finally {
    sub.unsubscribe();
  }
});

test("a handler that fails sends no reply and does not stop the subscription", async () => {
  let calls = 0;
  const sub = serve(nc, "test.flaky", undefined, (msg) => {
    calls++;
    if (calls === 1) throw new Error("first call fails");
    return { data: msg.data };
  });
  try {
    await assert.rejects(request(nc, "test.flaky", new Uint8Array([1]), undefined, 300));
    const reply = await request(nc, "test.flaky", new Uint8Array([2]), undefined, 2000);
    assert.deepEqual([...reply.data], [2]);
  } finally {
    sub.unsubscribe();
  }
});
