/** Lease holder ids and values as the shards write them, read for `antler status`. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { holderOfLeaseValue, leaseHolderOf, leaseKeyOf } from "./leaders.ts";

test("a holder id names its shard and replica; released or foreign ids name none", () => {
  assert.deepEqual(leaseHolderOf("s0.r2/1234-abc"), { shardId: 0, replicaId: 2 });
  assert.deepEqual(leaseHolderOf("s12.r0/x"), { shardId: 12, replicaId: 0 });
  assert.equal(leaseHolderOf(""), undefined);
  assert.equal(leaseHolderOf("s0.r1/"), undefined);
  assert.equal(leaseHolderOf("shard-0"), undefined);
  assert.equal(leaseKeyOf(3), "shard.3");
});

test("the holder is read from the lease record's JSON; anything else is no holder", () => {
  const encode = (value: string): Uint8Array => new TextEncoder().encode(value);
  assert.equal(holderOfLeaseValue(encode('{"holder":"s0.r1/p","epoch":3,"renewals":9}')), "s0.r1/p");
  assert.equal(holderOfLeaseValue(encode("{")), undefined);
  assert.equal(holderOfLeaseValue(encode('{"holder":7}')), undefined);
});
