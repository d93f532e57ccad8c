/**
 * The router against a real nats-server, with fake shards (plain subscriptions on each shard's
 * request subject): a request reaches the shard that owns its slot with body and headers intact,
 * the shard's reply goes straight to the requester's inbox, "*" requests are fanned out and
 * merged, a bad slot header is answered EINVAL, and the router process prints READY and stores
 * the shard map in the cluster bucket.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { connectNats, newHeaders, openBucket, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { decodeMessage, encodeMessage, Header, metaRequestSubject, shardMapKey, shardRequestSubject, Status } from "@antler/ops";
import { decodeShardMap, initialShardMap, shardForSlot } from "@antler/router-core";
import { createLogger } from "@antler/telemetry";
import { startRouter, type Router } from "./router.ts";

const fake = { rendezvousShard: (slot: number, shards: readonly number[]) => shards[slot % shards.length]! };
const map = initialShardMap(fake, 3);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
let router: Router;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-router-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "router-test");
  router = startRouter({ nc, map, logger: createLogger("router-test", { level: "error" }), fanOutTimeoutMs: 500 });
  // Fake shards: answer with their id, the slot header they saw and the body, as a Result.
  for (let shard = 0; shard < map.shardCount; shard++) {
    nc.subscribe(shardRequestSubject(shard), {
      callback: (_err, msg) => {
        const body = decodeMessage(msg.data) as { cmd: { kind: string } };
        if (body.cmd.kind === "statfs") {
          msg.respond(encodeMessage({ status: 0, totalSpace: 100, availSpace: 50, freeSpace: 50, trashSpace: shard, sustainedSpace: 0, inodes: shard + 1 }));
        } else if (body.cmd.kind === "closesession" && shard === 2) {
          msg.respond(encodeMessage({ status: Status.EPERM }));
        } else {
          msg.respond(encodeMessage({ status: 0, shard, slot: msg.headers?.get(Header.slot), session: msg.headers?.get(Header.session), mapVersion: msg.headers?.get(Header.mapVersion), kind: body.cmd.kind }));
        }
      },
    });
  }
  await nc.flush();
});
after(async () => {
  await router?.drain();
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function metaRequest(slot: string, kind: string) {
  const headers = newHeaders();
  headers.set(Header.slot, slot);
  headers.set(Header.session, "42");
  return nc.request(metaRequestSubject, encodeMessage({ ctx: { sessionId: 42 }, cmd: { kind } }), { headers, timeout: 2000 });
}

test("single-slot requests reach the owning shard with headers intact", async () => {
  for (const slot of [0, 1, 2, 1000, 2047]) {
    const reply = decodeMessage((await metaRequest(String(slot), "getattr")).data);
    assert.deepEqual(reply, { status: 0, shard: shardForSlot(map, slot), slot: String(slot), session: "42", mapVersion: "1", kind: "getattr" });
  }
});

test("fan-out statfs sums the shards' numbers", async () => {
  const reply = decodeMessage((await metaRequest("*", "statfs")).data);
  assert.deepEqual(reply, { status: 0, totalSpace: 300, availSpace: 150, freeSpace: 150, trashSpace: 3, sustainedSpace: 0, inodes: 6 });
});

test("fan-out of other commands reports the first failure", async () => {
  assert.deepEqual(decodeMessage((await metaRequest("*", "closesession")).data), { status: Status.EPERM });
  assert.deepEqual(decodeMessage((await metaRequest("*", "sustained")).data), { status: 0 });
});

test("a missing or malformed slot header, or an undecodable fan-out body, is answered EINVAL", async () => {
  assert.deepEqual(decodeMessage((await metaRequest("2048", "getattr")).data), { status: Status.EINVAL });
  assert.deepEqual(decodeMessage((await nc.request(metaRequestSubject, new Uint8Array(0), { timeout: 2000 })).data), { status: Status.EINVAL });
  const headers = newHeaders();
  headers.set(Header.slot, "*");
  const reply = await nc.request(metaRequestSubject, new Uint8Array([1, 2, 3]), { headers, timeout: 2000 });
  assert.deepEqual(decodeMessage(reply.data), { status: Status.EINVAL });
});

test("a newer map takes effect; an older one is ignored", async () => {
  const moved = { ...map, version: 2, slots: map.slots.map((owner, slot) => (slot === 7 ? (owner + 1) % map.shardCount : owner)) };
  const before = (decodeMessage((await metaRequest("7", "getattr")).data) as { shard: number }).shard;
  assert.equal(router.updateMap(moved), true);
  const after = decodeMessage((await metaRequest("7", "getattr")).data) as { shard: number; mapVersion: string };
  assert.equal(after.shard, (before + 1) % map.shardCount);
  assert.equal(after.mapVersion, "2");
  assert.equal(router.updateMap(map), false);
  assert.equal(router.map().version, 2);
  router.updateMap({ ...map, version: 3 });
});

test("the router process prints READY and creates the shard map once", { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ["services/router/server/src/main.ts"], {
    cwd: new URL("../../../../", import.meta.url).pathname,
    env: { ...process.env, ANTLER_NATS_URL: server.url, ANTLER_SHARD_COUNT: "4", ANTLER_LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, "line")) as [string];
    assert.match(line, /^READY \{/);
    const ready = JSON.parse(line.slice("READY ".length)) as { shardCount: number; mapVersion: number };
    assert.equal(ready.shardCount, 4);
    const stored = await (await openBucket(nc)).get(shardMapKey);
    assert.ok(stored !== null);
    assert.equal(decodeShardMap(stored.value).shardCount, 4);
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});
