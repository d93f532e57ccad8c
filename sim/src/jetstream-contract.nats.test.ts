/**
 * The JetStream contract against a real nats-server (loopback, random port, temporary store),
 * through the production adapters of libs/io-nats. Skipped when the nats-server binary is absent.
 * Also pins the raw server behaviour the fake imitates: the expected last sequence is checked
 * before the duplicate window.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, FencedError, openBucket, type NatsConnection } from "@antler/io-nats";
import { natsServerBinary, startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { jetStreamContract, type ContractSubject } from "./jetstream-contract.ts";

const binary = natsServerBinary();
const skip = binary === undefined ? "nats-server binary not found" : false;

let server: NatsServerHandle | undefined;
let dir: string | undefined;
let nc: NatsConnection | undefined;
let nextId = 100;

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), "antler-sim-contract-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "sim-contract");
});

after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

class KvFenced extends Error {
  override name = "KvFenced";
}

jetStreamContract(
  "nats-server",
  async (): Promise<ContractSubject> => {
    const id = nextId++;
    const log = await ensureShardLog(nc!, id);
    const bucket = await openBucket(nc!, `sim-contract-${id}`);
    return {
      stream: {
        append: (data, expectedLastSeq, msgId) => log.append(data, expectedLastSeq, msgId),
        async read(fromSeq) {
          const records: { seq: number; data: Uint8Array }[] = [];
          await log.readAll(fromSeq, (r) => records.push({ seq: r.seq, data: r.data.slice() }));
          return records;
        },
        lastSeq: () => log.lastSeq(),
      },
      kv: {
        async create(key, value) {
          const revision = await bucket.create(key, value);
          if (revision === null) throw new KvFenced("key exists");
          return revision;
        },
        async update(key, value, revision) {
          const next = await bucket.update(key, value, revision);
          if (next === null) throw new KvFenced("wrong revision");
          return next;
        },
        get: (key) => bucket.get(key),
        delete: (key) => bucket.delete(key),
        watch: (key, onEntry) => bucket.watch(key, onEntry),
      },
      isFenced: (error) => error instanceof FencedError || error instanceof KvFenced,
      async settle(until, what) {
        const deadline = Date.now() + 5_000;
        while (!until()) {
          if (Date.now() > deadline) throw new Error(`nats-server never delivered ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
      close: async () => {},
    };
  },
  { skip },
);

test("nats-server: the expected last sequence is checked before the duplicate window (what the fake imitates)", { skip }, async () => {
  const jsm = await jetstreamManager(nc!);
  await jsm.streams.add({ name: "SIM_RAW_ORDER", subjects: ["sim.raw.order"] });
  const js = jetstream(nc!);
  const first = await js.publish("sim.raw.order", "x", { msgID: "m1", expect: { lastSequence: 0 } });
  assert.equal(first.seq, 1);
  await assert.rejects(js.publish("sim.raw.order", "x", { msgID: "m1", expect: { lastSequence: 0 } }), /wrong last sequence/);
  const again = await js.publish("sim.raw.order", "x", { msgID: "m1", expect: { lastSequence: 1 } });
  assert.deepEqual([again.seq, again.duplicate], [1, true]);
});
