/**
 * Cross-shard operations through real processes: a nats-server, two shard processes and two
 * router processes. Requests are sent as a gateway sends them (metaRequestSubject with the slot
 * header); the shard owning the parent forwards what it cannot do alone to the coordinator (the
 * router holding the coordinator lease). When that router is killed, the other one takes the
 * lease over and the client's retry (same request id) is carried out.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { connectNats, newHeaders, openBucket, type NatsConnection } from "@antler/io-nats";
import {
  coordinatorLeaseKey,
  decodeMessage,
  encodeMessage,
  Header,
  leaseBucket,
  metaRequestSubject,
  nameFromText,
  shardMapKey,
  slotOfInode,
  Status,
  type Command,
  type Result,
} from "@antler/ops";
import { decodeShardMap, shardForSlot, type ShardMap } from "@antler/router-core";
import { createPlacement } from "@antler/slots";
import { natsServerBinary, startNatsServer, type NatsServerHandle } from "@antler/testkit";

const repoRoot = new URL("../../../../", import.meta.url).pathname;
const skip = natsServerBinary() === undefined ? "nats-server is not installed" : false;

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
let map: ShardMap;
const children = new Map<string, ChildProcess>();

/** Starts a service process and resolves once it printed READY. */
async function startService(name: string, script: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], {
    cwd: repoRoot,
    env: { ...process.env, ANTLER_NATS_URL: server.url, ANTLER_SHARD_COUNT: "2", ANTLER_LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.set(name, child);
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line.startsWith("READY ")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code} before READY`)));
  });
  await ready;
  return child;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), "antler-coordinator-process-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "coordinator-process-test");
  const shards = [0, 1].map((shard) => startService(`shard${shard}`, "services/shard/server/src/main.ts", { ANTLER_SHARD_ID: String(shard), ANTLER_SNAPSHOT_ENTRIES: "0" }));
  await Promise.all([...shards, startService("router-a", "services/router/server/src/main.ts", {}), startService("router-b", "services/router/server/src/main.ts", {})]);
  const stored = await (await openBucket(nc)).get(shardMapKey);
  assert.ok(stored !== null);
  map = decodeShardMap(stored.value);
}, { timeout: 180_000 });

after(async () => {
  for (const child of children.values()) await stopChild(child, "SIGKILL").catch(() => {});
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

let requestNo = 0;
/** One client request as a gateway sends it, retried (same request id) until answered. */
async function request(cmd: Command, slotInode: number, patienceMs = 20_000): Promise<Result> {
  const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: `process-test-${++requestNo}` };
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const headers = newHeaders();
    headers.set(Header.slot, String(slotOfInode(slotInode)));
    try {
      const reply = await nc.request(metaRequestSubject, encodeMessage({ ctx, cmd }), { headers, timeout: 2_000 });
      const result = decodeMessage(reply.data) as Result;
      if (result.status !== Status.EAGAIN) return result;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`no answer to ${cmd.kind} within ${patienceMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A name for a directory under the root whose slot is shard 1's (the root is shard `rootShard`'s). */
async function crossShardName(prefix: string): Promise<string> {
  const placement = await createPlacement();
  const rootShard = shardForSlot(map, slotOfInode(1));
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (shardForSlot(map, placement.directorySlot(1, nameFromText(name))) !== rootShard) return name;
  }
}

const mkdir = (name: string): Command => ({ kind: "mkdir", parent: 1, name: nameFromText(name), mode: 0o755, umask: 0, copysgid: false });

test("a cross-shard mkdir, lookup and rmdir through shard and router processes", { skip, timeout: 120_000 }, async () => {
  const name = await crossShardName("dir");
  const made = await request(mkdir(name), 1);
  assert.equal(made.status, Status.OK);
  const inode = (made as { inode: number }).inode;
  assert.notEqual(shardForSlot(map, slotOfInode(inode)), shardForSlot(map, 0), "the directory lives on the other shard");
  const found = await request({ kind: "lookup", parent: 1, name: nameFromText(name) }, 1);
  assert.equal((found as { inode?: number }).inode, inode);
  assert.deepEqual(await request({ kind: "rmdir", parent: 1, name: nameFromText(name) }, 1), { status: Status.OK, inode });
  assert.equal((await request({ kind: "lookup", parent: 1, name: nameFromText(name) }, 1)).status, Status.ENOENT);
});

test("concurrent cross-shard mkdirs in one directory all succeed", { skip, timeout: 120_000 }, async () => {
  const names: string[] = [];
  for (let i = 0; names.length < 20; i++) names.push(await crossShardName(`many${i}-`));
  const results = await Promise.all(names.map((name) => request(mkdir(name), 1)));
  assert.deepEqual(results.map((r) => r.status), names.map(() => Status.OK));
  const inodes = new Set(results.map((r) => (r as { inode: number }).inode));
  assert.equal(inodes.size, names.length);
});

test("the coordinating router is killed: the other takes the lease over and the retry is carried out", { skip, timeout: 120_000 }, async () => {
  const leases = await openBucket(nc, leaseBucket, { history: 1, directGets: false });
  const holderOf = async (): Promise<string> => {
    const entry = await leases.get(coordinatorLeaseKey);
    return entry === null ? "" : (JSON.parse(new TextDecoder().decode(entry.value)) as { holder: string }).holder;
  };
  const holder = await holderOf();
  const holderPid = Number(/^router\.(\d+)\./.exec(holder)?.[1]);
  const [holderName, coordinating] = [...children.entries()].find(([, child]) => child.pid === holderPid) ?? [];
  assert.ok(coordinating !== undefined && holderName !== undefined, `the lease holder ${holder} is one of our routers`);
  await stopChild(coordinating, "SIGKILL");
  children.delete(holderName);
  const killedAt = Date.now();
  const name = await crossShardName("after-kill");
  const made = await request(mkdir(name), 1);
  assert.equal(made.status, Status.OK);
  const tookMs = Date.now() - killedAt;
  assert.notEqual(await holderOf(), holder, "the lease changed hands");
  assert.ok(tookMs < 10_000, `answered ${tookMs} ms after the kill`);
});
