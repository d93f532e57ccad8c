/** The log batch codec: round trips, and strict refusal of anything malformed. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBatch, encodeBatch, LogBatchError } from "./log-batch.ts";

test("batches round-trip, empty entries included", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 20 }), (entries) => {
      assert.deepEqual(decodeBatch(encodeBatch(entries)).map((e) => [...e]), entries.map((e) => [...e]));
    }),
    { seed: 7, numRuns: 200 },
  );
});

test("the layout is magic, version, count, then length-prefixed entries", () => {
  assert.deepEqual([...encodeBatch([new Uint8Array([9, 8])])], [0x41, 0x4c, 1, 0, 0, 0, 1, 0, 0, 0, 2, 9, 8]);
});

test("malformed records are LogBatchError: every truncation, extra bytes, bad header", () => {
  const good = encodeBatch([new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
  for (let cut = 0; cut < good.length; cut++) assert.throws(() => decodeBatch(good.subarray(0, cut)), LogBatchError, `cut ${cut}`);
  assert.throws(() => decodeBatch(new Uint8Array([...good, 0])), LogBatchError);
  const badMagic = good.slice();
  badMagic[0] = 0;
  assert.throws(() => decodeBatch(badMagic), LogBatchError);
  const badVersion = good.slice();
  badVersion[2] = 2;
  assert.throws(() => decodeBatch(badVersion), LogBatchError);
  assert.throws(() => decodeBatch(new Uint8Array([0x41, 0x4c, 1, 0, 0, 0, 0])), LogBatchError, "zero entries");
  assert.throws(() => encodeBatch([]), LogBatchError);
});

test("random bytes never decode to anything but a batch or a LogBatchError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeBatch(bytes);
      } catch (err) {
        assert.ok(err instanceof LogBatchError);
      }
    }),
    { seed: 11, numRuns: 500 },
  );
});
