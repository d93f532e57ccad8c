/** parseSessionRecord accepts exactly the SessionRecord shape and refuses anything else. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSessionRecord, SessionRecordError } from "./session-record.ts";

const record = {
  sessionId: 7,
  rootInode: 1,
  sesflags: 8,
  umask: 0,
  rootUid: 0,
  rootGid: 0,
  mapAllUid: 999,
  mapAllGid: 999,
  minGoal: 1,
  maxGoal: 9,
  minTrashTime: 0,
  maxTrashTime: 0xffffffff,
  disables: 0,
  info: "/mnt/mfs",
  path: "/",
  peerIp: 0x7f000001,
  clientVersion: 0x000300ea,
};

test("a complete record round-trips through JSON", () => {
  assert.deepEqual(parseSessionRecord(JSON.parse(JSON.stringify(record))), record);
});

test("unknown extra fields are dropped", () => {
  assert.deepEqual(parseSessionRecord({ ...record, extra: 1 }), record);
});

test("missing, mistyped and out-of-range fields are refused", () => {
  const bad: unknown[] = [
    null,
    [],
    "x",
    { ...record, sessionId: 0 },
    { ...record, sesflags: 256 },
    { ...record, umask: -1 },
    { ...record, peerIp: 2 ** 32 },
    { ...record, rootInode: 1.5 },
    { ...record, info: 3 },
    { ...record, minGoal: "1" },
  ];
  for (const value of bad) assert.throws(() => parseSessionRecord(value), SessionRecordError, JSON.stringify(value));
  const { path: _path, ...withoutPath } = record;
  assert.throws(() => parseSessionRecord(withoutPath), SessionRecordError);
});
