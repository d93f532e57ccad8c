/**
 * The resolver's decisions against a scripted decision store (the races a real bucket cannot be
 * made to show on demand): a lost create race obeys the winner, a transaction decided meanwhile is
 * left alone (no "abort" written for it), a malformed or foreign record leaves the transaction
 * prepared, one resolution per transaction at a time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BucketEntry } from "@antler/io-nats";
import { Status, txDecisionKey, type Command, type Result, type TxDecision } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import type { PreparedTransaction } from "./state-machine.ts";
import { decodeDecision, encodeDecision } from "@antler/router-core";
import { startTxResolver, type DecisionStore } from "./tx-resolver.ts";

const quiet = createLogger("tx-resolver-test", { level: "error", write: () => {} });
const old = (txid: string): PreparedTransaction => ({ txid, preparedAtMs: 0, clientRequestId: txid.split("#")[0]! });

/** A store whose get answers from `script` (one value per call, then the last), recording creates. */
function scriptedStore(script: Record<string, (TxDecision | null | Uint8Array)[]>, createWins = true) {
  const creates: { key: string; decision: TxDecision }[] = [];
  const reads = new Map<string, number>();
  const store: DecisionStore = {
    async get(key): Promise<BucketEntry | null> {
      const n = reads.get(key) ?? 0;
      reads.set(key, n + 1);
      const values = script[key] ?? [null];
      const value = values[Math.min(n, values.length - 1)] ?? null;
      if (value === null) return null;
      return { value: value instanceof Uint8Array ? value : encodeDecision(value), revision: 1 };
    },
    async create(key, value) {
      creates.push({ key, decision: decodeDecision(value) });
      return createWins ? 1 : null;
    },
  };
  return { store, creates, reads };
}

/**
 * A resolver whose clock starts at 8 s: one pass there sees the transactions given (their age
 * counts from then: the resolver's own clock, never the prepare stamp), then the clock moves to
 * 10 s, so those are old enough (2 s) and any added afterwards are young.
 */
async function harness(prepared: PreparedTransaction[], store: DecisionStore, execute?: (cmd: Command) => Promise<Result>) {
  const executed: Command[] = [];
  let now = 8_000;
  const resolver = startTxResolver({
    shardId: 4,
    decisions: store,
    prepared: () => prepared,
    slot: 123,
    execute:
      execute ??
      (async (cmd) => {
        executed.push(cmd);
        const txid = (cmd as { txid: string }).txid;
        prepared.splice(prepared.findIndex((t) => t.txid === txid), 1);
        return { status: Status.OK } as Result;
      }),
    nowMs: () => now,
    logger: quiet,
    intervalMs: 60_000,
    resolveAfterMs: 2_000,
  });
  await resolver.pass();
  assert.deepEqual(executed, [], "nothing is resolved the first time it is seen");
  now = 10_000;
  return { resolver, executed };
}

test("a lost create race obeys the record that won", async () => {
  const txid = "r:1#1";
  const commit: TxDecision = { decision: "commit", txid, participants: [4, 1], newInode: 77, by: "coordinator" };
  const { store, creates } = scriptedStore({ [txDecisionKey(txid)]: [null, commit] }, false);
  const { resolver, executed } = await harness([old(txid)], store);
  try {
    await resolver.pass();
    assert.equal(creates.length, 1, "it tried to write abort");
    assert.deepEqual(executed, [{ kind: "txcommit", slot: 123, txid, newInode: 77 }]);
  } finally {
    resolver.stop();
  }
});

test("a transaction decided while the record was read gets no abort record", async () => {
  const txid = "r:2#1";
  const prepared = [old(txid)];
  const { store, creates } = scriptedStore({});
  // The coordinator's txcommit lands while the resolver reads: the transaction is no longer prepared.
  const racing: DecisionStore = {
    get: async (key) => {
      const entry = await store.get(key);
      prepared.length = 0;
      return entry;
    },
    create: store.create,
  };
  const { resolver, executed } = await harness(prepared, racing);
  try {
    await resolver.pass();
    assert.equal(creates.length, 0);
    assert.equal(executed.length, 0);
  } finally {
    resolver.stop();
  }
});

test("a young transaction is left alone; an undecided old one is aborted with a record of its own", async () => {
  // The young one's prepare stamp is far in the past (a leader whose clock ran behind): still young.
  const prepared = [old("o:1#3")];
  const { store, creates } = scriptedStore({});
  const { resolver, executed } = await harness(prepared, store);
  prepared.push({ txid: "y:1#1", preparedAtMs: 0, clientRequestId: "y:1" });
  try {
    await resolver.pass();
    assert.deepEqual(creates, [{ key: txDecisionKey("o:1#3"), decision: { decision: "abort", txid: "o:1#3", participants: [], by: "shard.4" } }]);
    assert.deepEqual(executed, [{ kind: "txabort", slot: 123, txid: "o:1#3" }]);
    assert.deepEqual(prepared.map((t) => t.txid), ["y:1#1"]);
  } finally {
    resolver.stop();
  }
});

test("a malformed or foreign record leaves the transaction prepared", async () => {
  const a = "m:1#1";
  const b = "m:2#1";
  const { store, creates } = scriptedStore({
    [txDecisionKey(a)]: [new TextEncoder().encode("{not json")],
    [txDecisionKey(b)]: [{ decision: "commit", txid: "other#1", participants: [], by: "coordinator" }],
  });
  const prepared = [old(a), old(b)];
  const { resolver, executed } = await harness(prepared, store);
  try {
    await resolver.pass();
    assert.equal(executed.length, 0);
    assert.equal(creates.length, 0);
    assert.equal(prepared.length, 2);
  } finally {
    resolver.stop();
  }
});

test("one resolution per transaction at a time, and a failed one is tried again on the next pass", async () => {
  const txid = "s:1#1";
  const { store } = scriptedStore({ [txDecisionKey(txid)]: [{ decision: "abort", txid, participants: [], by: "coordinator" }] });
  const prepared = [old(txid)];
  let calls = 0;
  let release: (result: Result) => void = () => {};
  const { resolver } = await harness(prepared, store, (cmd) => {
    calls++;
    assert.equal(cmd.kind, "txabort");
    return new Promise<Result>((resolve) => (release = resolve));
  });
  try {
    const first = resolver.pass();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await resolver.pass(); // the first is still executing: not started again
    assert.equal(calls, 1);
    release({ status: Status.IO });
    await first;
    const second = resolver.pass();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(calls, 2, "tried again after the failure");
    release({ status: Status.OK });
    await second;
  } finally {
    resolver.stop();
  }
});
