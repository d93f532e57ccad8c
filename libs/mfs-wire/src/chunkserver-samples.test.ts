/**
 * One sample of every chunkserver-link message kind in both directions (shared by the codec tests
 * and the fuzzer). No tests here.
 */
import type { ChunkserverMessage } from "./chunkserver-messages.ts";
import type { MasterToChunkserver } from "./master-to-chunkserver.ts";

export const sampleSpace = {
  usedSpace: 123_456_789n,
  totalSpace: 0x1_0000_0000_0000n,
  chunkCount: 7,
  toDeleteUsedSpace: 5n,
  toDeleteTotalSpace: 9n,
  toDeleteChunkCount: 1,
};

export const sampleChunkserverMessages: ChunkserverMessage[] = [
  { kind: "nop" },
  { kind: "peer-complaint", type: 1 },
  { kind: "peer-complaint", type: 2 },
  { kind: "register-begin", form: 6, passcode: null, version: 0x000300ea, ip: 0x0a4e0001, port: 9422, timeoutSeconds: 0, csid: 0, space: sampleSpace },
  {
    kind: "register-begin",
    form: 6,
    passcode: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    version: 0x000300ea,
    ip: 0,
    port: 9422,
    timeoutSeconds: 30,
    csid: 17,
    space: sampleSpace,
  },
  { kind: "register-begin", form: 5, passcode: null, version: 0x000300ea, ip: 0x0a000001, port: 9422, timeoutSeconds: 10, csid: 0, space: null },
  { kind: "register-chunks", form: 6, chunks: [{ chunkId: 1n, version: 1 }, { chunkId: 0xffff_ffff_ffff_ffffn, version: 0x8000_0002 }] },
  { kind: "register-chunks", form: 6, chunks: [] },
  { kind: "register-chunks", form: 5, chunks: [{ chunkId: 3n, version: 4 }] },
  { kind: "register-end", form: 6, space: null },
  { kind: "register-end", form: 5, space: sampleSpace },
  { kind: "register-bye" },
  { kind: "space", layoutBytes: 40, space: sampleSpace },
  { kind: "space", layoutBytes: 32, space: { ...sampleSpace, chunkCount: 0, toDeleteChunkCount: 0 } },
  { kind: "space", layoutBytes: 16, space: { ...sampleSpace, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 } },
  { kind: "chunk-damaged", chunkIds: [1n, 2n] },
  { kind: "chunk-lost", chunkIds: [] },
  { kind: "chunk-lost", chunkIds: [42n] },
  { kind: "chunk-new", chunks: [{ chunkId: 9n, version: 3 }] },
  { kind: "current-load", load: 12, hlStatus: 1 },
  { kind: "current-load", load: 0, hlStatus: null },
  { kind: "error-occurred" },
  { kind: "labels", labelMask: 0b101 },
  { kind: "chunk-op-status", op: "create", chunkId: 1n, status: 0 },
  { kind: "chunk-op-status", op: "delete", chunkId: 2n, status: 13 },
  { kind: "chunk-op-status", op: "duplicate", chunkId: 3n, status: 0 },
  { kind: "chunk-op-status", op: "set-version", chunkId: 4n, status: 19 },
  { kind: "chunk-op-status", op: "truncate", chunkId: 5n, status: 0 },
  { kind: "chunk-op-status", op: "duptrunc", chunkId: 6n, status: 0 },
  { kind: "replicate-status", chunkId: 7n, version: 2, status: 0 },
];

export const sampleMasterToChunkserver: MasterToChunkserver[] = [
  { kind: "nop" },
  { kind: "ack-registered", version: 0x000300ea, timeoutSeconds: 10, csid: 1, metaId: 0x6b07d0ed6a9c537an },
  { kind: "ack-registered", version: 0x000300ea, timeoutSeconds: 60, csid: 65535, metaId: null },
  { kind: "ack-version", version: 0x000300ea },
  { kind: "ack-next" },
  { kind: "create", chunkId: 1n, version: 1 },
  { kind: "delete", chunkId: 1n, version: 0 },
  { kind: "set-version", chunkId: 4n, newVersion: 2, oldVersion: 1 },
  { kind: "duplicate", newChunkId: 4n, newVersion: 1, oldChunkId: 3n, oldVersion: 1 },
  { kind: "truncate", chunkId: 2n, length: 100_000, newVersion: 2, oldVersion: 1 },
  { kind: "duptrunc", newChunkId: 5n, newVersion: 1, oldChunkId: 4n, oldVersion: 1, length: 1000 },
  { kind: "replicate", chunkId: 7n, version: 2, sourceIp: 0x0a000002, sourcePort: 9422 },
];
