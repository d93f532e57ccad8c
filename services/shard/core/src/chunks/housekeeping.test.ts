import { test } from "node:test";
import assert from "node:assert/strict";
import { limits } from "@antler/base";
import { CopyState, Status, type ChunkLocation, type Ctx, type Result } from "@antler/ops";
import { slotOfChunkId } from "@antler/slots";
import type { ChunkCommand, ChunkserverView } from "../api.ts";
import { Harness, rootCtx, server } from "../test-kit.ts";

const system: Ctx = { ...rootCtx, sessionId: 0 };

function location(result: Result): ChunkLocation {
  assert.equal(result.status, Status.OK, `expected OK, got ${result.status}`);
  return result as unknown as ChunkLocation;
}

/** A file with one chunk written on `goal` servers of `servers`, unlocked. */
function oneChunk(goal: number, servers: ChunkserverView[]): { h: Harness; file: number; chunkId: bigint } {
  const h = new Harness();
  h.m.observeChunkservers(servers);
  const file = h.create(1, "f");
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal, smode: 0 });
  const execution = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  const chunkId = location(h.finish(execution.chunkWork).result).chunkId;
  h.ok({ kind: "writechunkend", inode: file, index: 0, chunkId, length: 100, flags: 0 });
  return { h, file, chunkId };
}

function report(h: Harness, csid: number, chunkId: bigint, version: number): void {
  h.ok({ kind: "chunkscopies", slot: slotOfChunkId(chunkId), csid, fullReport: true, copies: [{ chunkId, version }] }, system);
}

function commands(h: Harness): ChunkCommand[] {
  return [...(h.housekeep().chunkWork?.commands ?? [])];
}

function copies(h: Harness, file: number): { csid: number; state: number }[] {
  const result = h.run({ kind: "checkchunk", inode: file, index: 0 });
  assert.equal(result.status, Status.OK);
  return (result as unknown as { copies: { csid: number; state: number }[] }).copies;
}

test("a chunk below its goal is replicated from a valid copy to the least used server without one", () => {
  const { h, file, chunkId } = oneChunk(1, [server(1, 50), server(2, 20), server(3, 10)]);
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 3, smode: 0 });
  const work = h.housekeep().chunkWork!;
  assert.equal(work.awaited, false);
  const source = work.commands[0]!.command.op === "replicate" ? work.commands[0]!.command.sourceCsid : -1;
  assert.deepEqual(work.commands.map((c) => c.command), work.commands.map(() => ({ op: "replicate", chunkId, version: 1, sourceCsid: source })));
  assert.equal(work.commands.length, 2);
  assert.equal(commands(h).length, 0, "nothing more while the replications run");
  h.finish(work, (csid) => (csid === work.commands[0]!.csid ? 0 : Status.CSNOTPRESENT));
  assert.equal(copies(h, file).filter((c) => c.state === CopyState.VALID).length, 2);
  assert.equal(commands(h).length, 1, "the failed one is tried again");
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("servers in maintenance keep their copies counted but never get new ones", () => {
  const { h, file } = oneChunk(2, [server(1), server(2)]);
  h.m.observeChunkservers([server(1), server(2, 10, "maintenance"), server(3)]);
  assert.deepEqual(commands(h), [], "the copy in maintenance still counts");
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 3, smode: 0 });
  h.m.observeChunkservers([server(1), server(2, 10, "maintenance"), server(4, 10, "maintenance")]);
  assert.deepEqual(commands(h), [], "no registered server without a copy");
});

test("copies above the goal go from the fullest registered server, never below the goal", () => {
  const { h, file, chunkId } = oneChunk(3, [server(1, 10), server(2, 50), server(3, 90)]);
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 1, smode: 0 });
  const work = h.housekeep().chunkWork!;
  assert.deepEqual(work.commands.map((c) => [c.csid, c.command]), [[3, { op: "delete", chunkId, version: 1 }], [2, { op: "delete", chunkId, version: 1 }]]);
  h.finish(work);
  assert.deepEqual(copies(h, file).map((c) => c.csid), [1]);
  assert.deepEqual(commands(h), []);
});

test("wrong-version copies are deleted only while a valid copy exists; the last valid copy never", () => {
  const { h, file, chunkId } = oneChunk(1, [server(1), server(2)]);
  report(h, 2, chunkId, 7);
  assert.deepEqual(copies(h, file), [{ csid: 1, state: CopyState.VALID }, { csid: 2, state: CopyState.WRONG_VERSION }]);
  assert.deepEqual(commands(h).map((c) => [c.csid, c.command]), [[2, { op: "delete", chunkId, version: 7 }]]);
  h.m.observeChunkservers([server(2)]);
  // The valid copy's server is gone: copy 2 (version 7) is neither deleted nor adopted (not one off).
  const h2 = oneChunk(1, [server(1), server(2)]);
  report(h2.h, 2, h2.chunkId, 7);
  h2.h.m.observeChunkservers([server(2)]);
  assert.deepEqual(commands(h2.h), []);
});

