/**
 * The real shard process (main.ts: shard-core's state machine, JetStream log) against a real
 * nats-server: creates and mkdirs through NATS, SIGKILL while creates are in flight, restart, and
 * every acknowledged create is still there with the same inode after the replay; the READY line
 * reports the replay. One shard owns every slot (ANTLER_SHARD_COUNT=1).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { connectNats, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { decodeMessage, encodeMessage, nameFromText, shardRequestSubject, type Command } from "@antler/ops";

const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const repoRoot = new URL("../../../../", import.meta.url).pathname;

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-shard-main-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "shard-main-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function call(cmd: Command, timeout = 3000): Promise<{ status: number; inode?: number }> {
  const reply = await nc.request(shardRequestSubject(0), encodeMessage({ ctx, cmd }), { timeout });
  return decodeMessage(reply.data) as { status: number; inode?: number };
}

async function startShard(): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, ["services/shard/server/src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, ANTLER_NATS_URL: server.url, ANTLER_SHARD_ID: "0", ANTLER_SHARD_COUNT: "1", ANTLER_LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, "line"), once(child, "exit").then(() => [null])])) as [string | null];
  assert.ok(line !== null && line.startsWith("READY "), `no READY line (got ${line})`);
  return { child, ready: JSON.parse(line.slice("READY ".length)) as Record<string, unknown> };
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, "exit") as Promise<[number | null]>;
  child.kill(signal);
  return (await exited)[0];
}

test("acknowledged creates survive SIGKILL and replay with the real state machine", { timeout: 120_000 }, async () => {
  let shard = await startShard();
  try {
    assert.equal(shard.ready.entriesReplayed, 0);
    assert.equal(shard.ready.slots, 2048);
    const dir = await call({ kind: "mkdir", parent: 1, name: nameFromText("d"), mode: 0o755, umask: 0, copysgid: false });
    assert.equal(dir.status, 0, JSON.stringify(dir));
    const acked = new Map<string, number>();
    let sent = 0;
    const worker = async () => {
      while (sent < 1500) {
        const name = `f${sent++}`;
        try {
          const reply = await call({ kind: "create", parent: 1, name: nameFromText(name), mode: 0o644, umask: 0o022 }, 1000);
          assert.equal(reply.status, 0, JSON.stringify(reply));
          acked.set(name, reply.inode!);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          return;
        }
        if (sent === 300) void kill(shard.child, "SIGKILL");
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.ok(acked.size >= 250, `only ${acked.size} acknowledged`);
    await kill(shard.child, "SIGKILL");

    shard = await startShard();
    assert.ok((shard.ready.entriesReplayed as number) >= acked.size + 1);
    for (const [name, inode] of acked) {
      const reply = await call({ kind: "lookup", parent: 1, name: nameFromText(name) });
      assert.equal(reply.status, 0, `acknowledged ${name} lost`);
      assert.equal(reply.inode, inode);
    }
    assert.equal((await call({ kind: "lookup", parent: 1, name: nameFromText("d") })).inode, dir.inode);
    assert.equal(await kill(shard.child, "SIGTERM"), 0);
  } finally {
    await kill(shard.child, "SIGKILL");
  }
});
