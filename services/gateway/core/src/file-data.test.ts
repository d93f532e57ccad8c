/**
 * File data requests (file-data.ts): the captured 3.0.117 request bytes give the expected
 * commands, and results give the captured reply bytes; chunkserver ids become addresses through
 * the locator; session rules and limits are answered without asking anyone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeFrame } from "@antler/mfs-wire";
import { CopyState, SessionFlag, Status } from "@antler/ops";
import type { ChunkserverAddress, ConnectionAction, SessionRecord } from "./api.ts";
import type { ClientConnectionOptions } from "./connection.ts";
import { Driver, hex, metaId, newSessionRequest, options, recordFrom, rootCred } from "./harness.test.ts";

/** The chunkserver of the capture (10.213.50.1:9422, 3.0.117) and two more; csid 4 is not connected. */
const servers = new Map<number, ChunkserverAddress>([
  [1, { ip: 0x0ad53201, port: 0x24ce, version: 0x000300ea, labelMask: 0 }],
  [2, { ip: 0x0ad53202, port: 0x24cf, version: 0x000300ea, labelMask: 0x5 }],
  [3, { ip: 0x0ad53203, port: 0x24d0, version: 0x000300e0, labelMask: 0 }],
]);
const locator = (csid: number): ChunkserverAddress | undefined => servers.get(csid);

function withLocator(exportsText?: string): ClientConnectionOptions {
  return { ...options(exportsText), chunkserverLocator: locator };
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (byte) => parseInt(byte, 16));
}

/** Feeds one captured client frame. */
function feedCaptured(driver: Driver, type: number, payloadHex: string) {
  return driver.feed(encodeFrame(type, fromHex(payloadHex)));
}

/** A driver whose session record is set up by hand (root inode, client version). */
function driverWith(record: Partial<SessionRecord>, opts = withLocator()): Driver {
  const driver = new Driver(opts);
  const create = driver.request(newSessionRequest()).find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  driver.created(create.token, { ...recordFrom(create.draft, 1), ...record });
  driver.sent.length = 0;
  return driver;
}

function lastSent(driver: Driver): { type: number; hex: string } {
  const frame = driver.sent.at(-1);
  assert.ok(frame !== undefined, "nothing was sent");
  return { type: frame.type, hex: hex(frame.payload) };
}

/** Whether `call` was recorded as its msgid's unanswered request (a mutation mfsmount may re-send). */
const recorded = (driver: Driver, call: Extract<ConnectionAction, { kind: "call" }>): boolean =>
  driver.actions.some((a) => a.kind === "unanswered-put" && a.request.requestId === call.request.ctx.requestId);

const noCalls = (driver: Driver) => driver.actions.filter((a) => a.kind === "call").length;

test("WRITE_CHUNK (captured): writechunk with the client's flags, answered with the captured chunk location", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(feedCaptured(driver, 434, "00000007000000040000000104"));
  assert.deepEqual(call.request.cmd, { kind: "writechunk", inode: 4, index: 1, flags: 0x04 });
  assert.deepEqual(call.route, { inode: 4 });
  assert.equal(recorded(driver, call), true, "recorded as unanswered");
  driver.result(call.token, { status: 0, length: 0x042c1d80, chunkId: 2n, version: 1, csids: [1] });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "000000070200000000042c1d800000000000000002000000010ad5320124ce000300ea00000000" });
});

test("READ_CHUNK (captured) of a hole: chunk id 0, no servers, and not recorded as unanswered (nothing changes)", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(feedCaptured(driver, 432, "00000006000000040000000100"));
  assert.deepEqual(call.request.cmd, { kind: "readchunk", inode: 4, index: 1 });
  assert.equal(recorded(driver, call), false, "nothing to re-send");
  driver.result(call.token, { status: 0, length: 0x042c1d80, chunkId: 0n, version: 0, csids: [] });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "000000060200000000042c1d80000000000000000000000000" });
});

