/**
 * The load generator's protocol interface (over @antler/mfs-wire) against packets captured from
 * mfsmount 3.0.117 talking to mfsmaster 3.0.117 (moosefs-protocol.md §6, worked example): our
 * requests must be byte-identical to the real client's, and the real master's replies must decode
 * to the right inode, status or entry count. Frames are also fed split at every offset.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildRequest,
  decodeRegisterReply,
  decodeReply,
  encodeRequest,
  type Frame,
  FrameDecoder,
  type MetaRequest,
  ProtocolError,
  registerNewSession,
  type SentRequest,
} from "./protocol.ts";

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, "").match(/../g)!.map((byte) => parseInt(byte, 16)));
const root = { uid: 0, gids: [0] };
const name = (text: string) => new TextEncoder().encode(text);
const attrOfDir = "0c21ed 00000000 00000000 6b07d0fe 6b07d0fe 6b07d0fe 00000002 0000000000000001 00";

const asFrame = (type: number, payload: string): Frame => ({ type, payload: hex(payload) });
const encode = (msgid: number, request: MetaRequest) => encodeRequest(buildRequest(msgid, request, root));

function frameHex(type: number, payload: string): Uint8Array {
  const body = hex(payload);
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setUint32(0, type);
  new DataView(out.buffer).setUint32(4, body.length);
  out.set(body, 8);
  return out;
}

const captured: Array<{ what: string; msgid: number; request: MetaRequest; type: number; payload: string }> = [
  { what: "#13 GETATTR 1", msgid: 1, request: { kind: "getattr", inode: 1 }, type: 408, payload: "00000001 00000001 00 00000000 00000000" },
  { what: "#16 LOOKUP d", msgid: 2, request: { kind: "lookup", parent: 1, name: name("d") }, type: 406, payload: "00000002 00000001 01 64 00000000 00000001 00000000" },
  {
    what: "#18 MKDIR d",
    msgid: 1,
    request: { kind: "mkdir", parent: 1, name: name("d"), mode: 0o777, umask: 0o022 },
    type: 418,
    payload: "00000001 00000001 01 64 01ff 0012 00000000 00000001 00000000 01",
  },
  {
    what: "#24 CREATE f",
    msgid: 2,
    request: { kind: "create", parent: 2, name: name("f"), mode: 0o666, umask: 0o022 },
    type: 482,
    payload: "00000002 00000002 01 66 01b6 0012 00000000 00000001 00000000",
  },
  { what: "#53 READDIR", msgid: 1, request: { kind: "readdir", inode: 2 }, type: 428, payload: "00000001 00000002 00000000 00000001 00000000 01 ffffffff 0000000000000000" },
  { what: "#56 UNLINK f", msgid: 2, request: { kind: "unlink", parent: 2, name: name("f") }, type: 420, payload: "00000002 00000002 01 66 00000000 00000001 00000000" },
  { what: "#59 RMDIR d", msgid: 4, request: { kind: "rmdir", parent: 1, name: name("d") }, type: 422, payload: "00000004 00000001 01 64 00000000 00000001 00000000" },
];

test("requests are byte-identical to mfsmount's (captured)", () => {
  for (const packet of captured) {
    assert.deepEqual(encode(packet.msgid, packet.request), frameHex(packet.type, packet.payload), packet.what);
  }
});

test("RENAME follows the §3.4 layout", () => {
  const request: MetaRequest = { kind: "rename", sourceParent: 2, sourceName: name("f"), targetParent: 3, targetName: name("gg") };
  assert.deepEqual(encode(7, request), frameHex(424, "00000007 00000002 01 66 00000003 02 6767 00000000 00000001 00000000"));
});

test("REGISTER NEWSESSION has the captured length and layout", () => {
  // A 21-character mount point is 22 bytes with its NUL, as in the capture (#9: length 101).
  const bytes = encodeRequest(registerNewSession("/mnt/".padEnd(21, "x")));
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0), 400);
  assert.equal(view.getUint32(4), 101);
  assert.equal(new TextDecoder().decode(bytes.subarray(8, 72)), "DjI1GAQDULI5d2YjA26ypc3ovkhjvhciTQVx3CS4nYgtBoUcsljiVpsErJENHaw0");
  assert.equal(bytes[72], 2);
  assert.equal(view.getUint32(73), 0x000300ea);
  assert.equal(view.getUint32(77), 22);
  assert.deepEqual(bytes.subarray(bytes.length - 6), hex("00000002 2f00"));
});

test("the captured REGISTER reply decodes; a 1-byte reply is a refusal", () => {
  const register = registerNewSession("/mnt");
  const reply = asFrame(401, "000300ea 00000001 6b07d0ed6a9c537a 08 0000 00000000 00000000 000003e7 000003e7 01 09 00000000 ffffffff 00000000");
  assert.deepEqual(decodeRegisterReply(reply, register), { version: 0x000300ea, sessionId: 1, metaId: 0x6b07d0ed6a9c537an });
  assert.throws(() => decodeRegisterReply(asFrame(401, "04"), register), /REGISTER refused with status 4/);
  assert.throws(() => decodeRegisterReply(asFrame(401, "000300ea 00"), register), ProtocolError);
  assert.throws(() => decodeRegisterReply(asFrame(0, "00000000"), register), ProtocolError);
});

const requests = {
  mkdir: { kind: "mkdir", parent: 1, name: name("d"), mode: 0o777, umask: 0o022 },
  create: { kind: "create", parent: 2, name: name("f"), mode: 0o666, umask: 0o022 },
  lookup: { kind: "lookup", parent: 1, name: name("d") },
  unlink: { kind: "unlink", parent: 2, name: name("f") },
  rmdir: { kind: "rmdir", parent: 1, name: name("d") },
  getattr: { kind: "getattr", inode: 2 },
  readdir: { kind: "readdir", inode: 2 },
  rename: { kind: "rename", sourceParent: 2, sourceName: name("f"), targetParent: 2, targetName: name("g") },
} as const satisfies Record<string, MetaRequest>;

/** The reply frame (msgid 1 + body) and the request it answers. */
function reply(kind: keyof typeof requests, body: string): [Frame, SentRequest] {
  const sent = buildRequest(1, requests[kind], root);
  const requestType = encodeRequest(sent);
  const type = new DataView(requestType.buffer).getUint32(0) + 1;
  return [asFrame(type, `00000001 ${body}`), sent];
}

