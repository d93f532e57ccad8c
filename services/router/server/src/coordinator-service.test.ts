/**
 * The coordinator service against a real nats-server: the decision store is create-only and
 * reads what anyone wrote; one of two routers holds the coordinator lease and the other takes over
 * when it stops; a request passed to coordinatorSubject is carried out over NATS against fake
 * shards (which answer the tx commands) and answered to the requester's inbox; a shard without a
 * leader for a moment, and one answering MOVED, are retried.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { limits } from "@antler/base";
import { connectNats, openBucket, type Bucket, type NatsConnection, type Subscription } from "@antler/io-nats";
import {
  coordinatorLeaseKey,
  coordinatorSubject,
  decodeMessage,
  encodeMessage,
  Header,
  leaseBucket,
  nameFromText,
  NodeType,
  shardRequestSubject,
  Status,
  txDecisionKey,
  txnBucket,
  type Command,
  type MetaRequest,
  type Result,
  type TxDecision,
} from "@antler/ops";
import { initialShardMap, ShardUnavailableError, type ShardMap } from "@antler/router-core";
import { makeInode } from "@antler/slots";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { createLogger } from "@antler/telemetry";
import { createDecisionStore } from "./coordinator-decisions.ts";
import { bucketLeaseStore } from "./coordinator-lease.ts";
import { natsCoordinatorPorts } from "./coordinator-ports.ts";
import { startCoordinatorService, type CoordinatorService } from "./coordinator-service.ts";

const logger = createLogger("coordinator-test", { level: "error" });
/** Two shards: even slots on shard 0, odd ones on shard 1. */
const map: ShardMap = initialShardMap({ rendezvousShard: (slot, shards) => shards[slot % shards.length]! }, 2);
const attr = { type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, atime: 1, mtime: 1, ctime: 1, nlink: 2, length: 0, rdev: 0, flags: 0, winattr: 0 };
const spec = { kind: "mkdir", type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 0, eattr: 0, aclAccess: null, aclDefault: null };

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
let decisionsBucket: Bucket;
let leases: Bucket;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-coordinator-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "coordinator-test");
  decisionsBucket = await openBucket(nc, txnBucket, { history: 1, directGets: false });
  leases = await openBucket(nc, leaseBucket, { history: 1, directGets: false });
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A shard that prepares and commits anything; records the commands it got (with their headers). */
function fakeShard(shard: number, seen: { shard: number; kind: string; slot: string | undefined; requestId: string | undefined }[], moved = { count: 0 }): Subscription {
  return nc.subscribe(shardRequestSubject(shard), {
    callback: (_err, msg) => {
      const { cmd } = decodeMessage(msg.data) as MetaRequest;
      seen.push({ shard, kind: cmd.kind, slot: msg.headers?.get(Header.slot), requestId: msg.headers?.get(Header.requestId) });
      let result: Result;
      if (moved.count > 0) {
        moved.count--;
        result = { status: Status.MOVED };
      } else if (cmd.kind === "txprepare") {
        result = { status: Status.OK, outputs: cmd.parts.map((p) => (p.op === "entry-new" ? { op: "entry-new", spec } : p.op === "node-new" ? { op: "node-new", inode: makeInode(p.slot, 9) } : { op: p.op })) } as Result;
      } else if (cmd.kind === "txcommit") {
        result = { status: Status.OK, outputs: shard === 1 ? [{ op: "node-new", inode: cmd.newInode!, attr }] : [] } as Result;
      } else {
        result = { status: Status.OK } as Result;
      }
      msg.respond(encodeMessage(result));
    },
  });
}

test("decisions are create-only: the second writer gets the first one's decision", async () => {
  const store = createDecisionStore(decisionsBucket, { retainMs: 0 });
  const abort: TxDecision = { decision: "abort", txid: "store-1#1", participants: [0], by: "shard.0" };
  assert.deepEqual(await store.decide(abort), abort);
  assert.deepEqual(await store.decide({ ...abort, decision: "commit", by: "coordinator" }), abort);
  assert.deepEqual(await store.read("store-1#1"), abort);
  await store.forget("store-1#1");
  await sleep(50);
  assert.equal(await store.read("store-1#1"), null);
  assert.equal(await decisionsBucket.get(txDecisionKey("store-1#1")), null);
});

test("a forgotten decision stays for the retention time, then goes", async () => {
  const store = createDecisionStore(decisionsBucket, { retainMs: 100 });
  const commit: TxDecision = { decision: "commit", txid: "store-2#1", participants: [1, 0], newInode: 5, by: "coordinator" };
  await store.decide(commit);
  await store.forget("store-2#1");
  assert.equal(store.retained, 1);
  assert.deepEqual(await store.read("store-2#1"), commit);
  await sleep(250);
  assert.equal(store.retained, 0);
  assert.equal(await store.read("store-2#1"), null);
  store.stop();
});