test("READ_CHUNK lists the known chunkservers in the shard's order and leaves out unknown ones", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(driver.request({ kind: "readchunk", msgid: 9, inode: 5, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(call.token, { status: 0, length: 100, chunkId: 0x1234n, version: 7, csids: [3, 4, 2] });
  assert.deepEqual(lastSent(driver), {
    type: 433,
    hex: "00000009" + "02" + "0000000000000064" + "0000000000001234" + "00000007" +
      "0ad53203" + "24d0" + "000300e0" + "00000000" +
      "0ad53202" + "24cf" + "000300ea" + "00000005",
  });
});

test("READ_CHUNK whose listed chunkservers are all unreachable is CSNOTPRESENT (43), not an empty list", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(driver.request({ kind: "readchunk", msgid: 9, inode: 5, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(call.token, { status: 0, length: 100, chunkId: 0x1234n, version: 7, csids: [4, 77] });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "000000092b" });
  // A chunk the shard lists no copies for at all is the shard's answer and goes out as it is.
  const bare = Driver.call(driver.request({ kind: "readchunk", msgid: 10, inode: 5, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(bare.token, { status: 0, length: 100, chunkId: 0x1234n, version: 7, csids: [] });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "0000000a" + "02" + "0000000000000064" + "0000000000001234" + "00000007" });
});

test("WRITE_CHUNK whose chain is unreachable gets the empty list, so that mfsmount unlocks the chunk itself", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(driver.request({ kind: "writechunk", msgid: 3, inode: 5, chunkIndex: 2, chunkOpFlags: 0 }));
  driver.result(call.token, { status: 0, length: 0x8000000, chunkId: 9n, version: 2, csids: [4] });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "00000003" + "02" + "0000000008000000" + "0000000000000009" + "00000002" });
});

test("failed chunk results become status replies of the request's type", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const read = Driver.call(driver.request({ kind: "readchunk", msgid: 1, inode: 5, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(read.token, { status: Status.CHUNKLOST });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "0000000108" });
  const write = Driver.call(driver.request({ kind: "writechunk", msgid: 2, inode: 5, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(write.token, { status: Status.NOCHUNKSERVERS });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "000000020c" });
});

test("without a chunkserver locator READ_CHUNK, WRITE_CHUNK and CHECK of a chunk are ENOTSUP without asking anyone", () => {
  const driver = new Driver();
  driver.register();
  driver.request({ kind: "readchunk", msgid: 5, inode: 3, chunkIndex: 0, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "0000000527" });
  driver.request({ kind: "writechunk", msgid: 6, inode: 3, chunkIndex: 0, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "0000000627" });
  driver.request({ kind: "check", msgid: 7, inode: 3, chunkIndex: 0 });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "0000000727" });
  assert.equal(noCalls(driver), 0);
  // The rest needs no addresses.
  Driver.call(driver.request({ kind: "check", msgid: 8, inode: 3, chunkIndex: null }));
  Driver.call(driver.request({ kind: "writechunkend", msgid: 9, chunkId: 1n, inode: 3, chunkIndex: 0, length: 0n, chunkOpFlags: 0 }));
});

test("chunk indexes above 0x7FFFFFFF are INDEXTOOBIG (10) without asking anyone; 0x7FFFFFFF is asked", () => {
  const driver = new Driver(withLocator());
  driver.register();
  driver.request({ kind: "readchunk", msgid: 1, inode: 3, chunkIndex: 0x80000000, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "000000010a" });
  driver.request({ kind: "writechunk", msgid: 2, inode: 3, chunkIndex: 0xffffffff, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "000000020a" });
  driver.request({ kind: "check", msgid: 3, inode: 3, chunkIndex: 0x80000000 });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "000000030a" });
  assert.equal(noCalls(driver), 0);
  const call = Driver.call(driver.request({ kind: "readchunk", msgid: 4, inode: 3, chunkIndex: 0x7fffffff, chunkOpFlags: 0 }));
  assert.deepEqual(call.request.cmd, { kind: "readchunk", inode: 3, index: 0x7fffffff });
});

