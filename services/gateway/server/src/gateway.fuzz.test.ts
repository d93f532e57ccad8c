/**
 * Fuzz: many connections throw random, truncated and oversized packets at a running gateway
 * while one well-behaved mount keeps asking LOOKUPs. The gateway must stay up, the good mount
 * must get every answer right and on time, and no connection may hit an unexpected exception in
 * the gateway (those are logged as "connection failed unexpectedly": a bug even though the shell
 * contains it). Bounded (a few seconds), all randomness from one seed, which is printed:
 * reproduce with ANTLER_FUZZ_SEED=<seed> node --test src/gateway.fuzz.test.ts.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { Status } from "@antler/ops";
import { fileInode, fileName, startTestCluster, type GatewayProcess, type TestCluster } from "./test-support/cluster.ts";
import { Code, frame, lookupPayload, MfsTestClient, newSessionPayload, PayloadWriter, reconnectPayload } from "./test-support/mfs-client.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env.ANTLER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const fuzzMs = 5_000;
const fuzzers = 16;

let cluster: TestCluster;
let gateway: GatewayProcess;

before(async () => {
  process.stdout.write(`gateway fuzz seed ${seed} (ANTLER_FUZZ_SEED=${seed} to reproduce)\n`);
  cluster = await startTestCluster();
  gateway = await cluster.startGateway();
});
after(async () => {
  await cluster?.stop();
});

function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** One hostile packet stream, chosen by the seed. */
function hostileStream(random: () => number): Uint8Array[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);
  const clientTypes = [0, 1, 2, 10, 80, 400, 402, 404, 406, 408, 410, 412, 414, 416, 418, 420, 422, 424, 426, 428, 430, 432, 434, 436, 464, 478, 482, 488, 492, 494, 499, 700, 701, 704, int(2 ** 32)];
  const randomFrame = () => frame(pick(clientTypes), randomBytes(random, pick([0, 1, 3, 4, 5, 8, 13, 17, 22, 40, int(600)])));
  const registered = () => frame(Code.REGISTER, newSessionPayload(`/fuzz/${int(1000)}`));
  const chunks: Uint8Array[] = [];
  switch (int(7)) {
    case 0: // noise
      chunks.push(randomBytes(random, int(3000)));
      break;
    case 1: // plausible frames with random bodies, unregistered
      for (let i = int(10); i >= 0; i--) chunks.push(randomFrame());
      break;
    case 2: // registered, then random frames
      chunks.push(registered());
      for (let i = int(20); i >= 0; i--) chunks.push(randomFrame());
      break;
    case 3: {
      // registered, then a valid LOOKUP cut short
      chunks.push(registered());
      const lookup = frame(Code.LOOKUP, lookupPayload(1 + int(100), 1, fileName));
      chunks.push(lookup.slice(0, int(lookup.length)));
      break;
    }
    case 4: // a header announcing far more than the limit, then some of it
      chunks.push(new PayloadWriter().u32(pick([406, 400, 700, 0])).u32(50_000_001 + int(2 ** 31)).build(), randomBytes(random, int(1000)));
      break;
    case 5: // register variants with corrupted fields
      {
        const payload = pick([newSessionPayload("/x"), reconnectPayload(int(2 ** 32), BigInt(int(2 ** 32)))]);
        const corrupt = payload.slice(0, int(payload.length + 1));
        if (corrupt.length > 0 && random() < 0.5) corrupt[int(corrupt.length)] = int(256);
        chunks.push(frame(Code.REGISTER, corrupt));
        for (let i = int(5); i > 0; i--) chunks.push(randomFrame());
      }
      break;
    case 6: // registered, then a stream of valid LOOKUPs and NOPs split at random points
      chunks.push(registered());
      for (let i = int(20); i >= 0; i--) chunks.push(random() < 0.2 ? frame(Code.NOP, new Uint8Array(4)) : frame(Code.LOOKUP, lookupPayload(1 + i, 1, fileName)));
      break;
  }
  // Re-split the byte stream anywhere: the gateway must not care where TCP cuts it.
  const all = Uint8Array.from(chunks.flatMap((c) => [...c]));
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < all.length; ) {
    const size = 1 + int(Math.min(512, all.length - offset));
    pieces.push(all.slice(offset, offset + size));
    offset += size;
  }
  return pieces;
}

async function runHostileConnection(port: number, random: () => number): Promise<void> {
  const socket = connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  socket.on("data", () => {});
  await new Promise<void>((resolve) => {
    socket.once("connect", resolve);
    socket.once("close", resolve);
  });
  for (const piece of hostileStream(random)) {
    if (socket.destroyed) break;
    socket.write(piece);
    if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)));
  }
  await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 100)));
  if (random() < 0.5) socket.end();
  else socket.destroy();
}

test(`hostile connections do not disturb a well-behaved mount (seed ${seed})`, { timeout: 60_000 }, async () => {
  const random = seededRandom(seed);
  const streams = Array.from({ length: fuzzers }, () => seededRandom(Math.floor(random() * 2 ** 31)));
  const deadline = Date.now() + fuzzMs;
  let hostileConnections = 0;
  const hostile = streams.map(async (stream) => {
    while (Date.now() < deadline) {
      await runHostileConnection(gateway.port, stream);
      hostileConnections++;
    }
  });

  const good = await MfsTestClient.connect(gateway.port);
  await good.register("/mnt/good");
  let answered = 0;
  let slowestMs = 0;
  for (let msgid = 1; Date.now() < deadline; msgid++) {
    const started = Date.now();
    const found = msgid % 3 !== 0;
    const reply = await good.lookup(msgid, 1, found ? fileName : `missing-${msgid}`);
    slowestMs = Math.max(slowestMs, Date.now() - started);
    if (found) assert.equal(reply.inode, fileInode, `msgid ${msgid}`);
    else assert.equal(reply.status, Status.ENOENT, `msgid ${msgid}`);
    answered++;
  }
  await Promise.all(hostile);
  good.destroy();

  process.stdout.write(`fuzz: ${hostileConnections} hostile connections, ${answered} good answers, slowest ${slowestMs} ms\n`);
  assert.ok(hostileConnections > fuzzers, `only ${hostileConnections} hostile connections`);
  assert.ok(answered > 50, `only ${answered} answers`);
  assert.ok(slowestMs < 2_000, `a good request waited ${slowestMs} ms`);
  const unexpected = gateway.logs.filter((line) => line.includes("connection failed unexpectedly"));
  assert.deepEqual(unexpected, [], `gateway hit unexpected exceptions (seed ${seed})`);

  // Still up, still serving new mounts.
  const late = await MfsTestClient.connect(gateway.port);
  try {
    await late.register("/mnt/late");
    assert.equal((await late.lookup(1, 1, fileName)).inode, fileInode);
  } finally {
    late.destroy();
  }
});
