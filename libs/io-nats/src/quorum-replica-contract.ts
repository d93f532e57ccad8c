/**
 * What the quorum journal relies on from one replica (QuorumReplica), as one suite run against
 * JournalReplica on a real nats-server (quorum-log-stream.test.ts) and against the simulation's
 * in-memory replica (quorum-sim-replica.test.ts), so the fake the simulation's verdicts rest on
 * cannot drift from JetStream: write-once slots, the expected-last-id check, de-duplication,
 * reads, purges that keep the end, and replacement by name — a replacement deletes only the
 * stream that was judged, so a late one deletes nothing; processes deciding the same replacement
 * at once create one stream; a replica without its stream reads as missing until replaced
 * (ADR 0007).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ReplicaMissingError, ReplicaUnavailableError, type QuorumReplica, type ReplicaEntry } from "./quorum-replica.ts";

export interface ReplicaHarness {
  /** One process's replica of a fresh log on one server. */
  readonly replica: QuorumReplica;
  /** Another process's replica of the same log on the same server. */
  readonly other: QuorumReplica;
  /** Runs `call` to completion (the simulation drives its clock meanwhile). */
  run<T>(call: () => Promise<T>): Promise<T>;
  /** Waits until `check()` holds (the simulation runs its clock meanwhile); false after a while. */
  until(check: () => boolean): Promise<boolean>;
  /** The server loses the stream (deleted by an operator, or a lost disk). */
  dropStream(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export function quorumReplicaContract(name: string, open: () => Promise<ReplicaHarness>): void {
  describe(`QuorumReplica contract: ${name}`, () => {
    /** Appends records `ids` after `after` through `replica`, each expected to be stored. */
    const fill = async (h: ReplicaHarness, after: number, ids: readonly string[]): Promise<void> => {
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await h.run(() => h.replica.publish(bytes(id), after + i, id)), { kind: "stored" }, `${id} stored at ${after + i + 1}`);
      }
    };

    test("a fresh replica is empty and ends at 0; both processes see one stream", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await h.run(() => h.other.ensure());
      const view = await h.run(() => h.replica.view());
      assert.deepEqual({ first: view.first, last: view.last, lastId: view.lastId }, { first: 1, last: 0, lastId: undefined });
      assert.equal((await h.run(() => h.other.view())).stream, view.stream);
    });

    test("processes creating the replica at once all succeed and end on one stream", async () => {
      const h = await open();
      await h.run(() => Promise.all([h.replica.ensure(), h.other.ensure()]));
      const [mine, theirs] = await h.run(() => Promise.all([h.replica.view(), h.other.view()]));
      assert.equal(mine.stream, theirs.stream);
      await h.dropStream();
      // A lost stream, replaced by both at once: one new stream again.
      await h.run(() => Promise.all([h.replica.recreate([], 1), h.other.recreate([], 1)]));
      const [again, againTheirs] = await h.run(() => Promise.all([h.replica.view(), h.other.view()]));
      assert.equal(again.stream, againTheirs.stream);
      assert.notEqual(again.stream, mine.stream);
    });

    test("slots are write-once: a publish lands only where the replica ends", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a"]);
      assert.deepEqual(await h.run(() => h.other.publish(bytes("b"), 0, "b")), { kind: "taken", holderId: "a" });
      assert.deepEqual(await h.run(() => h.other.publish(bytes("c"), 5, "c")), { kind: "taken", holderId: undefined });
      const view = await h.run(() => h.other.view());
      assert.deepEqual({ first: view.first, last: view.last, lastId: view.lastId }, { first: 1, last: 1, lastId: "a" });
      const entry = await h.run(() => h.other.entryAt(1));
      assert.deepEqual(entry && { seq: entry.seq, data: text(entry.data), msgId: entry.msgId }, { seq: 1, data: "a", msgId: "a" });
      assert.equal(await h.run(() => h.other.entryAt(2)), null);
    });

    test("a re-sent record (same msg id) is stored once: its slot names it as the holder", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a"]);
      // The expected last sequence is checked before de-duplication: refused, and the slot is its own.
      assert.deepEqual(await h.run(() => h.other.publish(bytes("a"), 0, "a")), { kind: "taken", holderId: "a" });
      // Where the sequence matches, the duplicate is acknowledged at its first copy's slot, not stored again.
      assert.deepEqual(await h.run(() => h.other.publish(bytes("a"), 1, "a")), { kind: "taken", holderId: undefined });
      assert.equal((await h.run(() => h.replica.view())).last, 1);
    });

    test("an expected last id is checked after de-duplication: refused unless the last record is that one", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a"]);
      assert.deepEqual(await h.run(() => h.replica.publish(bytes("b"), 1, "b", "not-a")), { kind: "taken", holderId: undefined });
      assert.deepEqual(await h.run(() => h.replica.publish(bytes("b"), 1, "b", "a")), { kind: "stored" });
      assert.deepEqual(await h.run(() => h.replica.publish(bytes("c"), 2, "c", "not-b")), { kind: "taken", holderId: undefined });
      // A duplicate is acknowledged whatever id it expects (at its first slot: not this one).
      assert.deepEqual(await h.run(() => h.replica.publish(bytes("b"), 2, "b", "not-b")), { kind: "taken", holderId: undefined });
      assert.equal((await h.run(() => h.replica.view())).last, 2);
    });

    test("reads deliver a range in order; a purge drops what is below and keeps the end", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["r1", "r2", "r3", "r4", "r5"]);
      const seen: ReplicaEntry[] = [];
      await h.run(() => h.other.read(2, 4, 2, (entry) => seen.push(entry)));
      assert.deepEqual(seen.map((e) => [e.seq, e.msgId, text(e.data)]), [[2, "r2", "r2"], [3, "r3", "r3"], [4, "r4", "r4"]]);
      await h.run(() => h.other.purgeBefore(4));
      let view = await h.run(() => h.replica.view());
      assert.deepEqual({ first: view.first, last: view.last, lastId: view.lastId }, { first: 4, last: 5, lastId: "r5" });
      assert.equal(await h.run(() => h.replica.entryAt(3)), null);
      await h.run(() => h.replica.purgeBefore(6));
      view = await h.run(() => h.replica.view());
      assert.deepEqual({ first: view.first, last: view.last, lastId: view.lastId }, { first: 6, last: 5, lastId: undefined });
      await fill(h, 5, ["r6"]);
    });

    test("a replacement is an empty stream under a new name, seen by every process", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a", "b", "c"]);
      // The other process has read the stream before it was replaced.
      assert.equal((await h.run(() => h.other.entryAt(1)))?.msgId, "a");
      const judged = await h.run(() => h.replica.view());
      await h.run(() => h.replica.recreate([judged.stream], 3));
      const fresh = await h.run(() => h.replica.view());
      assert.notEqual(fresh.stream, judged.stream);
      assert.deepEqual({ first: fresh.first, last: fresh.last, lastId: fresh.lastId }, { first: 3, last: 2, lastId: undefined });
      assert.deepEqual(await h.run(() => h.other.publish(bytes("c2"), 2, "c2")), { kind: "stored" });
      assert.equal(await h.run(() => h.other.entryAt(1)), null);
      assert.equal((await h.run(() => h.other.entryAt(3)))?.msgId, "c2");
    });

    test("a replacement decided on a stream that was replaced since deletes nothing", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a"]);
      const judged = await h.run(() => h.replica.view());
      // Another process replaces the stream first and refills it with the agreed record.
      await h.run(() => h.other.recreate([judged.stream], 1));
      assert.deepEqual(await h.run(() => h.other.publish(bytes("a"), 0, "a")), { kind: "stored" });
      const refilled = await h.run(() => h.other.view());
      // The first process's replacement, decided on the old stream, arrives late: the same
      // decision creates the same stream (nothing to do), a different one is refused.
      await h.run(() => h.replica.recreate([judged.stream], 1));
      await assert.rejects(h.run(() => h.replica.recreate([judged.stream], 2)), ReplicaUnavailableError);
      const after = await h.run(() => h.replica.view());
      assert.deepEqual(after, refilled, "the refilled stream is untouched");
    });

    test("a replica without its stream reads as missing until it is replaced, under a new name", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      await fill(h, 0, ["a"]);
      const before = await h.run(() => h.replica.view());
      await h.dropStream();
      const missing = await h.run(() => h.other.view().then(() => undefined, (err: unknown) => err));
      assert.ok(missing instanceof ReplicaMissingError, `a view fails as missing: ${String(missing)}`);
      assert.deepEqual(missing.streams, []);
      // A view does not re-create it (that could race a replacement in progress): still missing.
      assert.ok((await h.run(() => h.replica.view().then(() => undefined, (err: unknown) => err))) instanceof ReplicaMissingError);
      await h.run(() => h.replica.recreate([], 4));
      const after = await h.run(() => h.other.view());
      assert.notEqual(after.stream, before.stream);
      assert.deepEqual({ first: after.first, last: after.last, lastId: after.lastId }, { first: 4, last: 3, lastId: undefined });
      assert.equal((await h.run(() => h.replica.view())).stream, after.stream);
    });

    test("stores are announced to subscribers, also after a replacement", async () => {
      const h = await open();
      await h.run(() => h.replica.ensure());
      let announced = 0;
      const stop = h.other.onPublish(() => announced++);
      try {
        await fill(h, 0, ["a"]);
        assert.ok(await h.until(() => announced >= 1), "the store was announced");
        await h.run(async () => h.replica.recreate([(await h.replica.view()).stream], 2));
        await fill(h, 1, ["b"]);
        assert.ok(await h.until(() => announced >= 2), "the store into the replacement was announced");
      } finally {
        stop();
      }
    });
  });
}
