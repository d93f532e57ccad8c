/**
 * The JetStream behaviour Antler relies on, as a test suite that runs against any implementation:
 * the fake in jetstream.ts (jetstream.test.ts) and a real nats-server
 * (jetstream-contract.nats.test.ts). If the fake drifts from the real thing, one of them fails.
 *
 * The subject is promise-based because real NATS is; the fake is wrapped by `fakeContractSubject`,
 * which runs the simulation's loop until each answer arrives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventLoop } from "./loop.ts";
import { Prng } from "./prng.ts";
import { FakeJetStream } from "./jetstream.ts";

/** The shard log port (io-nats LogStream): fenced appends, idempotent by message id. */
export interface ContractLogStream {
  /** Resolves to the stored sequence (for a retried message id: the first copy's). */
  append(data: Uint8Array, expectedLastSeq: number, msgId?: string): Promise<number>;
  /** Messages from `fromSeq` to the end, in order. */
  read(fromSeq: number): Promise<readonly { readonly seq: number; readonly data: Uint8Array }[]>;
  lastSeq(): Promise<number>;
}

export interface ContractKv {
  create(key: string, value: Uint8Array): Promise<number>;
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  get(key: string): Promise<{ readonly value: Uint8Array; readonly revision: number } | null>;
  /** Removes the key; deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /** The key's current value (if any), then its later values, until stopped. */
  watch(key: string, onEntry: (entry: { readonly value: Uint8Array; readonly revision: number }) => void): Promise<{ stop(): void }>;
}

