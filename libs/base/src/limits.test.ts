/** How the limits relate to each other; a change that breaks a relation fails here first. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as limits from "./limits.ts";

test("the inode layout fits the 31 bits clients leave us", () => {
  assert.equal(limits.slotBits + limits.localBits, 31);
  assert.equal(limits.slotCount * limits.inodesPerSlot, 2 ** 31);
  assert.ok(limits.inodeReservedMin < 2 ** 31);
  assert.ok(limits.rootInode < limits.inodesPerSlot, "the root lives in slot 0");
});

test("names, paths and xattrs fit the packets that carry them", () => {
  assert.ok(limits.nameBytesMax <= 255, "NAME has an 8-bit length");
  assert.ok(limits.xattrValueBytesMax + limits.xattrNameBytesMax + 64 < limits.clientPacketBytesMax);
  assert.ok(limits.masterToChunkserverPacketBytesMax < limits.clientPacketBytesMax);
});

test("a full batch of shard log entries has room in a log record", () => {
  // Each entry costs at least its 4-byte length prefix; the batch header is 7 bytes.
  assert.ok(7 + limits.shardLogBatchEntriesMax * 4 < limits.shardLogRecordBytesMax);
  assert.ok(limits.xattrValueBytesMax + limits.xattrNameBytesMax + 1024 < limits.shardLogRecordBytesMax, "a setxattr entry fits a record");
  assert.ok(limits.shardCountMax <= limits.slotCount, "every shard owns at least one slot");
  assert.ok(limits.shardLogDuplicateWindowMs >= 10_000, "longer than a shard's append retry window");
});

test("chunkserver registry timings keep a connected chunkserver listed", () => {
  assert.ok(limits.chunkserverRecordRefreshMs * 3 <= limits.chunkserverRecordTtlMs, "a refresh can fail twice without the record expiring");
  assert.ok(limits.chunkserverTimeoutMinSeconds <= limits.chunkserverTimeoutDefaultSeconds);
  assert.ok(limits.chunkserverListMax >= limits.chunkserverIdMax, "a listing can hold every csid");
  assert.ok(limits.gatewayTickMs * 4 <= (limits.chunkserverTimeoutMinSeconds * 1000) / 3, "ticks are fine-grained enough for keepalives every timeout/3");
});
