import { test } from "node:test";
import assert from "node:assert/strict";
import { limits } from "@antler/base";
import { ChunkOpFlag, Status, nameFromText, type ChunkLocation, type Result } from "@antler/ops";
import { slotOfChunkId } from "@antler/slots";
import { Harness, ctxOf, rootCtx, server } from "../test-kit.ts";

const MiB = 1024 * 1024;

function location(result: Result): ChunkLocation {
  assert.equal(result.status, Status.OK, `expected OK, got ${result.status}`);
  return result as unknown as ChunkLocation;
}

function setup(goal = 2, servers = [server(1, 10), server(2, 20), server(3, 30)]): { h: Harness; file: number } {
  const h = new Harness();
  h.m.observeChunkservers(servers);
  const dir = h.mkdir(1, "d");
  const file = h.create(dir, "f");
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal, smode: 0 });
  return { h, file };
}

/** Writes chunk `index` (creating it if needed) and returns its location. */
function write(h: Harness, inode: number, index: number, ctx = rootCtx, flags = 0): ChunkLocation {
  const execution = h.exec({ kind: "writechunk", inode, index, flags }, ctx);
  if (execution.chunkWork === undefined) return location(execution.result);
  return location(h.finish(execution.chunkWork).result);
}

function assertReplays(h: Harness): void {
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
}

test("a write to a hole creates a chunk of the file's slot on min(goal, servers) servers, least used first", () => {
  const { h, file } = setup(2);
  const execution = h.exec({ kind: "writechunk", inode: file, index: 2, flags: 0 });
  const work = execution.chunkWork!;
  assert.equal(work.awaited, true);
  assert.deepEqual(work.commands.map((c) => c.csid), [1, 2]);
  const chunkId = work.commands[0]!.command.chunkId;
  assert.deepEqual(work.commands.map((c) => c.command), [1, 2].map(() => ({ op: "create", chunkId, version: 1 })));
  assert.equal(slotOfChunkId(chunkId), file >>> limits.localBits);
  const answer = location(h.finish(work).result);
  assert.equal(answer.chunkId, chunkId);
  assert.equal(answer.version, 1);
  assert.deepEqual([...answer.csids].sort(), [1, 2]);
  assert.equal(answer.length, 2 * limits.chunkBytes, "a write beyond EOF grows the file to index·64 MiB");
  assert.equal(h.attr(file).length, 2 * limits.chunkBytes);
  const read = location(h.run({ kind: "readchunk", inode: file, index: 2 }));
  assert.equal(read.chunkId, chunkId);
  assert.deepEqual(location(h.run({ kind: "readchunk", inode: file, index: 0 })), { status: 0, length: 2 * limits.chunkBytes, chunkId: 0n, version: 0, csids: [] });
  assertReplays(h);
});

test("an unchanged chunk is answered at once; the same session may re-lock, others get LOCKED until END or expiry", () => {
  const { h, file } = setup(1);
  const first = write(h, file, 0);
  const again = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.equal(again.chunkWork, undefined);
  assert.deepEqual(location(again.result), first);
  const other = ctxOf(0, [0], 2);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }, other), Status.LOCKED);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: ChunkOpFlag.CONTINUE_OP }, other), Status.OK);
  // The other session holds the lock now; the first session's late END must not free it.
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: first.chunkId, length: 0, flags: 0 });
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.LOCKED);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: first.chunkId, length: 5 * MiB, flags: 0 }, other);
  assert.equal(h.attr(file).length, 5 * MiB);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.OK);
  h.nowMs += limits.chunkWriteLockMs + 1000;
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }, other), Status.OK, "the lock expired");
  assertReplays(h);
});

test("WRITE_CHUNK_END only grows the length; an unknown chunk is NOCHUNK", () => {
  const { h, file } = setup(1);
  const loc = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 3000, flags: 0 });
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 1000, flags: 0 });
  assert.equal(h.attr(file).length, 3000);
  assert.equal(h.status({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId + 1000n, length: 0, flags: 0 }), Status.NOCHUNK);
  assertReplays(h);
});