export interface ContractSubject {
  /** A fresh, empty stream and bucket for one test. */
  readonly stream: ContractLogStream;
  readonly kv: ContractKv;
  /** True for the rejection of a fenced append or a failed create/update CAS. */
  isFenced(error: unknown): boolean;
  /** Lets time pass (real or simulated) until `until()` holds; rejects after a few seconds. */
  settle(until: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

async function rejectsFenced(subject: ContractSubject, promise: Promise<unknown>, what: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(subject.isFenced(error), `${what}: expected a fencing rejection, got ${String(error)}`);
    return;
  }
  assert.fail(`${what}: expected a fencing rejection, but it succeeded`);
}

export function jetStreamContract(name: string, make: () => Promise<ContractSubject>, options: { readonly skip?: string | false } = {}): void {
  const run = (title: string, body: (subject: ContractSubject) => Promise<void>): void => {
    test(`${name}: ${title}`, { skip: options.skip ?? false }, async () => {
      const subject = await make();
      try {
        await body(subject);
      } finally {
        await subject.close();
      }
    });
  };

  run("sequences start at 1 and the empty stream's last sequence is 0", async (s) => {
    assert.equal(await s.stream.lastSeq(), 0);
    assert.equal(await s.stream.append(bytes("a"), 0), 1);
    assert.equal(await s.stream.append(bytes("b"), 1), 2);
    assert.equal(await s.stream.lastSeq(), 2);
  });

  run("an append with the right expected last sequence is stored, a stale one is refused", async (s) => {
    assert.equal(await s.stream.append(bytes("a"), 0), 1, "expected 0 on an empty stream");
    assert.equal(await s.stream.append(bytes("b"), 1), 2);
    await rejectsFenced(s, s.stream.append(bytes("stale"), 1), "stale expected sequence");
    await rejectsFenced(s, s.stream.append(bytes("future"), 5), "expected sequence ahead of the stream");
    assert.equal(await s.stream.lastSeq(), 2, "a refused append stores nothing");
    assert.deepEqual((await s.stream.read(1)).map((m) => text(m.data)), ["a", "b"]);
  });

  run("the retry of a stored append (same id, same expected sequence) returns its sequence and stores nothing", async (s) => {
    assert.equal(await s.stream.append(bytes("a"), 0, "m-1"), 1);
    // The retry of an append whose acknowledgement was lost: same id, same expected sequence.
    assert.equal(await s.stream.append(bytes("a"), 0, "m-1"), 1);
    assert.equal(await s.stream.lastSeq(), 1, "the duplicate was not stored");
    assert.equal(await s.stream.append(bytes("b"), 1, "m-2"), 2);
    await rejectsFenced(s, s.stream.append(bytes("c"), 1, "m-3"), "a new id is still fenced");
    await rejectsFenced(s, s.stream.append(bytes("a"), 1, "m-1"), "an id stored before the expected sequence is not this append's");
  });

  run("read returns the messages from a sequence on, in order", async (s) => {
    let last = 0;
    for (const t of ["a", "b", "c", "d"]) last = await s.stream.append(bytes(t), last);
    const tail = await s.stream.read(3);
    assert.deepEqual(tail.map((m) => [m.seq, text(m.data)]), [[3, "c"], [4, "d"]]);
    assert.deepEqual(await s.stream.read(5), []);
  });

  run("KV create refuses an existing key; update is a compare-and-set on the revision", async (s) => {
    assert.equal(await s.kv.get("lease"), null);
    const r1 = await s.kv.create("lease", bytes("holder-a"));
    assert.ok(r1 > 0);
    await rejectsFenced(s, s.kv.create("lease", bytes("holder-b")), "create of an existing key");
    const r2 = await s.kv.update("lease", bytes("holder-a+1"), r1);
    assert.ok(r2 > r1, "revisions increase");
    await rejectsFenced(s, s.kv.update("lease", bytes("holder-b"), r1), "update with a stale revision");
    const entry = await s.kv.get("lease");
    assert.ok(entry !== null);
    assert.equal(text(entry.value), "holder-a+1");
    assert.equal(entry.revision, r2);
    // Revisions are per bucket: another key's write moves them on.
    const other = await s.kv.create("other", bytes("x"));
    assert.ok(other > r2);
  });

  // The decision bucket of cross-shard transactions: "commit" or "abort" is written create-only, so
  // whoever creates the key first decides; the coordinator deletes it once every participant
  // acknowledged, and a later attempt of the same request may decide anew under another txid.
  run("KV delete: get answers null afterwards, create succeeds again, a second create is refused", async (s) => {
    const r1 = await s.kv.create("tx.r1_231", bytes("commit"));
    await rejectsFenced(s, s.kv.create("tx.r1_231", bytes("abort")), "create-only: the first decision stands");
    assert.equal(text((await s.kv.get("tx.r1_231"))!.value), "commit");
    await s.kv.delete("tx.r1_231");
    assert.equal(await s.kv.get("tx.r1_231"), null, "a deleted key reads as absent");
    await s.kv.delete("tx.r1_231");
    await s.kv.delete("never-written");
    const r2 = await s.kv.create("tx.r1_231", bytes("abort"));
    assert.ok(r2 > r1, "revisions increase across the delete");
    await rejectsFenced(s, s.kv.create("tx.r1_231", bytes("commit")), "create of the re-created key");
    assert.equal(text((await s.kv.get("tx.r1_231"))!.value), "abort");
  });

  run("KV: of two compare-and-sets on the same revision exactly one wins (how standbys race for a lease)", async (s) => {
    const r1 = await s.kv.create("lease", bytes("leader-1"));
    const outcomes = await Promise.allSettled([s.kv.update("lease", bytes("standby-a"), r1), s.kv.update("lease", bytes("standby-b"), r1)]);
    const won = outcomes.filter((o) => o.status === "fulfilled");
    assert.equal(won.length, 1, "exactly one CAS wins");
    const lost = outcomes.find((o) => o.status === "rejected");
    assert.ok(lost !== undefined && s.isFenced(lost.reason), "the other is refused as fenced, not as an error");
    const entry = await s.kv.get("lease");
    assert.equal(entry?.revision, (won[0] as PromiseFulfilledResult<number>).value);
    // The loser retrying on the revision it knew is refused too: it has to read first.
    await rejectsFenced(s, s.kv.update("lease", bytes("standby-b"), r1), "retry on the old revision");
  });

  run("KV watch: the current value first, then later values in revision order, ending at the newest", async (s) => {
    const written = new Map<number, string>();
    const r1 = await s.kv.create("lease", bytes("v1"));
    written.set(r1, "v1");
    const seen: { revision: number; value: string }[] = [];
    const watch = await s.kv.watch("lease", (e) => seen.push({ revision: e.revision, value: text(e.value) }));
    try {
      await s.settle(() => seen.length > 0, "the current value");
      assert.deepEqual(seen[0], { revision: r1, value: "v1" }, "the first report is the value at the watch's start");
      let revision = r1;
      for (const v of ["v2", "v3", "v4"]) {
        revision = await s.kv.update("lease", bytes(v), revision);
        written.set(revision, v);
      }
      // Another key's writes are not reported.
      await s.kv.create("other", bytes("x"));
      await s.settle(() => seen.at(-1)?.revision === revision, "the newest value");
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.revision > seen[i - 1]!.revision, "revisions only grow");
      for (const e of seen) assert.equal(e.value, written.get(e.revision), `revision ${e.revision} carries the value written with it`);
    } finally {
      watch.stop();
    }
  });

