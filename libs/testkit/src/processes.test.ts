/**
 * The process helpers against the real binaries: each server must answer its protocol once the
 * start resolves (a NATS JetStream API request, a Redis PING), must be gone after stop(), and a
 * namespace must exist with its address while in use and be gone afterwards. Skipped (with the
 * reason) when nats-server/redis-server are missing or, for namespaces, when not root.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  createNetns, freePort, isRoot, natsServerBinary, redisServerBinary, startNatsServer, startRedis,
  withNetns,
} from "./index.ts";

const scratch = mkdtempSync(join(tmpdir(), "antler-testkit-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) [ZX] /.test(execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }));
  } catch {
    return false;
  }
}

/** Sends raw protocol text and returns everything received within a short time. */
function converse(port: number, text: string, waitMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => { received += chunk; });
    socket.on("error", reject);
    setTimeout(() => { socket.destroy(); resolve(received); }, waitMs);
  });
}

test("freePort returns a bindable port", async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65_536);
});

test("startNatsServer: JetStream answers, stop() ends the process", {
  skip: natsServerBinary() === undefined && "nats-server not installed",
}, async () => {
  const nats = await startNatsServer({ dir: join(scratch, "nats") });
  try {
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const reply = await converse(nats.port,
      'CONNECT {"verbose":false}\r\nSUB r 1\r\nPUB $JS.API.INFO r 0\r\n\r\nPING\r\n');
    assert.match(reply, /"jetstream":true/);
    assert.match(reply, /io\.nats\.jetstream\.api\.v1\.account_info_response/);
  } finally {
    await nats.stop();
  }
  assert.equal(alive(nats.pid), false);
  await nats.stop(); // idempotent
});

test("startNatsServer refuses a port that is taken, with the server's log", {
  skip: natsServerBinary() === undefined && "nats-server not installed",
}, async () => {
  const first = await startNatsServer({ dir: join(scratch, "nats-a"), jetstream: false });
  try {
    await assert.rejects(
      startNatsServer({
        dir: join(scratch, "nats-b"), port: first.port, jetstream: false, readyTimeoutMs: 5_000,
      }),
      (error: Error) =>
        error.name === "ServerStartError" && /address already in use/i.test(error.message),
    );
  } finally {
    await first.stop();
  }
});

test("startRedis: PING answers PONG, stop() ends the process", {
  skip: redisServerBinary() === undefined && "redis-server not installed",
}, async () => {
  const redis = await startRedis({ dir: join(scratch, "redis"), appendOnly: true });
  try {
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await converse(redis.port, "*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
  } finally {
    await redis.stop();
  }
  assert.equal(alive(redis.pid), false);
});

test("withNetns: the address is reachable inside only, the namespace is removed after", {
  skip: !isRoot() && "network namespaces need root",
}, async () => {
  const name = `antler-testkit-${process.pid}`;
  const address = "10.213.251.1";
  await withNetns(name, address, async (netns) => {
    assert.ok(existsSync(`/run/netns/${name}`));
    const { stdout } = await netns.exec("ip", ["-4", "-o", "addr", "show", "dev", "lo"]);
    assert.match(stdout, new RegExp(`inet ${address.replaceAll(".", "\\.")}/32`));
  });
  assert.equal(existsSync(`/run/netns/${name}`), false);
  // A failing body still removes the namespace.
  const failing = withNetns(name, address, async () => {
    throw new Error("body failed");
  });
  await assert.rejects(failing, /body failed/);
  assert.equal(existsSync(`/run/netns/${name}`), false);
  const again = await createNetns(name, address);
  await again.delete();
  await again.delete(); // idempotent
  assert.equal(existsSync(`/run/netns/${name}`), false);
});

test("a server left running is killed when the test process exits", {
  skip: natsServerBinary() === undefined && "nats-server not installed",
}, () => {
  // A separate Node process starts a server, prints its PID and exits without stop().
  const indexUrl = new URL("./index.ts", import.meta.url).href;
  const orphanDir = join(scratch, "orphan");
  const script = `
    const { startNatsServer } = await import(${JSON.stringify(indexUrl)});
    const nats = await startNatsServer({ dir: ${JSON.stringify(orphanDir)}, jetstream: false });
    console.log(nats.pid);
    process.exit(0);`;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  const pid = Number(output.trim());
  assert.ok(pid > 0, `no pid in ${output}`);
  assert.equal(alive(pid), false);
});