test("creation failing everywhere answers the failure and leaves a hole; partly failing keeps the copies that worked", () => {
  const { h, file } = setup(2);
  const failed = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.equal(h.finish(failed.chunkWork, Status.NOSPACE).result.status, Status.NOSPACE);
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).chunkId, 0n);
  const partly = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  const answer = location(h.finish(partly.chunkWork, (csid) => (csid === 1 ? Status.CSNOTPRESENT : 0)).result);
  assert.deepEqual(answer.csids, [2]);
  assert.notEqual(answer.chunkId, failed.chunkWork!.commands[0]!.command.chunkId, "chunk ids are never reused");
  assertReplays(h);
});

test("no chunkservers: NOCHUNKSERVERS; all full: NOSPACE; read-only session EROFS; directories EPERM", () => {
  const { h, file } = setup(1, []);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.NOCHUNKSERVERS);
  h.m.observeChunkservers([{ csid: 1, labelMask: 0, totalSpace: 0n, availSpace: 0n, state: "registered" }]);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.EAGAIN, "registered, space not reported yet: try again");
  h.m.observeChunkservers([server(1, 100)]);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.NOSPACE);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }, { ...rootCtx, sesflags: 1 }), Status.EROFS);
  assert.equal(h.status({ kind: "writechunk", inode: 1, index: 0, flags: 0 }), Status.EPERM);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: limits.chunkIndexMax + 1, flags: 0 }), Status.INDEXTOOBIG);
  assert.equal(h.status({ kind: "readchunk", inode: file, index: 2 ** 28 }), Status.INDEXTOOBIG, "its offset is beyond exact numbers");
  assert.equal(h.status({ kind: "readchunk", inode: file, index: -1 }), Status.EINVAL);
});

test("after a chunkserver re-registers its copies, the next write bumps the version first (SET_VERSION)", () => {
  const { h, file } = setup(2);
  const loc = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 10, flags: 0 });
  const slot = slotOfChunkId(loc.chunkId);
  h.ok({ kind: "chunkserverreset", csid: 1 }, { ...rootCtx, sessionId: 0 });
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).csids.length, 1, "copy on 1 forgotten");
  h.ok({ kind: "chunkscopies", slot, csid: 1, fullReport: true, copies: [{ chunkId: loc.chunkId, version: 1 }] }, { ...rootCtx, sessionId: 0 });
  const bump = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.deepEqual(bump.chunkWork!.commands.map((c) => c.command).sort(), [1, 2].map(() => ({ op: "set-version", chunkId: loc.chunkId, version: 2, oldVersion: 1 })));
  assert.equal(h.status({ kind: "readchunk", inode: file, index: 0 }), Status.LOCKED, "reads wait while the version changes");
  const answer = location(h.finish(bump.chunkWork).result);
  assert.equal(answer.version, 2);
  assert.equal(answer.chunkId, loc.chunkId);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 0, flags: 0 });
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }).chunkWork, undefined, "no second bump");
  assertReplays(h);
});

test("a failed version bump rolls back to the old version and asks again next time", () => {
  const { h, file } = setup(1);
  const loc = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 10, flags: 0 });
  h.ok({ kind: "chunkscopies", slot: slotOfChunkId(loc.chunkId), csid: 3, fullReport: false, copies: [{ chunkId: loc.chunkId, version: 1 }] }, { ...rootCtx, sessionId: 0 });
  const bump = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.equal(h.finish(bump.chunkWork, Status.CSNOTPRESENT).result.status, Status.CSNOTPRESENT);
  const read = location(h.run({ kind: "readchunk", inode: file, index: 0 }));
  assert.equal(read.version, 1);
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }).chunkWork?.commands[0]?.command.op, "set-version");
  assertReplays(h);
});

test("a valid copy on a server that is not live forces a version bump before writing", () => {
  const { h, file } = setup(2);
  const loc = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 10, flags: 0 });
  h.m.observeChunkservers([server(1, 10), server(3, 30)]);
  const bump = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  assert.deepEqual(bump.chunkWork!.commands.map((c) => [c.csid, c.command.op]), [[1, "set-version"]]);
});

test("a retried request waiting for chunkservers gets EAGAIN, and after the answer the remembered result", () => {
  const { h, file } = setup(1);
  const ctx = { ...rootCtx, requestId: "r1" };
  const first = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, ctx);
  assert.equal(first.entry!.requestId, undefined, "the answer's entry carries the request id");
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }, ctx), Status.EAGAIN);
  const answer = h.finish(first.chunkWork).result;
  assert.deepEqual(h.run({ kind: "writechunk", inode: file, index: 0, flags: 0 }, ctx), answer);
  assert.equal(h.m.finishChunkWork(first.chunkWork!.workId, [], h.nowMs).result.status, Status.EINVAL, "finished work is gone");
});

