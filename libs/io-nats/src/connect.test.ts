/**
 * Connecting: the first connection is retried while NATS is not up yet (services may start
 * before it), and fails after the window when nothing ever listens.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { freePort, startNatsServer } from "@antler/testkit";
import { connectNats } from "./connect.ts";

test("the first connection waits for a server that starts a little later", async () => {
  const dir = await mkdtemp(join(tmpdir(), "antler-connect-"));
  const port = await freePort();
  const starting = new Promise((resolve) => setTimeout(resolve, 600)).then(() => startNatsServer({ dir, port, jetstream: false }));
  try {
    const nc = await connectNats(`nats://127.0.0.1:${port}`, "connect-test", { reconnectWaitMs: 100 });
    await nc.close();
  } finally {
    await (await starting).stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("with nothing listening, it gives up after the window", async () => {
  const port = await freePort();
  const started = performance.now();
  await assert.rejects(connectNats(`nats://127.0.0.1:${port}`, "connect-test", { reconnectWaitMs: 50, firstConnectWindowMs: 300 }));
  assert.ok(performance.now() - started < 5_000);
});
