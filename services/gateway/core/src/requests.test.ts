/**
 * Registered requests (protocol §3): the Command and Ctx sent to the metadata tier, and the exact
 * reply bytes built from hand-made Results, with the request's msgid echoed and replies leaving in
 * the order results arrive.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeRequest } from "@antler/mfs-wire";
import { SessionFlag, Status } from "@antler/ops";
import { Driver, dirAttr, enc, fileAttr, hex, options, rootCred, userCred } from "./harness.test.ts";

const attrHex = (flags: string, uid: string, gid: string) =>
  flags + "11a4" + uid + gid + "00000014" + "00000015" + "00000016" + "00000001" + "0000000000000003" + "00";

test("LOOKUP: command, ctx and the exact 42-byte reply with lflags", () => {
  const driver = new Driver();
  driver.register();
  const call = Driver.call(driver.request({ kind: "lookup", msgid: 0x1234, parent: 1, name: enc.encode("f"), credentials: userCred }));
  assert.deepEqual(call.request.cmd, { kind: "lookup", parent: 1, name: "f" });
  assert.deepEqual({ ...call.request.ctx, requestId: undefined }, { sessionId: 1, uid: 1000, gids: [1000, 5], sesflags: SessionFlag.ADMIN, rootInode: 1, requestId: undefined });
  assert.match(call.request.ctx.requestId ?? "", /^1:4660:\d+$/);
  assert.deepEqual(call.route, { inode: 1 });
  driver.result(call.token, { status: 0, inode: 3, attr: fileAttr, lflags: 0x00ff });
  assert.equal(driver.sent.at(-1)!.type, 407);
  assert.equal(hex(driver.sent.at(-1)!.payload), "00001234" + "00000003" + attrHex("08", "000003e8", "000003e8") + "00ff");
});

test("a failed result becomes `msgid status` of the request's reply type", () => {
  const driver = new Driver();
  driver.register();
  const call = Driver.call(driver.request({ kind: "lookup", msgid: 2, parent: 1, name: enc.encode("d"), credentials: rootCred }));
  driver.result(call.token, { status: Status.ENOENT });
  assert.equal(driver.sent.at(-1)!.type, 407);
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000203");
});

test("CREATE: umask of the session is added and the reply is the 41-byte layout", () => {
  const driver = new Driver(options("* / rw,alldirs,maproot=0:0,umask=027"));
  driver.register();
  const call = Driver.call(driver.request({ kind: "create", msgid: 9, parent: 2, name: enc.encode("f"), mode: 0o666, umask: 0o022, credentials: rootCred }));
  assert.deepEqual(call.request.cmd, { kind: "create", parent: 2, name: "f", mode: 0o666, umask: 0o027, });
  driver.result(call.token, { status: 0, inode: 3, attr: fileAttr, oflags: 0 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "00000009" + "00" + "00000003" + attrHex("08", "000003e8", "000003e8"));
});

test("replies go out in result order, each with its own msgid, exactly once", () => {
  const driver = new Driver();
  driver.register();
  const first = Driver.call(driver.request({ kind: "getattr", msgid: 1, inode: 1, opened: 0, uid: 0, gid: 0 }));
  const second = Driver.call(driver.request({ kind: "getattr", msgid: 2, inode: 2, opened: 0, uid: 0, gid: 0 }));
  driver.result(second.token, { status: 0, attr: dirAttr });
  driver.result(first.token, { status: 0, attr: dirAttr });
  assert.deepEqual(driver.sent.map((f) => new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0)), [2, 1]);
  assert.throws(() => driver.result(first.token, { status: 0, attr: dirAttr }), /unknown token/);
});

test("maproot: uid 0 becomes the export's root uid and primary gid; other gids stay", () => {
  const driver = new Driver(options("* / rw,maproot=500:600"));
  driver.register();
  const call = Driver.call(driver.request({ kind: "access", msgid: 1, inode: 1, credentials: { uid: 0, gids: [0, 7], form: "list" }, modemask: 4 }));
  assert.equal(call.request.ctx.uid, 500);
  assert.deepEqual(call.request.ctx.gids, [600, 7]);
});

test("mapall: users are mapped, attributes show the caller as owner of mapped files, and are not cached", () => {
  const driver = new Driver(options("* / rw,mapall=2000:3000"));
  driver.register();
  const call = Driver.call(driver.request({ kind: "lookup", msgid: 1, parent: 1, name: enc.encode("f"), credentials: userCred }));
  assert.equal(call.request.ctx.uid, 2000);
  assert.deepEqual(call.request.ctx.gids, [3000, 5]);
  driver.result(call.token, { status: 0, inode: 3, attr: { ...fileAttr, uid: 2000, gid: 4 }, lflags: 0xff });
  const reply = driver.lastReply(null);
  assert.ok(reply.kind === "lookup");
  assert.equal(reply.attr.uid, 1000, "owner == mapall uid is shown as the caller");
  assert.equal(reply.attr.gid, 0, "another group is shown as 0");
  assert.equal(reply.attr.flags & 0x01, 0x01, "MATTR_NOACACHE");
  // Root keeps seeing real owners (mapall without maproot squashes root to the mapall user).
  const rootCall = Driver.call(driver.request({ kind: "getattr", msgid: 2, inode: 3, opened: 0, uid: 0, gid: 0 }));
  assert.equal(rootCall.request.ctx.uid, 2000);
  driver.result(rootCall.token, { status: 0, attr: { ...fileAttr, uid: 77, gid: 88 } });
  const rootReply = driver.lastReply(null);
  assert.ok(rootReply.kind === "attr");
  assert.equal(rootReply.attr.uid, 77);
});

test("read-only sessions answer EROFS for changes without asking anyone, and still read", () => {
  const driver = new Driver(options("* / ro,maproot=0:0"));
  driver.register();
  const actions = driver.request({ kind: "mkdir", msgid: 5, parent: 1, name: enc.encode("d"), mode: 0o777, umask: 0o22, credentials: rootCred, copysgid: 1 });
  assert.equal(actions.filter((a) => a.kind === "call").length, 0);
  assert.equal(driver.sent.at(-1)!.type, 419);
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000521");
  driver.request({ kind: "open", msgid: 6, inode: 3, credentials: rootCred, flags: 0x02 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000621");
  Driver.call(driver.request({ kind: "open", msgid: 7, inode: 3, credentials: rootCred, flags: 0x01 }));
  const lookup = Driver.call(driver.request({ kind: "lookup", msgid: 8, parent: 1, name: enc.encode("f"), credentials: rootCred }));
  driver.result(lookup.token, { status: 0, inode: 3, attr: fileAttr, lflags: 0xff });
  const reply = driver.lastReply(null);
  assert.ok(reply.kind === "lookup");
  assert.equal(reply.lflags, 0x02ff, "LOOKUP_RO_FILESYSTEM set, as mfsmaster does");
});

test("TIME_SYNC answers 705 with the wall clock in microseconds", () => {
  const driver = new Driver();
  driver.register();
  driver.now = 1_795_678_244_276;
  driver.request({ kind: "timesync", msgid: 0 });
  assert.equal(driver.sent.at(-1)!.type, 705);
  assert.equal(hex(driver.sent.at(-1)!.payload), "00000000" + (1_795_678_244_276_000n).toString(16).padStart(16, "0"));
});

test("SUSTAINED_INODES and AMTIME_INODES are calls to every shard with no reply", () => {
  const driver = new Driver();
  driver.register();
  const sustained = Driver.call(driver.request({ kind: "sustained", deprecatedCode: false, inodes: [1, 3] }));
  assert.deepEqual(sustained.request.cmd, { kind: "sustained", inodes: [1, 3] });
  assert.equal(sustained.route, "all");
  const amtime = Driver.call(driver.request({ kind: "amtime", entries: [{ inode: 3, atime: 0, mtime: 5 }] }));
  driver.result(sustained.token, { status: 0 });
  driver.result(amtime.token, { status: 0 });
  assert.equal(driver.sent.length, 0);
});

test("tool requests: GETSCLASS becomes getgoal, SETSCLASS checks the session's goal limits", () => {
  const driver = new Driver(options("* / rw,maproot=0:0,mingoal=2,maxgoal=3"));
  driver.register();
  const get = Driver.call(driver.request({ kind: "getsclass", msgid: 1, inode: 3, gmode: 0 }));
  assert.deepEqual(get.request.cmd, { kind: "getgoal", inode: 3, gmode: 0 });
  driver.result(get.token, { status: 0, files: [{ value: 2, count: 1 }], dirs: [] });
  assert.equal(hex(driver.sent.at(-1)!.payload), "00000001" + "01" + "00" + "02" + "00000001");
  driver.request({ kind: "setsclass", msgid: 2, inode: 3, uid: 0, smode: 0, target: { goal: 5 } });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000201");
  const set = Driver.call(driver.request({ kind: "setsclass", msgid: 3, inode: 3, uid: 0, smode: 0, target: { goal: 3 } }));
  assert.deepEqual(set.request.cmd, { kind: "setgoal", inode: 3, uid: 0, goal: 3, smode: 0 });
});

test("GETDIRSTATS on a mount session answers the 56-byte form", () => {
  const driver = new Driver();
  driver.register();
  const call = Driver.call(driver.request({ kind: "getdirstats", msgid: 4, inode: 1 }));
  driver.result(call.token, { status: 0, inodes: 5, dirs: 1, files: 4, chunks: 2, length: 200001, size: 278528, realSize: 835584 });
  assert.equal(driver.sent.at(-1)!.payload.length, 60);
});

test("an unknown request type with a known reply type is ENOTSUP; malformed known ones close", () => {
  const driver = new Driver();
  driver.register();
  const frame = new Uint8Array([0, 0, 0x01, 0xe6, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 1]); // 486 PATHS
  driver.feed(frame);
  assert.equal(driver.sent.at(-1)!.type, 487);
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000927");
  assert.equal(driver.closedWith, null);
  driver.feed(new Uint8Array([0, 0, 0x01, 0x92, 0, 0, 0, 5, 0, 0, 0, 1, 0])); // STATFS of 5 bytes
  assert.match(driver.closedWith ?? "", /bad request/);
  assert.deepEqual(driver.connection.receive(encodeRequest({ kind: "statfs", msgid: 1 }), driver.now), [], "nothing after close");
});

test("an oversized frame closes the connection", () => {
  const driver = new Driver();
  driver.register();
  driver.feed(new Uint8Array([0, 0, 0x01, 0x92, 0xff, 0xff, 0xff, 0xff]));
  assert.match(driver.closedWith ?? "", /bad frame/);
});

test("requests split at every byte give the same call", () => {
  const driver = new Driver();
  driver.register();
  const actions = driver.request({ kind: "mkdir", msgid: 5, parent: 1, name: enc.encode("dir"), mode: 0o777, umask: 0o22, credentials: userCred, copysgid: 1 }, 1);
  assert.deepEqual(Driver.call(actions).request.cmd, { kind: "mkdir", parent: 1, name: "dir", mode: 0o777, umask: 0o22, copysgid: true });
});

test("operations disabled by the export answer EPERM without asking anyone", () => {
  const driver = new Driver(options("* / rw,maproot=0:0,disable=mkdir:chown"));
  driver.register();
  driver.request({ kind: "mkdir", msgid: 1, parent: 1, name: enc.encode("d"), mode: 0o777, umask: 0, credentials: rootCred, copysgid: 0 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000101");
  driver.request({ kind: "setattr", msgid: 2, inode: 3, opened: 0, credentials: rootCred, setmask: 0x04, mode: 0, uid: 5, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 4 });
  assert.equal(hex(driver.sent.at(-1)!.payload), "0000000201");
  assert.equal(driver.actions.filter((a) => a.kind === "call").length, 0);
});

test("READDIR with attributes maps the session root to 1 and echoes nedgeid", () => {
  const driver = new Driver();
  driver.register();
  const request = { kind: "readdir", msgid: 3, inode: 1, credentials: rootCred, flags: 1, maxEntries: 0xffffffff, nedgeId: 0n } as const;
  const call = Driver.call(driver.request(request));
  assert.deepEqual(call.request.cmd, { kind: "readdir", inode: 1, withAttr: true, maxEntries: 0xffffffff });
  driver.result(call.token, {
    status: 0,
    entries: [
      { name: ".", inode: 1, type: 2, attr: dirAttr },
      { name: "..", inode: 1, type: 2, attr: dirAttr },
      { name: "f", inode: 3, type: 1, attr: fileAttr },
    ],
  });
  const reply = driver.lastReply(request);
  assert.ok(reply.kind === "readdir");
  assert.deepEqual(reply.entries.map((e) => [new TextDecoder().decode(e.name), e.inode]), [[".", 1], ["..", 1], ["f", 3]]);
  assert.equal(driver.sent.at(-1)!.payload.length, 4 + 8 + 3 * (1 + 4 + 36) + 1 + 2 + 1);
});

test("lookup: lflags a shard cannot compute (0xFFFF, a node of another shard) are left out of the reply", () => {
  const driver = new Driver(options("* / rw"));
  driver.register();
  const call = Driver.call(driver.request({ kind: "lookup", msgid: 9, parent: 1, name: enc.encode("d"), credentials: userCred }));
  driver.result(call.token, { status: 0, inode: 3, attr: fileAttr, lflags: 0xffff });
  const reply = driver.lastReply(null);
  assert.ok(reply.kind === "lookup");
  assert.equal(reply.lflags, null, "the 40-byte form: mfsmount then checks every access with the master");
  const known = Driver.call(driver.request({ kind: "lookup", msgid: 10, parent: 1, name: enc.encode("f"), credentials: userCred }));
  driver.result(known.token, { status: 0, inode: 4, attr: fileAttr, lflags: 0x1f });
  const knownReply = driver.lastReply(null);
  assert.ok(knownReply.kind === "lookup");
  assert.equal(knownReply.lflags, 0x1f);
});