test("a used chunk with only copies one version off adopts that version", () => {
  const { h, file, chunkId } = oneChunk(1, [server(1)]);
  h.ok({ kind: "chunkserverreset", csid: 1 }, system);
  report(h, 1, chunkId, 2);
  assert.equal(h.status({ kind: "readchunk", inode: file, index: 0 }), Status.CHUNKLOST);
  const pass = h.housekeep();
  assert.equal(pass.entry?.op.kind, "chunkhousekeep");
  assert.equal(location(h.run({ kind: "readchunk", inode: file, index: 0 })).version, 2);
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }).chunkWork?.commands[0]?.command.op, "set-version");
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("an unused chunk loses all its copies, then leaves the table", () => {
  const { h, file, chunkId } = oneChunk(2, [server(1), server(2)]);
  h.ok({ kind: "truncate", inode: file, flags: 0, length: 0 });
  const work = h.housekeep().chunkWork!;
  assert.deepEqual(work.commands.map((c) => [c.csid, c.command]), [[1, { op: "delete", chunkId, version: 0 }], [2, { op: "delete", chunkId, version: 0 }]]);
  h.finish(work, (csid) => (csid === 1 ? 0 : Status.NOCHUNK));
  const last = h.housekeep();
  assert.equal(last.chunkWork, undefined);
  assert.deepEqual(last.entry?.op, { kind: "chunkhousekeep", drop: [chunkId], adopt: [] });
  // A copy reported afterwards is unknown: deleted at once, not awaited.
  const late = h.exec({ kind: "chunkscopies", slot: slotOfChunkId(chunkId), csid: 2, fullReport: true, copies: [{ chunkId, version: 1 }] }, system);
  assert.deepEqual(late.chunkWork?.commands, [{ csid: 2, command: { op: "delete", chunkId, version: 0 } }]);
  assert.equal(late.chunkWork?.awaited, false);
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("a chunk being written is left alone; a pass issues at most the per-pass command budget", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1), server(2)]);
  const file = h.create(1, "big");
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 2, smode: 0 });
  const count = limits.chunkHousekeepingCommandsPerPass + 10;
  for (let index = 0; index < count; index++) {
    const execution = h.exec({ kind: "writechunk", inode: file, index, flags: 0 });
    const chunkId = location(h.finish(execution.chunkWork).result).chunkId;
    h.ok({ kind: "writechunkend", inode: file, index, chunkId, length: 0, flags: 0 });
  }
  h.ok({ kind: "writechunk", inode: file, index: 0, flags: 0 });
  h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 1, smode: 0 });
  const first = commands(h);
  assert.equal(first.length, limits.chunkHousekeepingCommandsPerPass);
  const locked = location(h.run({ kind: "readchunk", inode: file, index: 0 })).chunkId;
  assert.ok(!first.some((c) => c.command.chunkId === locked || c.command.op !== "delete"), "chunk 0 is still locked by its writer");
  const second = commands(h);
  assert.ok(second.length > 0 && second.length < first.length, `the rest follows (${second.length})`);
  assert.ok(second.every((c) => !first.some((f) => f.command.chunkId === c.command.chunkId)));
});

test("reports: lost copies are forgotten, a reset drops every copy of the server, ids of other slots are ignored", () => {
  const { h, file, chunkId } = oneChunk(2, [server(1), server(2)]);
  h.ok({ kind: "chunksgone", slot: slotOfChunkId(chunkId), csid: 1, chunkIds: [chunkId] }, system);
  assert.deepEqual(copies(h, file).map((c) => c.csid), [2]);
  const foreign = h.exec({ kind: "chunkscopies", slot: 5, csid: 1, fullReport: false, copies: [{ chunkId: 6n << 53n | 1n, version: 1 }] }, system);
  assert.equal(foreign.entry, null);
  h.ok({ kind: "chunkserverreset", csid: 2 }, system);
  assert.deepEqual(copies(h, file), []);
  assert.equal(h.status({ kind: "readchunk", inode: file, index: 0 }), Status.CHUNKLOST);
  assert.deepEqual(h.run({ kind: "checkfile", inode: file }), { status: 0, counts: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
  assert.deepEqual(h.replayed().exportState(), h.m.exportState());
});

test("after a failover in the middle of a version bump, the chunk adopts its copies' version even while locked", () => {
  const { h, file, chunkId } = oneChunk(1, [server(1)]);
  h.ok({ kind: "chunkserverreset", csid: 1 }, system);
  report(h, 1, chunkId, 1);
  assert.equal(h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }).chunkWork?.commands[0]?.command.op, "set-version");
  // A new leader replays the log: it has the bumped version, copies at the old one, no work in flight.
  const leader = h.replayed();
  leader.observeChunkservers([server(1)]);
  const now = h.nowMs + 1000;
  assert.equal(leader.execute({ kind: "readchunk", inode: file, index: 0 }, rootCtx, now).result.status, Status.CHUNKLOST);
  const pass = leader.housekeepChunks(now);
  assert.deepEqual(pass.entry?.op, { kind: "chunkhousekeep", drop: [], adopt: [{ chunkId, version: 1 }] });
  assert.equal(location(leader.execute({ kind: "readchunk", inode: file, index: 0 }, rootCtx, now + 1).result).version, 1);
});
