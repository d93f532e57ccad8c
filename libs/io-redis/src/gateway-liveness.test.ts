/**
 * Gateway liveness keys against a real redis-server: a heartbeat's key is listed while it runs,
 * carries the short TTL, outlives its first TTL because it is refreshed, disappears on stop, and
 * an outage is reported once (and its end once), not every interval.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectRedis, type RedisClient } from "./connect.ts";
import { gatewayKey, listGateways, startGatewayHeartbeat } from "./gateway-liveness.ts";
import { startTestRedis, type TestRedis } from "./testing/redis.ts";

describe("gateway liveness on a real redis-server", () => {
  let server: TestRedis;
  let redis: RedisClient;

  before(async () => {
    server = await startTestRedis();
    redis = await connectRedis(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test("a heartbeat reports an outage once and its end once", async () => {
    const client = await connectRedis(server.url, { commandTimeoutMs: 100 });
    let errors = 0;
    let recoveries = 0;
    const info = { gatewayId: "gw-outage", clientAddress: "127.0.0.1:9421", pid: 1, startedMs: 1 };
    const heartbeat = await startGatewayHeartbeat(client, info, {
      intervalMs: 50,
      ttlMs: 1000,
      onError: () => errors++,
      onRecovered: () => recoveries++,
    });
    try {
      await server.stopOnly();
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(errors, 1);
      await server.startAgain();
      const deadline = Date.now() + 5_000;
      while (recoveries === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(recoveries, 1);
      assert.equal(errors, 1);
      assert.equal(await redis.exists(gatewayKey("gw-outage")), 1);
    } finally {
      await heartbeat.stop();
      client.disconnect();
    }
  });

  test("a gateway heartbeat is listed with a short TTL and removed on stop", async () => {
    const info = { gatewayId: "gw-test", clientAddress: "127.0.0.1:9421", pid: process.pid, startedMs: 1 };
    const heartbeat = await startGatewayHeartbeat(redis, info, { intervalMs: 50, ttlMs: 400 });
    assert.deepEqual(await listGateways(redis), [info]);
    const pttl = await redis.pttl(gatewayKey("gw-test"));
    assert.ok(pttl > 0 && pttl <= 400, `pttl ${pttl}`);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(await redis.exists(gatewayKey("gw-test")), 1, "refreshed beyond its first TTL");
    await heartbeat.stop();
    assert.deepEqual(await listGateways(redis), []);
  });
});
