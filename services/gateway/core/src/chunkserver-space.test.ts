/**
 * STATFS with the chunkservers' space (ClientConnectionOptions.chunkserverSpace): the shard
 * answers 0 for the disk figures, and the reply carries the registry's sum instead, while trash,
 * sustained and inode counts stay the shard's. Without the option the shard's values go out as
 * they are.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClientRequest } from "@antler/mfs-wire";
import { Status } from "@antler/ops";
import { Driver, options } from "./harness.test.ts";

const statfs: ClientRequest = { kind: "statfs", msgid: 7 };
const shardResult = { status: Status.OK, totalSpace: 0, availSpace: 0, freeSpace: 0, trashSpace: 11, sustainedSpace: 12, inodes: 5 };

test("STATFS reports the chunkservers' space, the rest from the shard", () => {
  const driver = new Driver({ ...options(), chunkserverSpace: () => ({ totalSpace: 5_000n, availSpace: 4_000n, freeSpace: 4_000n }) });
  driver.register();
  const call = Driver.call(driver.request(statfs));
  driver.result(call.token, shardResult);
  assert.deepEqual(driver.lastReply(statfs), {
    kind: "statfs",
    msgid: 7,
    totalSpace: 5_000n,
    availSpace: 4_000n,
    freeSpace: 4_000n,
    trashSpace: 11n,
    sustainedSpace: 12n,
    inodes: 5,
  });
});

test("without chunkserver space, STATFS carries the shard's values unchanged", () => {
  const driver = new Driver();
  driver.register();
  const call = Driver.call(driver.request(statfs));
  driver.result(call.token, shardResult);
  const reply = driver.lastReply(statfs);
  assert.ok(reply.kind === "statfs");
  assert.equal(reply.totalSpace, 0n);
  assert.equal(reply.trashSpace, 11n);
});
