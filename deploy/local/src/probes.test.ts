/**
 * Readiness probes against real servers: probeJetStream must say yes only when JetStream answers
 * (a nats-server without JetStream, or a closed port, is not ready), pingRedis only on PONG.
 * Skipped when the binaries are missing.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { executablesFromEnvironment, findExecutable } from "./children.ts";
import { probeJetStream } from "./nats.ts";
import { sleep, tcpAccepts } from "./processes.ts";
import { pingRedis } from "./redis.ts";

const scratch = mkdtempSync(join(tmpdir(), "antler-probes-"));
const started: ChildProcess[] = [];
after(async () => {
  for (const child of started) child.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

const executables = executablesFromEnvironment(process.env);
const natsMissing = findExecutable(executables.natsServer) === undefined && "no nats-server";
const redisMissing = findExecutable(executables.redisServer) === undefined && "no redis-server";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startAndWaitForPort(command: string, args: string[], port: number): Promise<void> {
  const child = spawn(command, args, { stdio: "ignore" });
  started.push(child);
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await tcpAccepts("127.0.0.1", port)) return;
    await sleep(25);
  }
  throw new Error(`${command} did not listen on ${port}`);
}

test("probeJetStream: ready with JetStream, not without it, not on a closed port", {
  skip: natsMissing,
}, async () => {
  const withJetStream = await freePort();
  const storeDir = join(scratch, "js");
  const jetStreamArgs = ["-a", "127.0.0.1", "-p", `${withJetStream}`, "-js", "-sd", storeDir];
  await startAndWaitForPort(executables.natsServer, jetStreamArgs, withJetStream);
  let ready = false;
  for (let attempt = 0; attempt < 100 && !ready; attempt++) {
    ready = await probeJetStream("127.0.0.1", withJetStream);
    if (!ready) await sleep(25);
  }
  assert.equal(ready, true);

  const plain = await freePort();
  await startAndWaitForPort(executables.natsServer, ["-a", "127.0.0.1", "-p", `${plain}`], plain);
  assert.equal(await probeJetStream("127.0.0.1", plain), false);

  assert.equal(await probeJetStream("127.0.0.1", await freePort()), false);
});

test("pingRedis: PONG from redis-server, nothing from a closed port or a mute listener", {
  skip: redisMissing,
}, async () => {
  const port = await freePort();
  await startAndWaitForPort(executables.redisServer,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", scratch], port);
  assert.equal(await pingRedis("127.0.0.1", port), true);
  assert.equal(await pingRedis("127.0.0.1", await freePort()), false);
  const mute = createServer(() => {}).listen(0, "127.0.0.1");
  await new Promise((resolve) => mute.once("listening", resolve));
  const address = mute.address();
  const mutePort = typeof address === "object" && address !== null ? address.port : 0;
  assert.equal(await pingRedis("127.0.0.1", mutePort, 200), false);
  mute.close();
});
