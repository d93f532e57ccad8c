/**
 * The session against a scripted fake master on 127.0.0.1: REGISTER first, replies matched only by
 * msgid (answered in reverse order, with NOPs and a notification in between), a timed-out request
 * fails alone, and a reply of the wrong type ends the session for everything still pending.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { code, FrameDecoder, type Frame } from "./protocol.ts";
import { RequestTimeoutError, Session, SessionClosedError } from "./session.ts";

/** A directory's attributes as mfsmaster sent them (moosefs-protocol.md §6, #19). */
const attr = Uint8Array.from(
  "0c21ed 00000000 00000000 6b07d0fe 6b07d0fe 6b07d0fe 00000002 0000000000000001 00"
    .replace(/ /g, "")
    .match(/../g)!
    .map((byte) => parseInt(byte, 16)),
);

function frame(type: number, parts: Array<number | Uint8Array>): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") bytes.push((part >>> 24) & 0xff, (part >>> 16) & 0xff, (part >>> 8) & 0xff, part & 0xff);
    else bytes.push(...part);
  }
  return new Uint8Array([...frame32(type), ...frame32(bytes.length), ...bytes]);
}
const frame32 = (value: number) => [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];

const registerReply = frame(code.registerReply, [0x000300ea, 7, 0, 1, new Uint8Array(33)]);

/** A fake master: answers REGISTER, then hands every request frame to `onRequest`. */
async function fakeMaster(onRequest: (request: Frame, msgid: number, socket: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder(1 << 20);
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      for (const request of decoder.push(chunk)) {
        if (request.type === code.register) {
          socket.write(frame(code.nop, [0])); // the real master may NOP before the reply
          socket.write(registerReply);
          continue;
        }
        if (request.type === code.nop) continue;
        onRequest(request, new DataView(request.payload.buffer, request.payload.byteOffset).getUint32(0), socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const open = (port: number, requestTimeoutMs?: number) =>
  Session.open({ host: "127.0.0.1", port, info: "/test", credentials: { uid: 0, gids: [0] }, ...(requestTimeoutMs ? { requestTimeoutMs } : {}) });

test("replies are matched by msgid, whatever their order", async () => {
  const held: Array<{ msgid: number; socket: net.Socket; inode: number }> = [];
  const master = await fakeMaster((request, msgid, socket) => {
    const parent = new DataView(request.payload.buffer, request.payload.byteOffset).getUint32(4);
    held.push({ msgid, socket, inode: 100 + parent });
    if (held.length === 5) {
      // Answer newest first, with unsolicited packets (msgid 0) in between.
      for (const reply of held.reverse()) {
        reply.socket.write(frame(code.invalidateChunkCache, [0]));
        reply.socket.write(frame(code.mkdir + 1, [reply.msgid, reply.inode, attr]));
      }
    }
  });
  try {
    const session = await open(master.port);
    assert.equal(session.grant.sessionId, 7);
    const replies = await Promise.all(
      [1, 2, 3, 4, 5].map((parent) => session.request({ kind: "mkdir", parent, name: new Uint8Array([0x61]), mode: 0o755, umask: 0 })),
    );
    assert.deepEqual(replies.map((timed) => timed.reply.inode), [101, 102, 103, 104, 105]);
    for (const timed of replies) assert.ok(timed.latencyMicros >= 0);
    assert.equal(session.inFlight, 0);
    session.close();
  } finally {
    master.close();
  }
});

test("an unanswered request times out alone; the session goes on", async () => {
  let seen = 0;
  const master = await fakeMaster((_request, msgid, socket) => {
    seen += 1;
    if (seen === 1) return; // the first request is never answered
    socket.write(frame(code.getattr + 1, [msgid, attr]));
  });
  try {
    const session = await open(master.port, 200);
    await assert.rejects(session.request({ kind: "getattr", inode: 1 }), RequestTimeoutError);
    const second = await session.request({ kind: "getattr", inode: 1 });
    assert.equal(second.reply.status, 0);
    session.close();
  } finally {
    master.close();
  }
});

test("a reply of the wrong type closes the session and fails every pending request", async () => {
  const master = await fakeMaster((_request, msgid, socket) => {
    if (msgid === 2) socket.write(frame(code.unlink + 1, [msgid, 3]));
  });
  try {
    const session = await open(master.port);
    const first = session.request({ kind: "getattr", inode: 1 });
    const second = session.request({ kind: "getattr", inode: 1 });
    await assert.rejects(first, SessionClosedError);
    await assert.rejects(second, SessionClosedError);
    await assert.rejects(session.request({ kind: "getattr", inode: 1 }), SessionClosedError);
  } finally {
    master.close();
  }
});

test("a refused REGISTER is an error, and nothing listening is an error", async () => {
  const server = net.createServer((socket) => socket.on("data", () => socket.end(frame(code.registerReply, [new Uint8Array([4])]))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await assert.rejects(open(port), /REGISTER refused with status 4/);
  } finally {
    server.close();
  }
  await assert.rejects(open(port));
});
