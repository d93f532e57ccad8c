/**
 * Session lifecycle of a connection (protocol §2): NEWSESSION → session-create → 49-byte reply;
 * RECONNECT and TOOLS resume a stored session; CLOSESESSION forgets it and closes; requests
 * before registration close the connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeRequest } from "@antler/mfs-wire";
import { NodeType, SessionFlag, Status } from "@antler/ops";
import { Driver, dirAttr, hex, metaId, newSessionRequest, options, peerIp, recordFrom } from "./harness.test.ts";

test("NEWSESSION fed byte by byte creates a session and answers the 49-byte reply of §2.3", () => {
  const driver = new Driver();
  const actions = driver.feed(encodeRequest(newSessionRequest()), 1);
  const create = actions.find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  assert.deepEqual(create.draft, {
    rootInode: 1, sesflags: SessionFlag.ADMIN, umask: 0, rootUid: 0, rootGid: 0, mapAllUid: 999, mapAllGid: 999,
    minGoal: 1, maxGoal: 9, minTrashTime: 0, maxTrashTime: 0xffffffff, disables: 0,
    info: "/mnt/antler", path: "/", peerIp, clientVersion: 0x000300ea,
  });
  assert.equal(driver.sent.length, 0, "no reply before the session exists");
  driver.created(create.token, recordFrom(create.draft, 1));
  assert.equal(driver.sent.length, 1);
  assert.equal(driver.sent[0]!.type, 401);
  // The capture of protocol §2.3 with this cluster's metaid.
  assert.equal(hex(driver.sent[0]!.payload), "000300ea" + "00000001" + "6b07d0ed6a9c537a" + "08" + "0000" + "00000000" + "00000000" + "000003e7" + "000003e7" + "01" + "09" + "00000000" + "ffffffff" + "00000000");
});

test("NEWSESSION without a matching export answers EACCES and leaves the connection open", () => {
  const driver = new Driver(options("192.168.0.0/16 / rw"));
  driver.request(newSessionRequest());
  assert.deepEqual(driver.lastReply(null), { kind: "register-status", status: Status.EACCES });
  assert.equal(driver.closedWith, null);
});

test("a subfolder mount resolves its root with lookups and maps inode 1 to it", () => {
  const driver = new Driver();
  const first = Driver.call(driver.request(newSessionRequest("/a/b")));
  assert.deepEqual(first.request.cmd, { kind: "lookup", parent: 1, name: "a" });
  const second = Driver.call(driver.result(first.token, { status: 0, inode: 5, attr: dirAttr, lflags: 0xff }));
  assert.deepEqual(second.request.cmd, { kind: "lookup", parent: 5, name: "b" });
  const create = driver.result(second.token, { status: 0, inode: 9, attr: dirAttr, lflags: 0xff }).find((a) => a.kind === "session-create");
  assert.ok(create?.kind === "session-create");
  assert.equal(create.draft.rootInode, 9);
  assert.equal(create.draft.path, "/a/b");
  driver.created(create.token, recordFrom(create.draft, 3));
  driver.sent.length = 0;
  const getattr = Driver.call(driver.request({ kind: "getattr", msgid: 1, inode: 1, opened: 0, uid: 0, gid: 0 }));
  assert.deepEqual(getattr.request.cmd, { kind: "getattr", inode: 9, opened: false });
  assert.equal(getattr.request.ctx.rootInode, 9);
  const lookup = Driver.call(driver.request({ kind: "lookup", msgid: 2, parent: 1, name: new Uint8Array([0x2e, 0x2e]), credentials: { uid: 0, gids: [0], form: "list" } }));
  driver.result(lookup.token, { status: 0, inode: 9, attr: dirAttr, lflags: 0xff });
  const reply = driver.lastReply(null);
  assert.ok(reply.kind === "lookup");
  assert.equal(reply.inode, 1, "the session root is inode 1 to the client");
});

test("a subfolder that is a file is ENOTDIR", () => {
  const driver = new Driver();
  const call = Driver.call(driver.request(newSessionRequest("/f")));
  driver.result(call.token, { status: 0, inode: 5, attr: { ...dirAttr, type: NodeType.FILE }, lflags: 0xff });
  assert.deepEqual(driver.lastReply(null), { kind: "register-status", status: Status.ENOTDIR });
});

test("RECONNECT of a stored session answers `000300ea 00`", () => {
  const record = new Driver().register();
  const driver = new Driver();
  const actions = driver.request({ kind: "register", rcode: 3, sessionId: 1, version: 0x000300ea, metaId });
  const load = actions.find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  assert.equal(load.sessionId, 1);
  driver.loaded(load.token, record);
  assert.equal(hex(driver.sent[0]!.payload), "000300ea00");
  // The resumed session serves requests.
  const call = Driver.call(driver.request({ kind: "statfs", msgid: 7 }));
  assert.equal(call.request.ctx.sessionId, 1);
});

test("RECONNECT of an unknown session or with a foreign metaid answers BADSESSIONID (35)", () => {
  const driver = new Driver();
  const load = driver.request({ kind: "register", rcode: 3, sessionId: 9, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, null);
  assert.equal(hex(driver.sent[0]!.payload), "000300ea23");
  const other = new Driver();
  const actions = other.request({ kind: "register", rcode: 3, sessionId: 1, version: 0x000300ea, metaId: 5n });
  assert.equal(actions.filter((a) => a.kind === "session-load").length, 0);
  assert.equal(hex(other.sent[0]!.payload), "000300ea23");
});

test("RECONNECT from another address without DYNAMICIP is EPERM", () => {
  const record = { ...new Driver().register(), peerIp: 0x0a000001 };
  const driver = new Driver();
  const load = driver.request({ kind: "register", rcode: 3, sessionId: 1, version: 0x000300ea, metaId }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  assert.equal(hex(driver.sent[0]!.payload), "000300ea01");
});

test("TOOLS registration answers a 1-byte status and GETDIRSTATS then uses the 40-byte form", () => {
  const record = new Driver().register();
  const driver = new Driver();
  const load = driver.request({ kind: "register", rcode: 4, sessionId: 1, version: 0x000300ea }).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  driver.loaded(load.token, record);
  assert.equal(hex(driver.sent[0]!.payload), "00");
  const call = Driver.call(driver.request({ kind: "getdirstats", msgid: 3, inode: 1 }));
  driver.result(call.token, { status: 0, inodes: 5, dirs: 1, files: 4, chunks: 2, length: 10, size: 20, realSize: 30 });
  assert.equal(driver.sent.at(-1)!.payload.length, 44);
});

test("CLOSESESSION tells the metadata tier, forgets the session, answers 0 and closes", () => {
  const driver = new Driver();
  driver.register();
  const actions = driver.request({ kind: "register", rcode: 6, sessionId: 1, metaId });
  assert.deepEqual(actions.map((a) => a.kind), ["call", "session-delete", "send", "close"]);
  const call = Driver.call(actions);
  assert.deepEqual(call.request.cmd, { kind: "closesession" });
  assert.equal(call.route, "all");
  assert.equal(hex(driver.sent.at(-1)!.payload), "00");
  // A late answer of the metadata tier is accepted quietly.
  assert.deepEqual(driver.result(call.token, { status: 0 }), []);
});

test("requests before registration, and a second NEWSESSION, close the connection", () => {
  const early = new Driver();
  early.request({ kind: "statfs", msgid: 1 });
  assert.match(early.closedWith ?? "", /before registration/);
  const twice = new Driver();
  twice.register();
  twice.request(newSessionRequest());
  assert.match(twice.closedWith ?? "", /registered/);
});

test("a REGISTER with an unknown blob closes the connection", () => {
  const driver = new Driver();
  const bytes = encodeRequest(newSessionRequest());
  bytes[8] = 0x41;
  driver.feed(bytes);
  assert.match(driver.closedWith ?? "", /bad request/);
});

test("GETRANDOM is refused with a status (password exports are not supported)", () => {
  const driver = new Driver();
  driver.request({ kind: "register", rcode: 1 });
  assert.deepEqual(driver.lastReply(null), { kind: "register-status", status: Status.ENOTSUP });
});

test("NEWSESSION carrying a known session id with unchanged rules reuses it; otherwise a new one", () => {
  const record = new Driver().register("/", 4);
  const reuse = new Driver();
  const request = { ...newSessionRequest(), sessionId: 4, metaId };
  const load = reuse.request(request).find((a) => a.kind === "session-load");
  assert.ok(load?.kind === "session-load");
  assert.equal(load.sessionId, 4);
  reuse.loaded(load.token, record);
  const reply = reuse.lastReply(null);
  assert.ok(reply.kind === "register-session");
  assert.equal(reply.sessionId, 4);
  const changed = new Driver(options("* / ro,alldirs"));
  const load2 = changed.request(request).find((a) => a.kind === "session-load");
  assert.ok(load2?.kind === "session-load");
  const actions = changed.loaded(load2.token, record);
  assert.equal(actions.filter((a) => a.kind === "session-create").length, 1, "rules changed: a new session");
});
