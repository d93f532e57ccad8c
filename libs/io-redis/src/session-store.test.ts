/**
 * SessionStore against a real redis-server (random port, temp dir, AOF on). Checks the
 * properties the gateway relies on: ids are unique and increasing even when many gateways
 * allocate at once, a created session loads back exactly, delete forgets it, every session key
 * carries the sustain TTL and touch refreshes it without resurrecting deleted sessions, and the
 * store keeps working across a dropped client link, a Redis outage and a Redis restart.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectRedis, type RedisClient } from "./connect.ts";
import { createSessionStore, SessionDecodeError, sessionKey, type SessionStore } from "./session-store.ts";
import { startTestRedis, type TestRedis } from "./testing/redis.ts";

interface TestRecord {
  readonly sessionId: number;
  readonly info: string;
  readonly peerIp: number;
}

function parseTestRecord(value: unknown): TestRecord {
  const v = value as Partial<TestRecord>;
  if (typeof v.sessionId !== "number" || typeof v.info !== "string" || typeof v.peerIp !== "number") {
    throw new Error("not a test record");
  }
  return { sessionId: v.sessionId, info: v.info, peerIp: v.peerIp };
}

describe("SessionStore on a real redis-server", () => {
  let server: TestRedis;
  let redis: RedisClient;
  let store: SessionStore<TestRecord>;
  const sustainSeconds = 1000;

  before(async () => {
    server = await startTestRedis();
    redis = await connectRedis(server.url, { connectionName: "io-redis-test" });
    store = createSessionStore<TestRecord>(redis, { parse: parseTestRecord, sustainSeconds });
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test("a created session loads back with its allocated id", async () => {
    const created = await store.create({ info: "/mnt/a", peerIp: 0x7f000001 });
    assert.ok(created.sessionId > 0);
    assert.deepEqual(await store.load(created.sessionId), created);
  });

  test("ids are unique and increasing under concurrent creates from several clients", async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connectRedis(server.url)));
    try {
      const stores = clients.map((c) => createSessionStore<TestRecord>(c, { parse: parseTestRecord, sustainSeconds }));
      const perStore = await Promise.all(
        stores.map((s, n) => Promise.all(Array.from({ length: 50 }, (_, i) => s.create({ info: `g${n}-${i}`, peerIp: n })))),
      );
      const ids = perStore.flat().map((r) => r.sessionId);
      assert.equal(new Set(ids).size, ids.length, "duplicate session id");
      // Each client's own creates complete in order, so its ids increase.
      for (const created of perStore) {
        const own = created.map((r) => r.sessionId);
        assert.deepEqual(own, [...own].sort((a, b) => a - b));
      }
      const later = await store.create({ info: "later", peerIp: 0 });
      assert.ok(later.sessionId > Math.max(...ids));
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  test("every session key carries the sustain TTL, and touch refreshes it", async () => {
    const created = await store.create({ info: "ttl", peerIp: 1 });
    const ttl = await redis.ttl(sessionKey(created.sessionId));
    assert.ok(ttl > sustainSeconds - 5 && ttl <= sustainSeconds, `ttl ${ttl}`);
    await redis.expire(sessionKey(created.sessionId), 10);
    assert.equal(await store.touch(created.sessionId, "gw-7"), true);
    assert.ok((await redis.ttl(sessionKey(created.sessionId))) > sustainSeconds - 5);
    const entry = (await store.list()).find((e) => e.record.sessionId === created.sessionId);
    assert.equal(entry?.gatewayId, "gw-7");
    assert.ok(entry.seenMs >= entry.createdMs);
  });

  test("delete forgets the session and touch does not bring it back", async () => {
    const created = await store.create({ info: "gone", peerIp: 2 });
    await store.delete(created.sessionId);
    assert.equal(await store.load(created.sessionId), null);
    assert.equal(await store.touch(created.sessionId, "gw-1"), false);
    assert.equal(await redis.exists(sessionKey(created.sessionId)), 0);
  });

  test("unanswered requests: put replaces, clear only removes the request it names, all die with the session", async () => {
    const created = await store.create({ info: "/mnt/u", peerIp: 1 });
    const id = created.sessionId;
    assert.deepEqual(await store.unanswered(id), new Map());
    await store.putUnanswered(id, 7, { requestId: "g.1/5:7:0", fingerprint: "aa" });
    await store.putUnanswered(id, 9, { requestId: "g.1/5:9:1", fingerprint: "bb" });
    await store.putUnanswered(id, 7, { requestId: "g.1/5:7:2", fingerprint: "cc" });
    assert.deepEqual(await store.unanswered(id), new Map([[7, { requestId: "g.1/5:7:2", fingerprint: "cc" }], [9, { requestId: "g.1/5:9:1", fingerprint: "bb" }]]));
    // A clear naming an earlier request of msgid 7 (a late answer on an old connection) keeps the newer one;
    // so does one naming a prefix of the recorded id.
    await store.clearUnanswered(id, 7, "g.1/5:7:0");
    await store.clearUnanswered(id, 7, "g.1/5:7:");
    assert.equal((await store.unanswered(id)).get(7)?.requestId, "g.1/5:7:2");
    await store.clearUnanswered(id, 7, "g.1/5:7:2");
    assert.deepEqual([...(await store.unanswered(id)).keys()], [9]);
    // The record and the TTL are untouched by these fields.
    assert.deepEqual(await store.load(id), created);
    assert.ok((await redis.ttl(sessionKey(id))) > 0);
    // Gone with the session, and a put after the delete does not bring back a hash.
    await store.delete(id);
    await store.putUnanswered(id, 9, { requestId: "g.1/5:9:3", fingerprint: "dd" });
    assert.equal(await redis.exists(sessionKey(id)), 0);
    assert.deepEqual(await store.unanswered(id), new Map());
  });

  test("unknown and invalid ids load as null", async () => {
    assert.equal(await store.load(0), null);
    assert.equal(await store.load(-3), null);
    assert.equal(await store.load(2 ** 32), null);
    assert.equal(await store.load(4_000_000_000), null);
  });

  test("a corrupt record is a SessionDecodeError on load and skipped by list", async () => {
    await redis.hset(sessionKey(3_999_999_999), { record: "{not json" });
    await redis.hset(sessionKey(3_999_999_998), { record: JSON.stringify({ info: 7 }) });
    await assert.rejects(store.load(3_999_999_999), SessionDecodeError);
    await assert.rejects(store.load(3_999_999_998), SessionDecodeError);
    const listed = await store.list();
    assert.ok(listed.length > 0);
    assert.ok(listed.every((e) => e.record.sessionId < 3_999_999_998));
    await redis.del(sessionKey(3_999_999_999), sessionKey(3_999_999_998));
  });

  test("the store keeps working after the client link is killed", async () => {
    const before = await store.create({ info: "before", peerIp: 3 });
    const killer = await connectRedis(server.url);
    await killer.client("KILL", "TYPE", "normal", "SKIPME", "yes");
    killer.disconnect();
    const afterKill = await store.create({ info: "after", peerIp: 3 });
    assert.ok(afterKill.sessionId > before.sessionId);
    assert.deepEqual(await store.load(before.sessionId), before);
  });

  test("sessions and the id counter survive a Redis restart (AOF)", async () => {
    const before = await store.create({ info: "persisted", peerIp: 4 });
    await server.restart();
    assert.deepEqual(await store.load(before.sessionId), before);
    const next = await store.create({ info: "after restart", peerIp: 4 });
    assert.ok(next.sessionId > before.sessionId);
  });

  test("while Redis is down, commands fail within the command timeout and work again after", async () => {
    const impatient = await connectRedis(server.url, { commandTimeoutMs: 300 });
    const impatientStore = createSessionStore<TestRecord>(impatient, { parse: parseTestRecord, sustainSeconds });
    const created = await impatientStore.create({ info: "outage", peerIp: 5 });
    try {
      await server.stopOnly();
      const started = Date.now();
      await assert.rejects(impatientStore.load(created.sessionId));
      assert.ok(Date.now() - started < 3_000, `failed after ${Date.now() - started} ms`);
      await server.startAgain();
      assert.deepEqual(await impatientStore.load(created.sessionId), created);
    } finally {
      impatient.disconnect();
    }
  });

});
