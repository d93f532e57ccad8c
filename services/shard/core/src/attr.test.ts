/**
 * The directory size encoding of mfsmaster's fsnodes_fill_attr (protocol §3.2): never 0, bytes
 * × 100 below 1 KiB, then a decimal exponent in the millions with two decimals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeDirLength } from "./attr.ts";

test("directory lengths encode as mfsmaster's pseudo-float", () => {
  assert.equal(encodeDirLength(0), 1);
  assert.equal(encodeDirLength(3), 300);
  assert.equal(encodeDirLength(1023), 102_300);
  assert.equal(encodeDirLength(1024), 1_000_100);
  assert.equal(encodeDirLength(1.25 * 2 ** 20), 2_000_125);
  assert.equal(encodeDirLength(13.5 * 2 ** 30), 3_001_350);
  assert.equal(encodeDirLength(14.25 * 2 ** 40), 4_001_425);
  assert.equal(encodeDirLength(2 ** 50), 5_000_100);
});
