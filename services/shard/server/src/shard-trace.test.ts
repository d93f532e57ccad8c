/**
 * Tracing through the shard (in-memory span exporter, real nats-server): a request sent with the
 * io-nats `request` helper inside a client span produces one trace in which the shard's request
 * span is a child of the client's request span, and the log append a child of the shard span.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, request, type NatsConnection } from "@antler/io-nats";
import { decodeMessage, encodeMessage, nameFromText, shardRequestSubject } from "@antler/ops";
import { createLogger, startTelemetry, withSpan, type Telemetry } from "@antler/telemetry";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { startShardServer } from "./shard-server.ts";
import { FakeStateMachine } from "./testing/fake-state-machine.ts";

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let telemetry: Telemetry;
before(async () => {
  telemetry = startTelemetry({ serviceName: "shard-trace-test", exporter: "memory" });
  dir = await mkdtemp(join(tmpdir(), "antler-shard-trace-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "shard-trace-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await telemetry?.shutdown();
});

test("client → shard request → log append is one trace", async () => {
  const log = await ensureShardLog(nc, 0);
  const shard = startShardServer({ nc, shardId: 0, log, sm: new FakeStateMachine(), logger: createLogger("t", { level: "error" }), lastSeq: 0, maintainIntervalMs: 0 });
  try {
    await nc.flush();
    const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
    const body = encodeMessage({ ctx, cmd: { kind: "create", parent: 1, name: nameFromText("x"), mode: 0o644, umask: 0 } });
    const reply = await withSpan("client op", {}, () => request(nc, shardRequestSubject(0), body, undefined, 2000));
    assert.equal((decodeMessage(reply.data) as { status: number }).status, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const spans = telemetry.finishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name) ?? assert.fail(`no span ${name}: ${spans.map((s) => s.name).join(", ")}`);
    const client = byName(`request ${shardRequestSubject(0)}`);
    const shardSpan = byName("shard request");
    const append = byName("shard log append");
    const traceId = byName("client op").spanContext().traceId;
    for (const span of [client, shardSpan, append]) assert.equal(span.spanContext().traceId, traceId);
    assert.equal(shardSpan.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(append.parentSpanContext?.spanId, shardSpan.spanContext().spanId);
    assert.equal(shardSpan.attributes["antler.command"], "create");
    assert.equal(append.attributes["antler.log.entries"], 1);
  } finally {
    await shard.stop();
  }
});