test("read-only sessions: writes are EROFS (33) without asking anyone; reads, CHECK still go to the shard", () => {
  const driver = new Driver(withLocator("* / ro,maproot=0:0"));
  driver.register();
  driver.request({ kind: "writechunk", msgid: 1, inode: 3, chunkIndex: 0, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "0000000121" });
  driver.request({ kind: "writechunkend", msgid: 2, chunkId: 5n, inode: 3, chunkIndex: 0, length: 10n, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 437, hex: "0000000221" });
  driver.request({ kind: "snapshot", msgid: 3, inode: 3, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 0, umask: 0 });
  assert.deepEqual(lastSent(driver), { type: 469, hex: "0000000321" });
  assert.equal(noCalls(driver), 0);
  Driver.call(driver.request({ kind: "readchunk", msgid: 4, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }));
  Driver.call(driver.request({ kind: "check", msgid: 5, inode: 3, chunkIndex: null }));
  Driver.call(driver.request({ kind: "check", msgid: 6, inode: 3, chunkIndex: 1 }));
});

test("export disables: read/write/snapshot are EPERM (1) before EROFS; a snapshot delete needs unlink and rmdir", () => {
  const driver = new Driver(withLocator("* / ro,maproot=0:0,disable=read:write:snapshot"));
  driver.register();
  driver.request({ kind: "readchunk", msgid: 1, inode: 3, chunkIndex: 0, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 433, hex: "0000000101" });
  driver.request({ kind: "writechunk", msgid: 2, inode: 3, chunkIndex: 0, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 435, hex: "0000000201" });
  driver.request({ kind: "writechunkend", msgid: 3, chunkId: 5n, inode: 3, chunkIndex: 0, length: 0n, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 437, hex: "0000000301" });
  driver.request({ kind: "snapshot", msgid: 4, inode: 3, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 0, umask: 0 });
  assert.deepEqual(lastSent(driver), { type: 469, hex: "0000000401" });
  assert.equal(noCalls(driver), 0);

  const deleting = new Driver(withLocator("* / rw,maproot=0:0,disable=unlink"));
  deleting.register();
  deleting.request({ kind: "snapshot", msgid: 5, inode: 3, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 0x80, umask: 0 });
  assert.deepEqual(lastSent(deleting), { type: 469, hex: "0000000501" });
  // disable=unlink does not forbid making a snapshot.
  Driver.call(deleting.request({ kind: "snapshot", msgid: 6, inode: 3, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 1, umask: 0 }));
});

test("WRITE_CHUNK_END (captured 29-byte form): writechunkend with index, length and flags; status reply", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(feedCaptured(driver, 436, "000000070000000000000002000000040000000100000000042c1d8000"));
  assert.deepEqual(call.request.cmd, { kind: "writechunkend", inode: 4, index: 1, chunkId: 2n, length: 0x042c1d80, flags: 0 });
  assert.equal(recorded(driver, call), true, "recorded as unanswered");
  driver.result(call.token, { status: 0 });
  assert.deepEqual(lastSent(driver), { type: 437, hex: "0000000700" });
  const failing = Driver.call(driver.request({ kind: "writechunkend", msgid: 8, chunkId: 2n, inode: 4, chunkIndex: 1, length: 0n, chunkOpFlags: 0 }));
  driver.result(failing.token, { status: Status.QUOTA });
  assert.deepEqual(lastSent(driver), { type: 437, hex: "0000000822" });
});

test("WRITE_CHUNK_END in the old forms (24/25 bytes) has no index: -1, found by chunk id", () => {
  const driver = new Driver(withLocator());
  driver.register();
  // 24 bytes: msgid chunkid inode length.
  const bare = Driver.call(feedCaptured(driver, 436, "00000003" + "0000000000000002" + "00000004" + "0000000000001000"));
  // A 3.0.117 session strips CANMODTIME, which mfsmaster assumes when no flags are sent.
  assert.deepEqual(bare.request.cmd, { kind: "writechunkend", inode: 4, index: -1, chunkId: 2n, length: 0x1000, flags: 0 });
  // 25 bytes: … chunkopflags.
  const flagged = Driver.call(feedCaptured(driver, 436, "00000004" + "0000000000000002" + "00000004" + "0000000000000000" + "07"));
  assert.deepEqual(flagged.request.cmd, { kind: "writechunkend", inode: 4, index: -1, chunkId: 2n, length: 0, flags: 0x06 });
});

