/**
 * The NATS transport against a real nats-server: replies matched to their requests, timeouts,
 * no responders, replies in parts, late replies dropped, and close.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats, respondInParts, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import type { AttemptOutcome } from "./meta-caller.ts";
import { createNatsMetaTransport } from "./nats-meta-transport.ts";

let dir: string;
let server: NatsServerHandle;
let client: NatsConnection;
let responder: NatsConnection;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "antler-meta-transport-"));
  server = await startNatsServer({ dir, jetstream: false });
  client = await connectNats(server.url, "transport test client");
  responder = await connectNats(server.url, "transport test responder");
});

after(async () => {
  await client?.close();
  await responder?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const noHeaders = new Map<string, string>();

/** nats.js hands out Buffers; compare bytes as plain Uint8Arrays. */
function plain(outcome: AttemptOutcome): AttemptOutcome {
  return outcome.kind === "reply" ? { kind: "reply", data: new Uint8Array(outcome.data) } : outcome;
}

test("each request gets its own reply, whatever order the replies come in", async () => {
  // Answers the first request last: replies are matched by inbox token, not by order.
  const held: { reply: string; data: Uint8Array }[] = [];
  const sub = responder.subscribe("t.echo", {
    callback: (_err, msg) => {
      assert.equal(msg.headers?.get("Antler-Test"), "yes");
      held.push({ reply: msg.reply!, data: msg.data });
      if (held.length === 3) for (const h of held.reverse()) responder.publish(h.reply, h.data);
    },
  });
  const transport = createNatsMetaTransport(client, "t.parts.a");
  try {
    // The subscription must reach the server before the requests, or they find no responders.
    await responder.flush();
    const headers = new Map([["Antler-Test", "yes"]]);
    const outcomes = await Promise.all([1, 2, 3].map(async (n) => plain(await transport.request("t.echo", Uint8Array.of(n), headers, 5_000))));
    assert.deepEqual(outcomes, [1, 2, 3].map((n) => ({ kind: "reply", data: Uint8Array.of(n) })));
  } finally {
    transport.close();
    sub.unsubscribe();
  }
});

test("no subscriber is 'unavailable'; silence is a timeout, and a late reply is dropped", async () => {
  const transport = createNatsMetaTransport(client, "t.parts.b");
  let lateReply = "";
  const sub = responder.subscribe("t.slow", {
    callback: (_err, msg) => {
      if (lateReply === "") lateReply = msg.reply!;
      else responder.publish(msg.reply!, Uint8Array.of(2));
    },
  });
  try {
    await responder.flush();
    assert.deepEqual(await transport.request("t.nobody", Uint8Array.of(1), noHeaders, 5_000), { kind: "unavailable", reason: "no responders" });
    assert.deepEqual(await transport.request("t.slow", Uint8Array.of(1), noHeaders, 100), { kind: "timeout" });
    // The first attempt's answer arrives after its timeout; the retry gets its own reply.
    responder.publish(lateReply, Uint8Array.of(1));
    assert.deepEqual(plain(await transport.request("t.slow", Uint8Array.of(1), noHeaders, 5_000)), { kind: "reply", data: Uint8Array.of(2) });
  } finally {
    transport.close();
    sub.unsubscribe();
  }
});

test("a reply larger than one message is assembled from its parts", async () => {
  const big = Uint8Array.from({ length: 10_000 }, (_, i) => i & 255);
  const sub = responder.subscribe("t.big", { callback: (_err, msg) => respondInParts(responder, msg, big, 3_000) });
  const transport = createNatsMetaTransport(client, "t.parts.c");
  try {
    await responder.flush();
    assert.deepEqual(plain(await transport.request("t.big", Uint8Array.of(0), noHeaders, 5_000)), { kind: "reply", data: big });
  } finally {
    transport.close();
    sub.unsubscribe();
  }
});

test("close ends waiting attempts as timeouts, and a closed connection is 'unavailable'", async () => {
  const sub = responder.subscribe("t.never", { callback: () => {} });
  const transport = createNatsMetaTransport(client, "t.parts.d");
  await responder.flush();
  const waiting = transport.request("t.never", Uint8Array.of(1), noHeaders, 60_000);
  transport.close();
  assert.deepEqual(await waiting, { kind: "timeout" });
  sub.unsubscribe();

  const closing = await connectNats(server.url, "transport test closed");
  const closedTransport = createNatsMetaTransport(closing, "t.parts.e");
  await closing.close();
  const outcome = await closedTransport.request("t.never", Uint8Array.of(1), noHeaders, 1_000);
  assert.equal(outcome.kind, "unavailable");
});
