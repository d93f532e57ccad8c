/**
 * Reply codec tests: every kind round-trips, and the success layouts have the exact sizes mfsmount
 * checks (protocol §0 "Riskiest details" and §3.4).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DecodeError } from "./errors.ts";
import { decodeReply, encodeReply, encodeReplyPayload, replyTypeOfReply, type MasterReply } from "./replies.ts";
import { fileAttr, requestForReply, sampleReplies } from "./samples.test.ts";

test("every sample reply round-trips through encode and decode", () => {
  for (const reply of sampleReplies) {
    const payload = encodeReplyPayload(reply);
    const decoded = decodeReply({ type: replyTypeOfReply(reply), payload }, requestForReply(reply));
    assert.deepEqual(decoded, reply, reply.kind);
  }
});

test("success layouts have the sizes mfsmount checks (bytes after msgid)", () => {
  const sizes: [MasterReply, number][] = [
    [{ kind: "attr", type: 409, msgid: 1, attr: fileAttr }, 36],
    [{ kind: "lookup", msgid: 1, inode: 3, attr: fileAttr, lflags: null, chunk: null }, 40],
    [{ kind: "lookup", msgid: 1, inode: 3, attr: fileAttr, lflags: 0xff, chunk: null }, 42],
    [{ kind: "node", type: 419, msgid: 1, inode: 3, attr: fileAttr }, 40],
    [{ kind: "create", msgid: 1, oflags: 0, inode: 3, attr: fileAttr }, 41],
    [{ kind: "open", msgid: 1, oflags: 0, attr: fileAttr }, 37],
    [{ kind: "truncate", msgid: 1, prevLength: 0n, attr: fileAttr }, 44],
    [{ kind: "removed", type: 421, msgid: 1, inode: 3 }, 4],
    [{ kind: "statfs", msgid: 1, totalSpace: 0n, availSpace: 0n, freeSpace: 0n, trashSpace: 0n, sustainedSpace: 0n, inodes: 0 }, 44],
    [{ kind: "posixlock-get", msgid: 1, pid: 0, lockType: 0, start: 0n, end: 0n }, 21],
    [{ kind: "status", type: 407, msgid: 1, status: 3 }, 1],
  ];
  for (const [reply, size] of sizes) assert.equal(encodeReplyPayload(reply).length, 4 + size, reply.kind);
});

test("NOP to a mount is type 0, length 4, zeros; TIME_SYNC reply is 12 bytes", () => {
  assert.deepEqual(encodeReply({ kind: "nop" }), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
  const timeSync = encodeReply({ kind: "timesync", msgid: 0, usec: 1n });
  assert.deepEqual(timeSync.subarray(0, 8), new Uint8Array([0, 0, 0x02, 0xc1, 0, 0, 0, 12]));
});

test("the 36-byte ATTR of a new directory matches the capture in protocol §3.2", () => {
  const attr = { type: 2, mode: 0o755, uid: 0, gid: 0, atime: 0x6b07d0fe, mtime: 0x6b07d0fe, ctime: 0x6b07d0fe, nlink: 2, length: 1, rdev: 0, flags: 0x0c, winattr: 0 } as const;
  const payload = encodeReplyPayload({ kind: "attr", type: 409, msgid: 0, attr });
  const hex = Array.from(payload.subarray(4), (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, "0c21ed" + "00000000" + "00000000" + "6b07d0fe".repeat(3) + "00000002" + "0000000000000001" + "00");
});

test("device attributes carry rdev then four zero bytes", () => {
  const payload = encodeReplyPayload({ kind: "attr", type: 409, msgid: 0, attr: { ...fileAttr, type: 6, length: 0, rdev: 0x0107 } });
  assert.deepEqual(payload.subarray(4 + 27, 4 + 35), new Uint8Array([0, 0, 1, 7, 0, 0, 0, 0]));
});

test("malformed replies are DecodeErrors", () => {
  assert.throws(() => decodeReply({ type: 409, payload: new Uint8Array(4 + 35) }, null), DecodeError);
  assert.throws(() => decodeReply({ type: 429, payload: new Uint8Array(12) }, null), DecodeError);
  assert.throws(() => decodeReply({ type: 401, payload: new Uint8Array(7) }, null), DecodeError);
});
