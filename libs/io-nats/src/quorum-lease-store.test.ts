/**
 * The quorum lease store against three real, independent nats-servers: revision semantics
 * (0 = absent, each change the next journal sequence), compare-and-set by revision from several
 * store instances, racing acquirers (at most one wins), watch, malformed values, and renewals
 * going on within a second when the server a renewal was talking to is killed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import type { LeaseObservation } from "@antler/ops";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { LogUnavailableError } from "./log-stream.ts";
import { openQuorumLeaseStore, quorumLeaseSubject, type QuorumLeaseStore } from "./quorum-lease-store.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let root: string;
const servers: (NatsServerHandle | undefined)[] = [];
const dirs: string[] = [];
const ports: number[] = [];
const connections: NatsConnection[] = [];
const stores: QuorumLeaseStore[] = [];
let nextShard = 500;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "antler-quorum-lease-"));
  for (let i = 0; i < 3; i++) {
    dirs.push(join(root, `s${i}`));
    const server = await startNatsServer({ dir: dirs[i]!, syncAlways: true });
    servers.push(server);
    ports.push(server.port);
    connections.push(await connectNats(server.url, `lease-test-${i}`));
  }
});
after(async () => {
  for (const store of stores) store.close();
  for (const nc of connections) await nc.close().catch(() => {});
  for (const server of servers) await server?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function open(shardId: number): Promise<QuorumLeaseStore> {
  const store = await openQuorumLeaseStore(connections, shardId, { replicaTimeoutMs: 1_000, watchPollMs: 100 });
  stores.push(store);
  return store;
}

test("revisions: 0 when absent, then the journal sequence of each change; CAS on a stale revision returns null", async () => {
  const shard = nextShard++;
  const leader = await open(shard);
  const standby = await open(shard);
  assert.deepEqual(await leader.read(), { revision: 0, record: null });
  const r1 = await leader.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0);
  assert.equal(r1, 1);
  assert.equal(await standby.compareAndSet({ holder: "b", epoch: 2, renewals: 0 }, 0), null, "create of an existing lease");
  const r2 = await leader.compareAndSet({ holder: "a", epoch: 1, renewals: 1 }, 1);
  assert.equal(r2, 2);
  assert.deepEqual(await standby.read(), { revision: 2, record: { holder: "a", epoch: 1, renewals: 1 } });
  assert.equal(await standby.compareAndSet({ holder: "b", epoch: 2, renewals: 0 }, 1), null, "a stale revision");
  assert.equal(await standby.compareAndSet({ holder: "b", epoch: 2, renewals: 0 }, 2), 3, "takeover at the current revision");
  assert.equal(await leader.compareAndSet({ holder: "a", epoch: 1, renewals: 2 }, 2), null, "the old holder's renewal is refused");
  assert.deepEqual(await leader.read(), { revision: 3, record: { holder: "b", epoch: 2, renewals: 0 } });
});

test("acquirers racing for the same revision: exactly one wins each time", async () => {
  const shard = nextShard++;
  const contenders = [await open(shard), await open(shard), await open(shard)];
  let revision = 0;
  for (let round = 0; round < 10; round++) {
    const outcomes = await Promise.allSettled(contenders.map((c, i) => c.compareAndSet({ holder: `c${i}`, epoch: round + 1, renewals: 0 }, revision)));
    const won = outcomes.flatMap((o, i) => (o.status === "fulfilled" && o.value !== null ? [{ i, revision: o.value }] : []));
    // A loser sees null (refused) or, when three different records split the slot, "unavailable"
    // until the split is decided; never success.
    assert.ok(won.length <= 1, `round ${round}: ${won.length} winners`);
    for (const o of outcomes) if (o.status === "rejected") assert.ok(o.reason instanceof LogUnavailableError, String(o.reason));
    const now = await contenders[0]!.read();
    if (won.length === 1) {
      assert.equal(won[0]!.revision, revision + 1);
      assert.deepEqual(now, { revision: revision + 1, record: { holder: `c${won[0]!.i}`, epoch: round + 1, renewals: 0 } });
    }
    assert.ok(now.revision >= revision, "revisions never go back");
    revision = now.revision;
  }
  assert.ok(revision >= 5, `only ${revision} of 10 rounds had a winner`);
});

test("watch reports the current value, then changes in increasing revision order", async () => {
  const shard = nextShard++;
  const store = await open(shard);
  await store.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0);
  const seen: LeaseObservation[] = [];
  const watch = store.watch((o) => seen.push(o));
  try {
    const deadline = performance.now() + 5_000;
    while (seen.length === 0 && performance.now() < deadline) await sleep(10);
    assert.deepEqual(seen[0], { revision: 1, record: { holder: "a", epoch: 1, renewals: 0 } });
    const other = await open(shard);
    for (let i = 1; i <= 5; i++) await other.compareAndSet({ holder: "a", epoch: 1, renewals: i }, i);
    while (seen.at(-1)?.revision !== 6 && performance.now() < deadline) await sleep(10);
    assert.equal(seen.at(-1)?.revision, 6);
    assert.equal(seen.at(-1)?.record?.renewals, 5);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.revision > seen[i - 1]!.revision);
  } finally {
    watch.stop();
  }
});

test("a value that is not a lease record reads as no record at its revision, and can be replaced", async () => {
  const shard = nextShard++;
  const store = await open(shard);
  for (const nc of connections) await jetstream(nc).publish(quorumLeaseSubject(shard), new TextEncoder().encode("garbage"), { expect: { lastSequence: 0 } });
  assert.deepEqual(await store.read(), { revision: 1, record: null });
  assert.equal(await store.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 1), 2);
  assert.deepEqual(await store.read(), { revision: 2, record: { holder: "a", epoch: 1, renewals: 0 } });
});

test("renewals go on within a second when one server is killed", { timeout: 60_000 }, async (t) => {
  const shard = nextShard++;
  const leader = await open(shard);
  let revision = (await leader.compareAndSet({ holder: "a", epoch: 1, renewals: 0 }, 0))!;
  for (const victim of [0, 1, 2]) {
    let renewals = 0;
    const renewUntil = async (ms: number) => {
      let longest = 0;
      let lastOk = performance.now();
      const end = performance.now() + ms;
      while (performance.now() < end) {
        try {
          const next = await leader.compareAndSet({ holder: "a", epoch: 1, renewals: ++renewals }, revision);
          assert.notEqual(next, null, "nobody else writes this lease");
          revision = next!;
          longest = Math.max(longest, performance.now() - lastOk);
          lastOk = performance.now();
        } catch (err) {
          if (!(err instanceof LogUnavailableError)) throw err;
          // The write may have happened: read before retrying.
          revision = (await leader.read().catch(() => ({ revision }))).revision;
        }
        await sleep(20);
      }
      return Math.max(longest, performance.now() - lastOk);
    };
    const killing = (async () => {
      await sleep(200);
      const server = servers[victim]!;
      servers[victim] = undefined;
      process.kill(server.pid, "SIGKILL");
      await server.stop();
    })();
    const longest = await renewUntil(1_200);
    await killing;
    t.diagnostic(`longest renewal gap with server ${victim} killed: ${longest.toFixed(0)} ms`);
    assert.ok(longest < 1_000, `longest renewal gap ${longest.toFixed(0)} ms with server ${victim} killed`);
    servers[victim] = await startNatsServer({ dir: dirs[victim]!, port: ports[victim]!, syncAlways: true });
    // Let the journal bring it back in step before the next server goes.
    await renewUntil(3_000);
  }
  assert.deepEqual((await leader.read()).record?.holder, "a");
});
