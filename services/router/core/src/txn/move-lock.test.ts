import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMoveLock, encodeMoveLock, MoveLock, MoveLockRecordError } from "./move-lock.ts";
import type { CoordinatorPorts, MoveLockRecord } from "./ports.ts";

/** The lock record in memory, compare-and-set as the KV bucket; a clock that sleeping advances. */
class Store {
  record: MoveLockRecord | null = null;
  clockMs = 0;
  /** Runs on every sleep (another holder renewing, say). */
  onSleep: () => void = () => {};
  /** The next write happens but its answer is lost (rejects). */
  loseNextAnswer = false;
  writes = 0;

  ports(): CoordinatorPorts {
    return {
      readMoveLock: () => Promise.resolve(this.record),
      writeMoveLock: (holder, revision) => {
        this.writes++;
        if ((this.record?.revision ?? 0) !== revision) return Promise.resolve(null);
        this.record = { holder, revision: revision + 1 };
        if (this.loseNextAnswer) {
          this.loseNextAnswer = false;
          return Promise.reject(new Error("no answer from the decision bucket"));
        }
        return Promise.resolve(revision + 1);
      },
      nowMs: () => this.clockMs,
      sleep: (ms) => {
        this.clockMs += ms;
        this.onSleep();
        return Promise.resolve();
      },
    } as Partial<CoordinatorPorts> as CoordinatorPorts;
  }
}

test("acquire takes an absent or free lock; release frees it only at our revision", async () => {
  const store = new Store();
  const lock = new MoveLock(store.ports(), 1_000, 2_000);
  const first = await lock.acquire("a#1");
  assert.deepEqual(store.record, { holder: "a#1", revision: first });
  await lock.release(first!);
  assert.deepEqual(store.record, { holder: null, revision: first! + 1 });
  const second = await lock.acquire("b#1");
  assert.equal(second, first! + 2);
  // A release on an old revision (the lock was taken over meanwhile) changes nothing.
  await lock.release(first!);
  assert.deepEqual(store.record, { holder: "b#1", revision: second });
});

test("a held lock is waited for and taken over once its record stayed unchanged for staleMs", async () => {
  const store = new Store();
  store.record = { holder: "dead#1", revision: 7 };
  const lock = new MoveLock(store.ports(), 1_000, 2_000);
  const revision = await lock.acquire("b#1");
  assert.equal(revision, 8);
  assert.equal(store.record.holder, "b#1");
  assert.ok(store.clockMs >= 1_000, `taken over after ${store.clockMs} ms`);
});

test("a lock whose holder keeps writing is never taken over: acquire gives up after its patience", async () => {
  const store = new Store();
  store.record = { holder: "busy#1", revision: 1 };
  store.onSleep = () => {
    store.record = { holder: store.record!.holder, revision: store.record!.revision + 1 };
  };
  const lock = new MoveLock(store.ports(), 1_000, 3_000);
  assert.equal(await lock.acquire("b#1"), null);
  assert.equal(store.record.holder, "busy#1");
  assert.ok(store.clockMs >= 3_000);
});

test("a write whose answer was lost: acquire and fence find their own record", async () => {
  const store = new Store();
  const lock = new MoveLock(store.ports(), 1_000, 2_000);
  store.loseNextAnswer = true;
  assert.equal(await lock.acquire("a#1"), 1);
  store.loseNextAnswer = true;
  assert.equal(await lock.fence("a#1", 1), 2);
  assert.deepEqual(store.record, { holder: "a#1", revision: 2 });
});

test("fence fails once someone took the lock over", async () => {
  const store = new Store();
  const lock = new MoveLock(store.ports(), 1_000, 2_000);
  const held = await lock.acquire("a#1");
  assert.equal(await lock.fence("a#1", held!), held! + 1);
  store.record = { holder: "b#1", revision: held! + 2 };
  assert.equal(await lock.fence("a#1", held! + 1), null);
  assert.deepEqual(store.record, { holder: "b#1", revision: held! + 2 });
});

test("the record codec: holder or free; anything else is a typed error", () => {
  assert.equal(decodeMoveLock(encodeMoveLock("a#1")), "a#1");
  assert.equal(decodeMoveLock(encodeMoveLock(null)), null);
  for (const bad of ["", "[]", "{}", '{"holder":5}', '{"holder":""}', "null"]) {
    assert.throws(() => decodeMoveLock(new TextEncoder().encode(bad)), MoveLockRecordError, bad);
  }
});