  run("KV watch: a key created after the watch started is reported", async (s) => {
    const seen: number[] = [];
    const watch = await s.kv.watch("late", (e) => seen.push(e.revision));
    try {
      const revision = await s.kv.create("late", bytes("x"));
      await s.settle(() => seen.includes(revision), "the created value");
      assert.deepEqual(seen, [revision]);
    } finally {
      watch.stop();
    }
  });
}

export class FencedError extends Error {
  override name = "FencedError";
}

/** The fake behind the promise-based contract: each call runs the loop until it is answered. */
export function fakeContractSubject(seed = 1): ContractSubject {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(seed).fork("jetstream"));
  const streamName = "CONTRACT";
  const bucket = "contract";
  const timeoutMs = 1_000;
  const call = <T extends { kind: string }>(start: (done: (answer: T) => void) => void): Promise<Exclude<T, { kind: "timeout" }>> => {
    let answer: T | undefined;
    start((a) => {
      answer = a;
    });
    loop.run({ until: () => answer !== undefined });
    assert.ok(answer !== undefined, "the fake never answered");
    if (answer.kind === "timeout") return Promise.reject(new Error("timeout"));
    return Promise.resolve(answer as Exclude<T, { kind: "timeout" }>);
  };
  return {
    stream: {
      async append(data, expectedLastSeq, msgId) {
        const answer = await call<import("./jetstream.ts").AppendAnswer>((done) =>
          js.append("contract", streamName, data, { expectedLastSeq, msgId, timeoutMs }, done),
        );
        if (answer.kind === "ok") {
          if (answer.duplicate && answer.seq !== expectedLastSeq + 1) throw new FencedError("message id stored elsewhere");
          return answer.seq;
        }
        // As the io-nats adapter: a wrong sequence may be our own earlier attempt.
        const found = await call<import("./jetstream.ts").MessageAtAnswer>((done) => js.messageAt("contract", streamName, expectedLastSeq + 1, timeoutMs, done));
        if (msgId !== undefined && found.message?.msgId === msgId) return expectedLastSeq + 1;
        throw new FencedError("wrong last sequence");
      },
      async read(fromSeq) {
        const answer = await call<import("./jetstream.ts").ReadAnswer>((done) => js.read("contract", streamName, fromSeq, timeoutMs, done));
        return answer.messages;
      },
      async lastSeq() {
        return (await call<import("./jetstream.ts").LastSeqAnswer>((done) => js.lastSeq("contract", streamName, timeoutMs, done))).lastSeq;
      },
    },
    kv: {
      async create(key, value) {
        const answer = await call<import("./jetstream.ts").KvWriteAnswer>((done) => js.kvCreate("contract", bucket, key, value, timeoutMs, done));
        if (answer.kind === "wrong-last-sequence") throw new FencedError("key exists");
        return answer.revision;
      },
      async update(key, value, revision) {
        const answer = await call<import("./jetstream.ts").KvWriteAnswer>((done) => js.kvUpdate("contract", bucket, key, value, revision, timeoutMs, done));
        if (answer.kind === "wrong-last-sequence") throw new FencedError("wrong revision");
        return answer.revision;
      },
      async get(key) {
        return (await call<import("./jetstream.ts").KvGetAnswer>((done) => js.kvGet("contract", bucket, key, timeoutMs, done))).entry;
      },
      async delete(key) {
        await call<{ readonly kind: "ok" } | { readonly kind: "timeout" }>((done) => js.kvDelete("contract", bucket, key, timeoutMs, done));
      },
      async watch(key, onEntry) {
        return js.kvWatch("contract", bucket, key, onEntry);
      },
    },
    isFenced: (error) => error instanceof FencedError,
    async settle(until, what) {
      loop.run({ until, deadlineMs: loop.nowMs + 5_000 });
      if (!until()) throw new Error(`the fake never delivered ${what}`);
    },
    close: async () => {},
  };
}