test("writing a chunk shared with a snapshot copies it on write (DUPLICATE) and leaves the snapshot's chunk alone", () => {
  const { h, file } = setup(1);
  const original = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: original.chunkId, length: 10, flags: 0 });
  const parent = h.ok({ kind: "lookup", parent: 1, name: nameFromText("d") }).inode;
  h.ok({ kind: "snapshot", inode: file, parentDst: parent, nameDst: nameFromText("snap"), smode: 0, umask: 0 });
  const snap = h.ok({ kind: "lookup", parent, name: nameFromText("snap") }).inode;
  assert.equal(location(h.run({ kind: "readchunk", inode: snap, index: 0 })).chunkId, original.chunkId);
  const cow = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  const command = cow.chunkWork!.commands[0]!.command;
  assert.equal(command.op, "duplicate");
  assert.ok(command.op === "duplicate" && command.oldChunkId === original.chunkId && command.oldVersion === 1 && command.version === 1);
  const copy = location(h.finish(cow.chunkWork).result);
  assert.notEqual(copy.chunkId, original.chunkId);
  assert.equal(location(h.run({ kind: "readchunk", inode: snap, index: 0 })).chunkId, original.chunkId);
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).chunkId, copy.chunkId);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: copy.chunkId, length: 0, flags: 0 });
  assert.equal(h.exec({ kind: "writechunk", inode: snap, index: 0, flags: 0 }).chunkWork, undefined, "the snapshot now owns the old chunk alone");
  assertReplays(h);
});

test("a chunk whose creation never finished is created again (one version up) by the next write", () => {
  const { h, file } = setup(1);
  const lost = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  const chunkId = lost.chunkWork!.commands[0]!.command.chunkId;
  // No outcome ever comes back (a new leader, or a shell that lost the work).
  h.nowMs += limits.chunkWriteLockMs + 1000;
  assert.equal(h.status({ kind: "readchunk", inode: file, index: 0 }), Status.CHUNKLOST);
  const again = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, ctxOf(0, [0], 2));
  assert.deepEqual(again.chunkWork!.commands.map((c) => c.command), [{ op: "create", chunkId, version: 2 }]);
  const answer = location(h.finish(again.chunkWork).result);
  assert.deepEqual([answer.chunkId, answer.version], [chunkId, 2]);
  assertReplays(h);
});

test("work whose outcome never comes stops holding its chunk after twice the chunk-op timeout", () => {
  const { h, file } = setup(1);
  const loc = write(h, file, 0);
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId: loc.chunkId, length: 10, flags: 0 });
  h.ok({ kind: "chunkscopies", slot: slotOfChunkId(loc.chunkId), csid: 1, fullReport: true, copies: [{ chunkId: loc.chunkId, version: 1 }] }, { ...rootCtx, sessionId: 0 });
  h.ok({ kind: "chunkscopies", slot: slotOfChunkId(loc.chunkId), csid: 3, fullReport: true, copies: [{ chunkId: loc.chunkId, version: 1 }] }, { ...rootCtx, sessionId: 0 });
  const stuck = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, { ...rootCtx, requestId: "s" });
  assert.ok(stuck.chunkWork !== undefined);
  assert.equal(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }), Status.EAGAIN);
  h.nowMs += 2 * limits.chunkOpTimeoutMs + 1000;
  assert.equal(h.status({ kind: "truncate", inode: file, flags: 0, length: 5 }), Status.LOCKED, "free of work, still locked by the writer");
  assert.notEqual(h.status({ kind: "writechunk", inode: file, index: 0, flags: 0 }, { ...rootCtx, requestId: "s" }), Status.EAGAIN);
});

test("the old WRITE_CHUNK_END form (no chunk index, sent as -1) unlocks by chunk id and grows the file", () => {
  const { h, file } = setup(1);
  const first = write(h, file, 0);
  const other = ctxOf(0, [0], 2);
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, other).result.status, Status.LOCKED);
  h.ok({ kind: "writechunkend", inode: file, index: -1, chunkId: first.chunkId, length: 1234, flags: 0 });
  assert.equal(h.attr(file).length, 1234);
  assert.equal(location(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, other).result).chunkId, first.chunkId);
  assertReplays(h);
});
