import { test } from "node:test";
import assert from "node:assert/strict";
import { limits } from "@antler/base";
import { Status, TruncateFlag, nameFromText, type ChunkLocation, type Result } from "@antler/ops";
import type { ChunkWork } from "../api.ts";
import { Harness, server } from "../test-kit.ts";

const MiB = 1024 * 1024;
const chunk = limits.chunkBytes;

function location(result: Result): ChunkLocation {
  assert.equal(result.status, Status.OK, `expected OK, got ${result.status}`);
  return result as unknown as ChunkLocation;
}

/** A file of `length` bytes whose chunks 0..n-1 exist on servers 1 and 2. */
function fileWithChunks(length: number): { h: Harness; file: number; ids: bigint[] } {
  const h = new Harness();
  h.m.observeChunkservers([server(1), server(2)]);
  const file = h.create(1, "f");
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 2, smode: 0 });
  const ids: bigint[] = [];
  for (let index = 0; index * chunk < length; index++) {
    const execution = h.exec({ kind: "writechunk", inode: file, index, flags: 0 });
    const loc = location(h.finish(execution.chunkWork).result);
    h.ok({ kind: "writechunkend", inode: file, index, chunkId: loc.chunkId, length: Math.min(length, (index + 1) * chunk), flags: 0 });
    ids.push(loc.chunkId);
  }
  return { h, file, ids };
}

function truncate(h: Harness, file: number, length: number, flags = 0): { work: ChunkWork | undefined; result: Result } {
  const execution = h.exec({ kind: "truncate", inode: file, flags, length });
  return { work: execution.chunkWork, result: execution.result };
}

function chunkIdAt(h: Harness, file: number, index: number): bigint {
  return location(h.run({ kind: "readchunk", inode: file, index })).chunkId;
}

test("shrinking inside a chunk cuts it on the chunkservers (version+1) before the length changes", () => {
  const { h, file, ids } = fileWithChunks(100 * MiB);
  const { work } = truncate(h, file, 10);
  assert.deepEqual(work!.commands.map((c) => c.command), [1, 2].map(() => ({ op: "truncate", chunkId: ids[0], length: 10, version: 2, oldVersion: 1 })));
  assert.equal(h.attr(file).length, 100 * MiB, "nothing changes before the chunkservers confirm");
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.EAGAIN, "busy chunk");
  const done = h.finish(work).result;
  assert.equal(done.status, Status.OK);
  assert.equal(h.attr(file).length, 10);
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).version, 2);
  assert.equal(chunkIdAt(h, file, 1), 0n, "the chunk past the end was released");
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("a length on a chunk boundary needs no chunkserver; chunks beyond are released", () => {
  const { h, file, ids } = fileWithChunks(100 * MiB);
  const { work, result } = truncate(h, file, chunk);
  assert.equal(work, undefined);
  assert.equal(result.status, Status.OK);
  assert.equal(chunkIdAt(h, file, 0), ids[0]);
  assert.equal(chunkIdAt(h, file, 1), 0n);
  assert.deepEqual(h.run({ kind: "checkfile", inode: file }), { status: 0, counts: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
});

test("shrinking across the 64 MiB boundary cuts the chunk the new end falls in", () => {
  const { h, file, ids } = fileWithChunks(100 * MiB);
  const { work } = truncate(h, file, 70 * MiB);
  assert.deepEqual(work!.commands.map((c) => c.command)[0], { op: "truncate", chunkId: ids[1], length: 6 * MiB, version: 2, oldVersion: 1 });
  h.finish(work);
  assert.equal(h.attr(file).length, 70 * MiB);
  assert.equal(chunkIdAt(h, file, 0), ids[0]);
});

test("growing inside an existing chunk also clears it past the old end; growing into a hole does not", () => {
  const { h, file } = fileWithChunks(10 * MiB);
  const grow = truncate(h, file, 20 * MiB);
  assert.equal(grow.work?.commands[0]?.command.op, "truncate");
  h.finish(grow.work);
  assert.equal(h.attr(file).length, 20 * MiB);
  const beyond = truncate(h, file, chunk + 5);
  assert.equal(beyond.work, undefined, "index 1 is a hole");
  assert.equal(h.attr(file).length, chunk + 5);
});

test("a chunk shared with a snapshot is cut as a new chunk (DUPTRUNC); the snapshot keeps the whole one", () => {
  const { h, file, ids } = fileWithChunks(10 * MiB);
  h.ok({ kind: "snapshot", inode: file, parentDst: 1, nameDst: nameFromText("snap"), smode: 0, umask: 0 });
  const snap = h.ok({ kind: "lookup", parent: 1, name: nameFromText("snap") }).inode;
  const { work } = truncate(h, file, 1000);
  const command = work!.commands[0]!.command;
  assert.ok(command.op === "duptrunc" && command.oldChunkId === ids[0] && command.length === 1000 && command.version === 1);
  h.finish(work);
  assert.equal(chunkIdAt(h, file, 0), command.chunkId);
  assert.equal(chunkIdAt(h, snap, 0), ids[0]);
  assert.equal(h.attr(snap).length, 10 * MiB);
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("a failed chunk truncate answers the failure, keeps the length and unlocks", () => {
  const { h, file, ids } = fileWithChunks(10 * MiB);
  const { work } = truncate(h, file, 5);
  assert.equal(h.finish(work, Status.CSNOTPRESENT).result.status, Status.CSNOTPRESENT);
  assert.equal(h.attr(file).length, 10 * MiB);
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).version, 1);
  assert.equal(chunkIdAt(h, file, 0), ids[0]);
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }).chunkWork?.commands[0]?.command.op, "set-version");
});

test("a chunk locked by a writer makes TRUNCATE answer LOCKED; UPDATE never shrinks", () => {
  const { h, file } = fileWithChunks(10 * MiB);
  h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.equal(truncate(h, file, 5).result.status, Status.LOCKED);
  const update = truncate(h, file, 5, TruncateFlag.UPDATE);
  assert.equal(update.work, undefined);
  assert.equal(h.attr(file).length, 10 * MiB);
});

test("open with TRUNCATE releases the chunks at once; housekeeping deletes their copies", () => {
  const { h, file, ids } = fileWithChunks(10 * MiB);
  h.ok({ kind: "open", inode: file, flags: 0x08 | 0x02 });
  assert.equal(chunkIdAt(h, file, 0), 0n);
  const housekeeping = h.housekeep();
  assert.deepEqual(housekeeping.chunkWork!.commands.map((c) => c.command), [1, 2].map(() => ({ op: "delete", chunkId: ids[0], version: 0 })));
});

test("unlink keeps the chunks while the file is in the trash; purging releases them", () => {
  const { h } = fileWithChunks(10 * MiB);
  h.ok({ kind: "sustained", inodes: [] });
  h.ok({ kind: "unlink", parent: 1, name: nameFromText("f") });
  assert.equal(h.housekeep().chunkWork, undefined, "trashed files still use their chunks");
  h.nowMs += 2 * 86_400_000;
  const entry = h.m.maintain(h.nowMs);
  assert.ok(entry !== null);
  h.entries.push(entry);
  assert.equal(h.housekeep().chunkWork?.commands.length, 2);
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});