test("clients before 3.0.74 keep CANMODTIME, and get it when they send no flags", () => {
  const driver = driverWith({ clientVersion: 0x00030040 });
  const write = Driver.call(driver.request({ kind: "writechunk", msgid: 1, inode: 4, chunkIndex: 0, chunkOpFlags: null }));
  assert.deepEqual(write.request.cmd, { kind: "writechunk", inode: 4, index: 0, flags: 0x01 });
  const end = Driver.call(driver.request({ kind: "writechunkend", msgid: 2, chunkId: 1n, inode: 4, chunkIndex: null, length: 0n, chunkOpFlags: 0x03 }));
  assert.deepEqual(end.request.cmd, { kind: "writechunkend", inode: 4, index: -1, chunkId: 1n, length: 0, flags: 0x03 });
});

test("WRITE_CHUNK_END with a length beyond 2^53 is EINVAL without asking anyone", () => {
  const driver = new Driver(withLocator());
  driver.register();
  driver.request({ kind: "writechunkend", msgid: 2, chunkId: 1n, inode: 4, chunkIndex: 0, length: 1n << 60n, chunkOpFlags: 0 });
  assert.deepEqual(lastSent(driver), { type: 437, hex: "0000000206" });
  assert.equal(noCalls(driver), 0);
});

test("CHECK without index (captured): checkfile, answered with exactly 12 counts", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(feedCaptured(driver, 440, "0000000800000003"));
  assert.deepEqual(call.request.cmd, { kind: "checkfile", inode: 3 });
  assert.equal(recorded(driver, call), false, "nothing to re-send");
  driver.result(call.token, { status: 0, counts: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "00000008" + "00000000" + "00000001" + "00000000".repeat(10) });
  // Fewer counts are padded with zeros, more are cut: mfscheckfile accepts only the 52-byte reply.
  const short = Driver.call(driver.request({ kind: "check", msgid: 9, inode: 3, chunkIndex: null }));
  driver.result(short.token, { status: 0, counts: [0, 0, 2] });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "00000009" + "00000000".repeat(2) + "00000002" + "00000000".repeat(9) });
  const long = Driver.call(driver.request({ kind: "check", msgid: 10, inode: 3, chunkIndex: null }));
  driver.result(long.token, { status: 0, counts: Array.from({ length: 14 }, (_, i) => i) });
  assert.equal(driver.sent.at(-1)!.payload.length, 52);
  const missing = Driver.call(driver.request({ kind: "check", msgid: 11, inode: 3, chunkIndex: null }));
  driver.result(missing.token, { status: Status.EPERM });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "0000000b01" });
});

test("CHECK with index (captured): checkchunk; copies by address with mfsfileinfo's CHECK_* types", () => {
  const driver = new Driver(withLocator());
  driver.register();
  const call = Driver.call(feedCaptured(driver, 440, "000000080000000300000000"));
  assert.deepEqual(call.request.cmd, { kind: "checkchunk", inode: 3, index: 0 });
  driver.result(call.token, { status: 0, chunkId: 1n, version: 2, copies: [{ csid: 1, state: CopyState.VALID }] });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "000000080000000000000001000000020ad5320124ce00" });

  const states = Driver.call(driver.request({ kind: "check", msgid: 9, inode: 3, chunkIndex: 4 }));
  driver.result(states.token, {
    status: 0,
    chunkId: 0xabn,
    version: 3,
    copies: [
      { csid: 2, state: CopyState.TO_DELETE },
      { csid: 4, state: CopyState.VALID },
      { csid: 3, state: CopyState.WRONG_VERSION },
      { csid: 1, state: CopyState.BUSY },
      { csid: 2, state: 99 },
    ],
  });
  assert.deepEqual(lastSent(driver), {
    type: 441,
    hex: "00000009" + "00000000000000ab" + "00000003" +
      "0ad53202" + "24cf" + "01" + // marked for removal
      "0ad53203" + "24d0" + "02" + // wrong version (csid 4 is not connected: left out)
      "0ad53201" + "24ce" + "00" + // busy copies are valid to mfsfileinfo
      "0ad53202" + "24cf" + "04", // unknown state: invalid
  });
});

