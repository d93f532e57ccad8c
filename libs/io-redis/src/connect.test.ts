/** connectRedis refuses what it cannot use with a typed error instead of hanging or retrying. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort } from "@antler/testkit";
import { connectRedis, RedisConnectError } from "./connect.ts";

test("connectRedis fails with RedisConnectError when nothing listens", async () => {
  const port = await freePort();
  await assert.rejects(connectRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 1000 }), RedisConnectError);
  await assert.rejects(connectRedis("http://127.0.0.1:1"), RedisConnectError);
});