test("the directory-move lock is compare-and-set on its revision: one writer wins, a stale revision loses", async () => {
  const store = createDecisionStore(decisionsBucket, { retainMs: 0 });
  assert.equal(await store.readMoveLock(), null);
  const taken = await store.writeMoveLock("move-1#1", 0);
  assert.ok(taken !== null);
  assert.equal(await store.writeMoveLock("move-2#1", 0), null, "it exists: a second create loses");
  assert.deepEqual(await store.readMoveLock(), { holder: "move-1#1", revision: taken });
  const fenced = await store.writeMoveLock("move-1#1", taken);
  assert.ok(fenced !== null && fenced > taken);
  assert.equal(await store.writeMoveLock("move-2#1", taken), null, "a writer on an old revision loses");
  const freed = await store.writeMoveLock(null, fenced);
  assert.deepEqual(await store.readMoveLock(), { holder: null, revision: freed });
  store.stop();
});

function service(name: string, connection: NatsConnection): CoordinatorService {
  const decisions = createDecisionStore(decisionsBucket, { retainMs: 0 });
  return startCoordinatorService({
    nc: connection,
    logger,
    holder: name,
    leaseStore: bucketLeaseStore(leases, coordinatorLeaseKey),
    ports: (event) =>
      natsCoordinatorPorts({
        nc: connection,
        map: () => map,
        refreshMap: async () => {},
        placement: { directorySlot: () => 3 },
        decisions,
        callTimeoutMs: 2_000,
        event,
      }),
    statsIntervalMs: 60_000,
  });
}

test("one router holds the coordinator lease; when it stops another takes over at once", async () => {
  const other = await connectNats(server.url, "coordinator-test-2");
  const first = service("router-a", nc);
  await until("router-a coordinating", () => first.active);
  const second = service("router-b", other);
  await sleep(800);
  assert.equal(second.active, false, "a renewed lease is not taken over");
  const stoppedAt = Date.now();
  await first.stop();
  await until("router-b coordinating", () => second.active, 2_000);
  assert.ok(Date.now() - stoppedAt < 600, "a released lease is taken at once");
  await second.stop();
  await other.close();
});

test("a holder that finds the lease taken by another router stops coordinating at its next renewal", async () => {
  const first = service("router-c", nc);
  await until("router-c coordinating", () => first.active);
  await leases.put(coordinatorLeaseKey, new TextEncoder().encode(JSON.stringify({ holder: "router-d", epoch: 99, renewals: 0 })));
  await until("router-c stepping down", () => !first.active, 2_000);
  await first.stop();
  // Released for the next test.
  await leases.delete(coordinatorLeaseKey);
});

test("a request passed to the coordinator subject is carried out across shards and answered to the requester", async () => {
  const seen: Parameters<typeof fakeShard>[1] = [];
  const shards = [fakeShard(0, seen), fakeShard(1, seen)];
  const coordinator = service("router-e", nc);
  await until("router-e coordinating", () => coordinator.active);
  await nc.flush();
  const cmd: Command = { kind: "mkdir", parent: 1, name: nameFromText("d"), mode: 0o755, umask: 0, copysgid: false };
  const ctx = { sessionId: 3, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: "e2e-1" };
  const reply = await nc.request(coordinatorSubject, encodeMessage({ ctx, cmd }), { timeout: 5_000 });
  const newInode = makeInode(3, 9);
  assert.deepEqual(decodeMessage(reply.data), { status: Status.OK, inode: newInode, attr });
  // Root (slot 0) is shard 0's; the new directory's slot 3 is shard 1's; commit node-first.
  assert.deepEqual(seen.map((s) => `${s.shard}:${s.kind}:${s.slot}:${s.requestId}`), [
    "0:txprepare:0:e2e-1#1/1",
    "1:txprepare:3:e2e-1#1/1",
    "1:txcommit:3:e2e-1#1/2",
    "0:txcommit:0:e2e-1#1/2",
  ]);
  assert.equal(await decisionsBucket.get(txDecisionKey("e2e-1#1")), null, "forgotten once every participant acknowledged");
  assert.deepEqual(coordinator.stats(), { coordinated: 1, refused: 0, conflicts: 0, recovered: 0, unreached: 0 });
  // Malformed requests are answered EINVAL.
  const bad = await nc.request(coordinatorSubject, encodeMessage({ ctx: { uid: "x" }, cmd }), { timeout: 2_000 });
  assert.deepEqual(decodeMessage(bad.data), { status: Status.EINVAL });
  await coordinator.stop();
  for (const s of shards) s.unsubscribe();
  await leases.delete(coordinatorLeaseKey);
});

