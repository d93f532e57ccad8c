/**
 * Tracing through the router (in-memory span exporter, real nats-server): the router's forward
 * span continues the requester's trace, and the shard sees the router's span as its parent in the
 * forwarded headers (one span per hop).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, newHeaders, request, type NatsConnection } from "@antler/io-nats";
import { encodeMessage, Header, metaRequestSubject, shardRequestSubject } from "@antler/ops";
import { initialShardMap } from "@antler/router-core";
import { createLogger, extractTrace, startTelemetry, withSpan, type Telemetry } from "@antler/telemetry";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { startRouter, type Router } from "./router.ts";

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let telemetry: Telemetry;
let router: Router;
before(async () => {
  telemetry = startTelemetry({ serviceName: "router-trace-test", exporter: "memory" });
  dir = await mkdtemp(join(tmpdir(), "antler-router-trace-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "router-trace-test");
  const map = initialShardMap({ rendezvousShard: () => 0 }, 1);
  router = startRouter({ nc, map, logger: createLogger("t", { level: "error" }) });
  nc.subscribe(shardRequestSubject(0), {
    callback: (_err, msg) => void withSpan("fake shard", {}, () => msg.respond(encodeMessage({ status: 0 })), { parent: extractTrace(msg.headers) }),
  });
  await nc.flush();
});
after(async () => {
  await router?.drain();
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await telemetry?.shutdown();
});

test("requester → router forward → shard is one trace, one span per hop", async () => {
  const headers = newHeaders();
  headers.set(Header.slot, "5");
  await withSpan("gateway op", {}, () => request(nc, metaRequestSubject, encodeMessage({ cmd: { kind: "getattr" } }), headers, 2000));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spans = telemetry.finishedSpans();
  const byName = (name: string) => spans.find((s) => s.name === name) ?? assert.fail(`no span ${name}: ${spans.map((s) => s.name).join(", ")}`);
  const client = byName(`request ${metaRequestSubject}`);
  const forward = byName("router forward");
  const shard = byName("fake shard");
  const traceId = byName("gateway op").spanContext().traceId;
  for (const span of [client, forward, shard]) assert.equal(span.spanContext().traceId, traceId);
  assert.equal(forward.parentSpanContext?.spanId, client.spanContext().spanId);
  assert.equal(shard.parentSpanContext?.spanId, forward.spanContext().spanId);
  assert.equal(forward.attributes["antler.slot"], 5);
});