test("captured replies decode to their inode, status or entry count", () => {
  assert.deepEqual(decodeReply(...reply("mkdir", `00000002 ${attrOfDir}`)), { status: 0, inode: 2, entries: 0 });
  assert.deepEqual(decodeReply(...reply("create", `00 00000003 ${attrOfDir}`)), { status: 0, inode: 3, entries: 0 });
  assert.deepEqual(decodeReply(...reply("lookup", "03")), { status: 3, inode: 0, entries: 0 });
  assert.deepEqual(decodeReply(...reply("lookup", `00000002 ${attrOfDir} 00ff`)), { status: 0, inode: 2, entries: 0 });
  assert.deepEqual(decodeReply(...reply("lookup", `00000002 ${attrOfDir}`)), { status: 0, inode: 2, entries: 0 }, "without lflags");
  assert.deepEqual(decodeReply(...reply("unlink", "00000003")), { status: 0, inode: 3, entries: 0 });
  assert.deepEqual(decodeReply(...reply("rmdir", "00000002")), { status: 0, inode: 2, entries: 0 });
  assert.deepEqual(decodeReply(...reply("rename", `00000003 ${attrOfDir}`)), { status: 0, inode: 3, entries: 0 });
  assert.deepEqual(decodeReply(...reply("getattr", attrOfDir)), { status: 0, inode: 0, entries: 0 });
  const entry = (entryName: string, inode: number) =>
    `${entryName.length.toString(16).padStart(2, "0")} ${Buffer.from(entryName).toString("hex")} ${inode.toString(16).padStart(8, "0")} ${attrOfDir}`;
  const [listing, sent] = reply("readdir", `0000000000000000 ${entry(".", 2)} ${entry("..", 1)} ${entry("f", 3)}`);
  assert.equal(listing.payload.length, 139, "as long as the captured READDIR reply (#54)");
  assert.equal(decodeReply(listing, sent).entries, 3);
});

test("replies of the wrong length are protocol errors", () => {
  assert.throws(() => decodeReply(...reply("getattr", "0000")), ProtocolError);
  assert.throws(() => decodeReply(...reply("mkdir", attrOfDir)), ProtocolError);
  assert.throws(() => decodeReply(...reply("rmdir", "000000")), ProtocolError);
  assert.throws(() => decodeReply(...reply("readdir", "0000000000000000 05 6162")), ProtocolError);
});

test("FrameDecoder reassembles frames split at every offset and rejects oversized ones", () => {
  const stream = new Uint8Array([...frameHex(0, "00000000"), ...frameHex(419, `00000001 00000002 ${attrOfDir}`), ...frameHex(421, "00000002 00000003")]);
  for (let split = 0; split <= stream.length; split += 1) {
    const decoder = new FrameDecoder(1024);
    const frames = [...decoder.push(stream.subarray(0, split)), ...decoder.push(stream.subarray(split))];
    assert.deepEqual(frames.map((frame) => [frame.type, frame.payload.length]), [[0, 4], [419, 44], [421, 8]], `split at ${split}`);
  }
  const decoder = new FrameDecoder(16);
  assert.throws(() => decoder.push(frameHex(429, "00".repeat(17))), (error: Error) => error.name === "FrameError");
});
