/**
 * Seeded fuzzing of a chunkserver connection: a plausible chunkserver conversation (BEGIN, chunk
 * batches, END, status messages), with frames mutated, truncated and split at random points, and
 * csid allocations answered at random moments. The connection must never throw, must stay silent
 * after its close action, and must never send a NOP before its first ACK.
 *
 * Reproduce a failure with: FUZZ_SEED=<seed> node --test src/chunkserver-connection.fuzz.test.ts
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { FrameDecoder, decodeMasterToChunkserver, emptySpaceReport, encodeChunkserverMessage, type ChunkserverMessage } from "@antler/mfs-wire";
import type { ChunkserverAction } from "./chunkserver-api.ts";
import { createChunkserverConnection } from "./chunkserver-connection.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const rounds = Number(process.env["FUZZ_ITERATIONS"] ?? 300);

function conversation(rand: () => number): ChunkserverMessage[] {
  const csid = rand() < 0.5 ? 0 : 1 + Math.floor(rand() * 100);
  const messages: ChunkserverMessage[] = [
    { kind: "register-begin", form: 6, passcode: null, version: 0x000300ea, ip: 0x0a000001, port: 9422, timeoutSeconds: rand() < 0.8 ? 0 : Math.floor(rand() * 40), csid, space: emptySpaceReport },
    { kind: "labels", labelMask: Math.floor(rand() * 16) },
  ];
  const batches = Math.floor(rand() * 4);
  for (let b = 0; b < batches; b++) {
    messages.push({ kind: "register-chunks", form: 6, chunks: Array.from({ length: Math.floor(rand() * 5) }, (_, i) => ({ chunkId: BigInt(b * 10 + i + 1), version: 1 })) });
  }
  messages.push({ kind: "register-end", form: 6, space: null });
  const extra: ChunkserverMessage[] = [
    { kind: "space", layoutBytes: 40, space: { ...emptySpaceReport, totalSpace: 100n } },
    { kind: "current-load", load: 1, hlStatus: 1 },
    { kind: "chunk-new", chunks: [{ chunkId: 99n, version: 2 }] },
    { kind: "chunk-lost", chunkIds: [1n] },
    { kind: "error-occurred" },
    { kind: "nop" },
    { kind: "chunk-op-status", op: "create", chunkId: 5n, status: 0 },
    { kind: "register-bye" },
  ];
  for (let i = 0; i < 6; i++) messages.push(extra[Math.floor(rand() * extra.length)]!);
  return messages;
}

test(`a chunkserver connection survives fuzzed input (seed ${seed})`, () => {
  const rand = seededRandom(seed);
  for (let round = 0; round < rounds; round++) {
    const connection = createChunkserverConnection({ metaId: 1n, peerIp: 0x0a000002 });
    const fromGateway = new FrameDecoder(limits.masterToChunkserverPacketBytesMax);
    const all: ChunkserverAction[] = [];
    const tokens: number[] = [];
    let acknowledged = false;
    let now = 0;
    const take = (actions: ChunkserverAction[]): void => {
      for (const action of actions) {
        all.push(action);
        if (action.kind === "csid-allocate") tokens.push(action.token);
        if (action.kind !== "send") continue;
        for (const frame of fromGateway.push(action.bytes)) {
          const message = decodeMasterToChunkserver(frame);
          if (message.kind === "ack-registered") acknowledged = true;
          assert.ok(message.kind !== "nop" || acknowledged, `seed ${seed}, round ${round}: NOP before the first ACK`);
        }
      }
    };
    const stream: number[] = [];
    for (const message of conversation(rand)) {
      const frame = encodeChunkserverMessage(message);
      if (rand() < 0.1 && frame.length > 8) frame[8 + Math.floor(rand() * (frame.length - 8))] = Math.floor(rand() * 256);
      if (rand() < 0.03) frame[4 + Math.floor(rand() * 4)] = Math.floor(rand() * 256);
      stream.push(...(rand() < 0.03 ? frame.subarray(0, Math.floor(rand() * frame.length)) : frame));
    }
    const bytes = Uint8Array.from(stream);
    try {
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(rand() * 48);
        take(connection.receive(bytes.subarray(at, at + size), now));
        at += size;
        if (tokens.length > 0 && rand() < 0.3) take(connection.onCsidAllocated(tokens.shift()!, 1 + Math.floor(rand() * limits.chunkserverIdMax), now));
        now += Math.floor(rand() * 2_000);
        take(connection.tick(now));
      }
      take(connection.closed(now));
    } catch (error) {
      assert.fail(`seed ${seed}, round ${round}: ${String(error)}`);
    }
    const closedAt = all.findIndex((a) => a.kind === "close");
    if (closedAt >= 0) {
      const after = all.slice(closedAt + 1);
      assert.ok(after.every((a) => a.kind === "registry-update"), `seed ${seed}, round ${round}: only the last record after close, got ${after.map((a) => a.kind).join(",")}`);
    }
  }
});
