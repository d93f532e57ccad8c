/**
 * The router while a shard's leader changes: requests to a shard whose lease stopped renewing are
 * forwarded checked, so a requester learns "no responders" at once (the NATS server tells only
 * the publisher of a request, here the router) and a reply from the shard still reaches it with
 * its headers; shards with a renewing leader keep the one-way forward.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, newHeaders, type Msg, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { encodeMessage, Header, metaRequestSubject, shardRequestSubject } from "@antler/ops";
import { initialShardMap, LeaderLiveness } from "@antler/router-core";
import { createLogger } from "@antler/telemetry";
import { startRouter, type Router } from "./router.ts";

// Two shards: slot s belongs to shard s % 2.
const map = initialShardMap({ rendezvousShard: (slot: number, shards: readonly number[]) => shards[slot % shards.length]! }, 2);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
/** The router's own connection: NATS answers "no responders" to a publisher that subscribes to the reply subject, so sharing one would hide the problem. */
let routerNc: NatsConnection;
let router: Router;
let now = 0;
const liveness = new LeaderLiveness({ suspectAfterMs: 200, takeoverGraceMs: 300 });
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-router-fo-"));
  server = await startNatsServer({ dir, jetstream: false });
  nc = await connectNats(server.url, "router-failover-test");
  routerNc = await connectNats(server.url, "router-failover-router");
  router = startRouter({ nc: routerNc, map, logger: createLogger("router-test", { level: "error" }), liveness, nowMs: () => now, checkedForwardTimeoutMs: 500 });
  await routerNc.flush();
});
after(async () => {
  await router?.drain();
  await routerNc?.close();
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Sends like the gateway: its own inbox subscription, so a 503 arrives as a message. */
async function send(slot: number, timeoutMs = 1000): Promise<Msg | null> {
  const inbox = `_INBOX.router-fo.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox, { max: 1 });
  const headers = newHeaders();
  headers.set(Header.slot, String(slot));
  nc.publish(metaRequestSubject, encodeMessage({ ctx: { sessionId: 1 }, cmd: { kind: "getattr" } }), { reply: inbox, headers });
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  for await (const msg of sub) {
    clearTimeout(timer);
    return msg;
  }
  return null;
}

test("a shard with a renewing leader is forwarded one-way: with nobody subscribed the request just vanishes", async () => {
  now = 0;
  liveness.observe(0, { revision: 1, record: { holder: "a", epoch: 1, renewals: 0 } }, now);
  const started = performance.now();
  assert.equal(await send(0, 300), null);
  assert.ok(performance.now() - started >= 290);
});

test("a shard whose lease stopped renewing is forwarded checked: no leader → 'no responders' at once", async () => {
  now = 1000; // 1 s without a renewal
  const started = performance.now();
  const reply = await send(0);
  assert.ok(reply !== null, "no answer");
  assert.equal(reply.headers?.code, 503);
  assert.equal(reply.data.length, 0);
  assert.ok(performance.now() - started < 200, `took ${performance.now() - started} ms`);
});

test("a checked forward passes the shard's reply on with its headers", async () => {
  now = 2000;
  liveness.observe(0, { revision: 2, record: { holder: "b", epoch: 2, renewals: 0 } }, now); // a new holder: still checked
  const sub = nc.subscribe(shardRequestSubject(0), {
    callback: (_err, msg) => {
      const headers = newHeaders();
      headers.set("Antler-Parts", "1");
      msg.respond(encodeMessage({ status: 0, sawSlot: msg.headers?.get(Header.slot) }), { headers });
    },
  });
  await nc.flush();
  try {
    now = 2100;
    const reply = await send(0);
    assert.ok(reply !== null);
    assert.equal(reply.headers?.get("Antler-Parts"), "1");
    assert.ok(reply.data.length > 0);
    // Past the grace, with renewals: the fast path again (the reply still arrives, one-way).
    liveness.observe(0, { revision: 3, record: { holder: "b", epoch: 2, renewals: 1 } }, 2350);
    now = 2400;
    assert.equal(liveness.suspect(0, now), false);
    assert.ok((await send(0)) !== null);
  } finally {
    sub.unsubscribe();
  }
});
