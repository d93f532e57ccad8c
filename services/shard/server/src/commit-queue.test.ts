/**
 * Group commit and reply ordering without NATS: the append is a controllable fake whose
 * acknowledgements the test resolves by hand. Checks the api.ts rule (a reply is released only
 * when every entry executed before it is durable, reads included), batching, limits, and that a
 * failed append stops everything. A seeded random schedule checks the rule against a model.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CommitQueue } from "./commit-queue.ts";

interface PendingAppend {
  readonly entries: readonly Uint8Array[];
  readonly tags: readonly string[];
  ack(): void;
  fail(err: unknown): void;
}

function harness(options: { batchEntriesMax?: number; batchBytesMax?: number } = {}) {
  const appends: PendingAppend[] = [];
  const released: string[] = [];
  const fatal: unknown[] = [];
  const scheduled: (() => void)[] = [];
  const queue = new CommitQueue<string>({
    append: (entries, tags) =>
      new Promise<void>((resolve, reject) => appends.push({ entries, tags, ack: resolve, fail: reject })),
    onFatal: (err) => fatal.push(err),
    schedule: (fn) => scheduled.push(fn),
    ...options,
  });
  const runScheduled = () => scheduled.splice(0).forEach((fn) => fn());
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const write = (name: string) => queue.submit(new Uint8Array([name.charCodeAt(0)]), () => released.push(name), name);
  const read = (name: string) => queue.submit(null, () => released.push(name));
  return { queue, appends, released, fatal, runScheduled, settle, write, read };
}

test("a read with nothing pending is released at once", () => {
  const h = harness();
  h.read("r");
  assert.deepEqual(h.released, ["r"]);
  assert.equal(h.appends.length, 0);
});

test("writes and the reads behind them wait for the append's ack", async () => {
  const h = harness();
  h.write("a");
  h.read("r1");
  h.runScheduled();
  assert.equal(h.appends.length, 1);
  assert.deepEqual(h.released, []);
  h.appends[0]!.ack();
  await h.settle();
  assert.deepEqual(h.released, ["a", "r1"]);
  assert.equal(h.queue.durable, 1);
});

test("entries of one turn share an append; entries during a flight share the next", async () => {
  const h = harness();
  h.write("a");
  h.write("b");
  h.runScheduled();
  assert.equal(h.appends.length, 1);
  assert.deepEqual(h.appends[0]!.tags, ["a", "b"]);
  // While the first append flies, three more writes and a read come in.
  h.write("c");
  h.read("r");
  h.write("d");
  h.write("e");
  h.runScheduled();
  assert.equal(h.appends.length, 1, "only one append in flight");
  h.appends[0]!.ack();
  await h.settle();
  assert.deepEqual(h.released, ["a", "b"]);
  assert.equal(h.appends.length, 2);
  assert.deepEqual(h.appends[1]!.tags, ["c", "d", "e"]);
  h.appends[1]!.ack();
  await h.settle();
  assert.deepEqual(h.released, ["a", "b", "c", "r", "d", "e"]);
  await h.queue.whenIdle();
});

test("batches respect the entry and byte limits", async () => {
  const h = harness({ batchEntriesMax: 2, batchBytesMax: 7 + 2 * 5 });
  for (const name of ["a", "b", "c", "d", "e"]) h.write(name);
  h.runScheduled();
  const sizes: number[] = [];
  while (h.appends.length > sizes.length) {
    sizes.push(h.appends[sizes.length]!.entries.length);
    h.appends[sizes.length - 1]!.ack();
    await h.settle();
  }
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.deepEqual(h.released, ["a", "b", "c", "d", "e"]);
  const bytes = harness({ batchBytesMax: 7 + 5 + 6 - 1 });
  bytes.queue.submit(new Uint8Array(1), () => bytes.released.push("1"));
  bytes.queue.submit(new Uint8Array(2), () => bytes.released.push("2"));
  bytes.runScheduled();
  assert.equal(bytes.appends[0]!.entries.length, 1, "the second entry does not fit the byte budget");
});

test("an entry larger than any record is fatal", () => {
  const h = harness({ batchBytesMax: 100 });
  h.queue.submit(new Uint8Array(200), () => h.released.push("big"));
  assert.equal(h.fatal.length, 1);
  assert.ok(h.fatal[0] instanceof RangeError);
  assert.ok(h.queue.failed);
});

test("a failed append stops the queue: nothing after the last ack is ever released", async () => {
  const h = harness();
  h.write("a");
  h.runScheduled();
  h.appends[0]!.ack();
  await h.settle();
  h.write("b");
  h.runScheduled();
  h.read("r");
  h.write("c");
  h.appends[1]!.fail(new Error("fenced"));
  await h.settle();
  h.runScheduled();
  h.read("late-read");
  h.write("late-write");
  h.runScheduled();
  await h.settle();
  assert.deepEqual(h.released, ["a"]);
  assert.equal(h.fatal.length, 1);
  assert.equal(h.appends.length, 2, "no append after the failure");
  await h.queue.whenIdle();
});

test("model check: every release happens after all earlier entries are durable, in order", () => {
  const step = fc.oneof(fc.constant("write" as const), fc.constant("read" as const), fc.constant("ack" as const), fc.constant("tick" as const));
  fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 80 }), async (steps) => {
      const h = harness({ batchEntriesMax: 3 });
      const submittedBefore = new Map<string, number>();
      let acked = 0;
      let durable = 0;
      let id = 0;
      const check = () => {
        for (const name of h.released) assert.ok(submittedBefore.get(name)! <= durable, `${name} released early`);
        assert.deepEqual(h.released, [...submittedBefore.keys()].slice(0, h.released.length), "released out of order");
      };
      for (const s of steps) {
        if (s === "write" || s === "read") {
          const name = `${s[0]}${id++}`;
          const before = h.queue.submitted + (s === "write" ? 1 : 0);
          submittedBefore.set(name, before);
          h.queue.submit(s === "write" ? new Uint8Array(1) : null, () => h.released.push(name));
        } else if (s === "tick") {
          h.runScheduled();
        } else if (acked < h.appends.length) {
          durable += h.appends[acked]!.entries.length;
          h.appends[acked++]!.ack();
          await h.settle();
        }
        check();
      }
      // Drain: everything gets released eventually.
      for (let i = 0; i < 200 && h.released.length < submittedBefore.size; i++) {
        h.runScheduled();
        if (acked < h.appends.length) {
          durable += h.appends[acked]!.entries.length;
          h.appends[acked++]!.ack();
        }
        await h.settle();
        check();
      }
      assert.equal(h.released.length, submittedBefore.size);
    }),
    { seed: 20261126, numRuns: 200 },
  );
});