test("SNAPSHOT (captured): snapshot with the caller mapped, the session umask added; status reply", () => {
  const driver = new Driver(withLocator("* / rw,maproot=500:600,umask=027"));
  driver.register();
  const call = Driver.call(feedCaptured(driver, 468, "00000008000000030000000204736e6170000000000000000100000000000012"));
  assert.deepEqual(call.request.cmd, { kind: "snapshot", inode: 3, parentDst: 2, nameDst: "snap", smode: 0, umask: 0o22 | 0o27 });
  assert.deepEqual({ uid: call.request.ctx.uid, gids: call.request.ctx.gids }, { uid: 500, gids: [600] });
  assert.equal(recorded(driver, call), true, "recorded as unanswered");
  assert.deepEqual(call.route, { inode: 3 });
  driver.result(call.token, { status: 0 });
  assert.deepEqual(lastSent(driver), { type: 469, hex: "0000000800" });
  const exists = Driver.call(driver.request({ kind: "snapshot", msgid: 9, inode: 3, parentDst: 2, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 0, umask: 0 }));
  driver.result(exists.token, { status: Status.EEXIST });
  assert.deepEqual(lastSent(driver), { type: 469, hex: "0000000905" });
});

test("a subfolder session maps inode 1 to its root in every file data command", () => {
  const driver = driverWith({ rootInode: 70 });
  const commands = [
    driver.request({ kind: "readchunk", msgid: 1, inode: 1, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "writechunk", msgid: 2, inode: 1, chunkIndex: 0, chunkOpFlags: 0 }),
    driver.request({ kind: "writechunkend", msgid: 3, chunkId: 1n, inode: 1, chunkIndex: 0, length: 0n, chunkOpFlags: 0 }),
    driver.request({ kind: "check", msgid: 4, inode: 1, chunkIndex: null }),
    driver.request({ kind: "check", msgid: 5, inode: 1, chunkIndex: 0 }),
    driver.request({ kind: "snapshot", msgid: 6, inode: 1, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 0, umask: 0 }),
  ].map((actions) => Driver.call(actions).request.cmd);
  for (const cmd of commands) assert.equal((cmd as { inode: number }).inode, 70, cmd.kind);
  assert.equal((commands[5] as { parentDst: number }).parentDst, 70);
});

test("a tools session (REGISTER rcode 4) is served CHECK, READ_CHUNK and SNAPSHOT like a mount", () => {
  const record = new Driver().register();
  const driver = new Driver(withLocator());
  const load = driver.request({ kind: "register", rcode: 4, sessionId: 1, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  driver.sent.length = 0;
  const check = Driver.call(driver.request({ kind: "check", msgid: 1, inode: 3, chunkIndex: 0 }));
  driver.result(check.token, { status: 0, chunkId: 1n, version: 2, copies: [{ csid: 1, state: CopyState.VALID }] });
  assert.deepEqual(lastSent(driver), { type: 441, hex: "000000010000000000000001000000020ad5320124ce00" });
  const read = Driver.call(driver.request({ kind: "readchunk", msgid: 2, inode: 3, chunkIndex: 0, chunkOpFlags: 0 }));
  driver.result(read.token, { status: 0, length: 1, chunkId: 1n, version: 2, csids: [1] });
  assert.equal(lastSent(driver).type, 433);
  const snapshot = Driver.call(driver.request({ kind: "snapshot", msgid: 3, inode: 3, parentDst: 1, nameDst: new Uint8Array([0x73]), credentials: rootCred, smode: 2, umask: 0o22 }));
  assert.equal(snapshot.request.cmd.kind, "snapshot");
  assert.equal(snapshot.request.ctx.sesflags & SessionFlag.ADMIN, SessionFlag.ADMIN);
});
