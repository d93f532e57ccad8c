import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessage, Status, type Command } from "@antler/ops";
import { LogDecodeError, ReplayMismatchError } from "../errors.ts";
import type { LogEntry } from "../log-entry.ts";
import { Harness, rootCtx, server } from "../test-kit.ts";

function entryOf(op: unknown): LogEntry {
  return { version: 1, stamp: { wallMs: 1, logical: 0, origin: 0 }, caller: { sessionId: 0, uid: 0, sesflags: 0 }, op } as LogEntry;
}

test("chunk log entries round-trip; malformed ones are LogDecodeError", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const file = h.create(1, "f");
  const execution = h.exec({ kind: "writechunk", inode: file, index: 0, flags: 0 }, { ...rootCtx, requestId: "x" });
  h.finish(execution.chunkWork);
  for (const entry of h.entries) assert.deepEqual(h.m.decodeEntry(h.m.encodeEntry(entry)), entry);
  const bad = [
    { kind: "chunkwrite", inode: file, index: 0, prevChunkId: 0, chunkId: 1n, version: 1, goal: 1, length: 0, lockedUntilMs: 0, touch: false, csids: [], pending: true },
    { kind: "chunkcopies", changes: [{ chunkId: 1n, csid: "1", version: 1, mark: false }], skipIds: [] },
    { kind: "chunkhousekeep", drop: [1], adopt: [] },
    { kind: "snapshot", cplike: false, replaced: null, nodes: [{ source: 1 }] },
  ];
  for (const op of bad) assert.throws(() => h.m.decodeEntry(encodeMessage(entryOf(op))), LogDecodeError, JSON.stringify(op, (_k, v: unknown) => (typeof v === "bigint" ? `${v}` : v)));
  assert.throws(() => h.m.decodeEntry(encodeMessage({ ...h.entries[0]!, requestId: 1 })), LogDecodeError);
});

test("a chunk entry that does not fit the state raises ReplayMismatchError", () => {
  const h = new Harness();
  const file = h.create(1, "f");
  const op = { kind: "chunkwrite", inode: file, index: 0, prevChunkId: 5n, chunkId: 5n, version: 1, goal: 1, length: 0, lockedUntilMs: 0, touch: false, csids: [], pending: false };
  assert.throws(() => h.m.apply({ ...entryOf(op), stamp: { wallMs: h.nowMs + 5000, logical: 0, origin: 0 } }), ReplayMismatchError);
  const fresh = new Harness();
  const drop = { kind: "chunkhousekeep", drop: [7n], adopt: [] };
  assert.throws(() => fresh.m.apply({ ...entryOf(drop), stamp: { wallMs: fresh.nowMs + 5000, logical: 0, origin: 0 } }), ReplayMismatchError);
});

test("malformed chunk commands are EINVAL", () => {
  const h = new Harness();
  const bad: unknown[] = [
    { kind: "readchunk", inode: 1 },
    { kind: "writechunk", inode: 1, index: 0, flags: "x" },
    { kind: "writechunkend", inode: 1, index: 0, chunkId: 1, length: 0, flags: 0 },
    { kind: "chunkscopies", slot: 0, csid: 1, fullReport: true, copies: [{ chunkId: 1, version: 1 }] },
    { kind: "chunksgone", slot: 0, csid: 1, chunkIds: [1] },
    { kind: "snapshot", inode: 1, parentDst: 1, nameDst: "x", smode: 0 },
  ];
  for (const cmd of bad) assert.equal(h.status(cmd as Command), Status.EINVAL, JSON.stringify(cmd));
});