test("ports: a shard without a leader for a moment and a MOVED answer are retried; a shard that stays away is unavailable", async () => {
  const seen: Parameters<typeof fakeShard>[1] = [];
  let refreshed = 0;
  const ports = natsCoordinatorPorts({
    nc,
    map: () => map,
    refreshMap: async () => void refreshed++,
    placement: { directorySlot: () => 0 },
    decisions: createDecisionStore(decisionsBucket),
    callTimeoutMs: 1_000,
  });
  const ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: "p#1/3" };
  // Shard 1 gets its leader 150 ms after the call started.
  let late: Subscription | null = null;
  const started = Date.now();
  setTimeout(() => {
    late = fakeShard(1, seen, { count: 1 });
  }, 150);
  const result = await ports.call({ kind: "txabort", slot: 1, txid: "p#1" }, ctx);
  assert.deepEqual(result, { status: Status.OK });
  assert.ok(Date.now() - started >= 150);
  assert.equal(refreshed, 1, "MOVED refreshed the map");
  assert.deepEqual(seen.map((s) => s.kind), ["txabort", "txabort"]);
  (late as Subscription | null)?.unsubscribe();
  await nc.flush();
  await assert.rejects(ports.call({ kind: "txabort", slot: 1, txid: "p#1" }, ctx), ShardUnavailableError);
  assert.equal(ports.slotOfShard(1), 1);
  assert.equal(ports.shardOfSlot(limits.slotCount - 2), 0);
});

/** Ports that hedge quickly (100 ms, then 200 ms) within `callTimeoutMs`. */
function hedgingPorts(callTimeoutMs: number) {
  return natsCoordinatorPorts({
    nc,
    map: () => map,
    refreshMap: async () => {},
    placement: { directorySlot: () => 0 },
    decisions: createDecisionStore(decisionsBucket),
    callTimeoutMs,
    hedgeMs: 100,
    hedgeMaxMs: 200,
  });
}

test("ports: a call taken by a leader that then loses its lease (and never answers) is sent again and answered by the next leader", async () => {
  const ports = hedgingPorts(5_000);
  // The old leader of shard 1 takes everything and answers nothing (its lease guard holds the
  // replies back); 150 ms later it stops serving and a standby takes over.
  const swallowed: (string | undefined)[] = [];
  const stalled = nc.subscribe(shardRequestSubject(1), { callback: (_err, msg) => void swallowed.push(msg.headers?.get(Header.requestId)) });
  await nc.flush();
  const seen: Parameters<typeof fakeShard>[1] = [];
  let next: Subscription | null = null;
  setTimeout(() => {
    stalled.unsubscribe();
    next = fakeShard(1, seen);
  }, 150);
  const cmd: Command = { kind: "txprepare", slot: 1, txid: "h#1", clientRequestId: "h", parts: [{ op: "node-new", spec, slot: 1, parent: 1, name: nameFromText("d") }] } as Command;
  const started = Date.now();
  try {
    const result = await ports.call(cmd, { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: "h#1/1" });
    const tookMs = Date.now() - started;
    assert.equal(result.status, Status.OK);
    assert.ok(swallowed.length >= 1, "the old leader took the call");
    assert.ok(seen.length >= 1 && seen.every((s) => s.kind === "txprepare" && s.requestId === "h#1/1"), "every copy carries the call's request id");
    assert.deepEqual(new Set(swallowed), new Set(["h#1/1"]));
    assert.ok(tookMs < 1_500, `answered by the next leader in ${tookMs} ms, not after the call's 5 s`);
  } finally {
    await sleep(200);
    stalled.unsubscribe();
    (next as Subscription | null)?.unsubscribe();
  }
});

test("ports: a shard that takes calls and never answers makes the call unavailable after its time, not earlier", async () => {
  const ports = hedgingPorts(600);
  let taken = 0;
  const silent = nc.subscribe(shardRequestSubject(1), { callback: () => void taken++ });
  await nc.flush();
  const started = Date.now();
  try {
    await assert.rejects(ports.call({ kind: "txabort", slot: 1, txid: "s#1" }, { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: "s#1/3" }), ShardUnavailableError);
    const tookMs = Date.now() - started;
    assert.ok(tookMs >= 590 && tookMs < 1_000, `gave up after ${tookMs} ms`);
    // Sent at 0, 100, 300 and 500 ms (the hedge delay doubles up to 200 ms).
    assert.equal(taken, 4);
  } finally {
    silent.unsubscribe();
  }
});
