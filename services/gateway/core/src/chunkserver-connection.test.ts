/**
 * The chunkserver connection fed real byte streams (split anywhere): lock-step registration with
 * an ACK after every chunk batch and no NOP before the first ACK, csid allocation through the
 * shell, status messages reaching the registry, keepalives and timeouts, the graceful goodbye, and
 * malformed or out-of-order input closing the link.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import {
  FrameDecoder,
  decodeMasterToChunkserver,
  encodeChunkserverMessage,
  encodeFrame,
  type ChunkCopy,
  type ChunkserverMessage,
  type MasterToChunkserver,
  type SpaceReport,
} from "@antler/mfs-wire";
import type { ChunkserverAction, ChunkserverRecord } from "./chunkserver-api.ts";
import { createChunkserverConnection } from "./chunkserver-connection.ts";

const metaId = 0x6b07d0ed6a9c537an;
const peerIp = 0x0a0d3c01; // 10.13.60.1
const csVersion = 0x000300ea;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

const space: SpaceReport = {
  usedSpace: 1_000_000n,
  totalSpace: 50_000_000_000n,
  chunkCount: 3,
  toDeleteUsedSpace: 0n,
  toDeleteTotalSpace: 0n,
  toDeleteChunkCount: 0,
};

function begin(overrides: Partial<Extract<ChunkserverMessage, { kind: "register-begin" }>> = {}): ChunkserverMessage {
  return { kind: "register-begin", form: 6, passcode: null, version: csVersion, ip: 0, port: 9422, timeoutSeconds: 0, csid: 0, space, ...overrides };
}

function copies(from: number, count: number): ChunkCopy[] {
  return Array.from({ length: count }, (_, i) => ({ chunkId: BigInt(from + i), version: 1 }));
}

/**
 * Drives one connection: feeds messages (optionally byte by byte) and decodes what it sends. The
 * registry's csid answer comes at once (the requested csid, or a new one from 100 on) unless the
 * driver is `manualCsid`: then tests answer with allocate().
 */
class Driver {
  readonly connection = createChunkserverConnection({ metaId, peerIp });
  readonly manualCsid: boolean;
  #nextCsid = 100;
  readonly #fromGateway = new FrameDecoder(limits.masterToChunkserverPacketBytesMax);
  now = 1_000_000;
  closedWith: string | null = null;
  records: ChunkserverRecord[] = [];
  allocations: number[] = [];
  requests: Extract<ChunkserverAction, { kind: "csid-allocate" }>[] = [];

  constructor(manualCsid = false) {
    this.manualCsid = manualCsid;
  }
  reported: { source: string; chunks: readonly ChunkCopy[] }[] = [];
  gone: { source: string; chunkIds: readonly bigint[] }[] = [];

  /** Messages the gateway sent in response to this step. */
  feed(messages: ChunkserverMessage | ChunkserverMessage[], byteByByte = false): MasterToChunkserver[] {
    const list = Array.isArray(messages) ? messages : [messages];
    const bytes = Buffer.concat(list.map((m) => encodeChunkserverMessage(m)));
    return this.feedBytes(bytes, byteByByte);
  }

  feedBytes(bytes: Uint8Array, byteByByte = false): MasterToChunkserver[] {
    if (!byteByByte) return this.#apply(this.connection.receive(bytes, this.now));
    const out: MasterToChunkserver[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...this.#apply(this.connection.receive(bytes.subarray(i, i + 1), this.now)));
    return out;
  }

  tick(): MasterToChunkserver[] {
    return this.#apply(this.connection.tick(this.now));
  }

  allocate(csid: number): MasterToChunkserver[] {
    const token = this.allocations.shift();
    assert.ok(token !== undefined, "no allocation pending");
    return this.#apply(this.connection.onCsidAllocated(token, csid, this.now));
  }

  close(): void {
    this.#apply(this.connection.closed(this.now));
  }

  get lastRecord(): ChunkserverRecord {
    const record = this.records.at(-1);
    assert.ok(record !== undefined, "no registry update yet");
    return record;
  }

  /** BEGIN with a csid of its own, an ACK, END: a registered CS with no chunks. */
  register(csid = 7): void {
    const ack = this.feed(begin({ csid }));
    assert.equal(ack.length, 1);
    assert.equal(this.feed({ kind: "register-end", form: 6, space: null }).length, 0);
  }

  #apply(actions: ChunkserverAction[]): MasterToChunkserver[] {
    const sent: MasterToChunkserver[] = [];
    for (const action of actions) {
      switch (action.kind) {
        case "send":
          for (const frame of this.#fromGateway.push(action.bytes)) sent.push(decodeMasterToChunkserver(frame));
          if (action.bytes.length >= 8 && new DataView(action.bytes.buffer, action.bytes.byteOffset).getUint32(0) === 0) {
            assert.equal(action.bytes.length, 8, "the NOP on the chunkserver link has length 0");
          }
          break;
        case "close":
          assert.equal(this.closedWith, null, "closed twice");
          this.closedWith = action.reason;
          break;
        case "csid-allocate":
          this.requests.push(action);
          if (this.manualCsid) {
            this.allocations.push(action.token);
          } else {
            const csid = action.requested !== 0 ? action.requested : this.#nextCsid++;
            sent.push(...this.#apply(this.connection.onCsidAllocated(action.token, csid, this.now)));
          }
          break;
        case "registry-update":
          this.records.push(action.record);
          break;
        case "chunks-reported":
          this.reported.push({ source: action.source, chunks: action.chunks });
          break;
        case "chunks-gone":
          this.gone.push({ source: action.source, chunkIds: action.chunkIds });
          break;
        case "chunk-op-reply":
          break;
      }
    }
    return sent;
  }
}

test("registration is lock-step: ACK 17 bytes on BEGIN, 00 after every batch, END registers", () => {
  const driver = new Driver(true);
  // A new CS (csid 0): the ACK waits for the shell's csid; nothing is sent meanwhile.
  assert.deepEqual(driver.feed(begin(), true), []);
  assert.equal(driver.allocations.length, 1);
  driver.now += 5000;
  assert.deepEqual(driver.tick(), [], "no NOP before the first ACK");
  const [ack, ...rest] = driver.allocate(3);
  assert.deepEqual(rest, []);
  assert.deepEqual(ack, { kind: "ack-registered", version: limits.announcedVersion, timeoutSeconds: 10, csid: 3, metaId });
  assert.equal(driver.lastRecord.state, "registering");
  assert.equal(driver.lastRecord.ip, peerIp, "ip 0 means the peer's address");
  assert.equal(driver.lastRecord.port, 9422);
  assert.deepEqual(driver.lastRecord.space, space);

  // Labels first, then batches; each batch (fed byte by byte) gets exactly one ACK.
  assert.deepEqual(driver.feed({ kind: "labels", labelMask: 0b11 }), []);
  for (let batch = 0; batch < 3; batch++) {
    const answer = driver.feed({ kind: "register-chunks", form: 6, chunks: copies(batch * 100 + 1, 100) }, true);
    assert.deepEqual(answer, [{ kind: "ack-next" }], `batch ${batch}`);
  }
  assert.deepEqual(driver.feed({ kind: "register-end", form: 6, space: null }), []);
  const record = driver.lastRecord;
  assert.equal(record.state, "registered");
  assert.equal(record.csid, 3);
  assert.equal(record.labelMask, 0b11);
  assert.equal(record.copyCount, 300);
  assert.equal(driver.connection.copies.size, 300);
  assert.equal(driver.reported.length, 3);
  assert.ok(driver.reported.every((r) => r.source === "register" && r.chunks.length === 100));
  assert.equal(driver.closedWith, null);
});

test("an empty chunk batch is still acknowledged, and two batches in one read get two ACKs", () => {
  const driver = new Driver();
  driver.feed(begin({ csid: 9 }));
  const answers = driver.feed([
    { kind: "register-chunks", form: 6, chunks: [] },
    { kind: "register-chunks", form: 6, chunks: copies(1, 2) },
  ]);
  assert.deepEqual(answers, [{ kind: "ack-next" }, { kind: "ack-next" }]);
});

test("a CS with its own csid asks the registry for it and gets what the registry says; its timeout is kept", () => {
  const driver = new Driver(true);
  assert.deepEqual(driver.feed(begin({ csid: 42, timeoutSeconds: 30, ip: 0x0a000005 })), []);
  assert.deepEqual(driver.requests.map(({ requested, ip, port }) => ({ requested, ip, port })), [{ requested: 42, ip: 0x0a000005, port: 9422 }]);
  assert.deepEqual(driver.allocate(42), [{ kind: "ack-registered", version: limits.announcedVersion, timeoutSeconds: 30, csid: 42, metaId }]);
  assert.equal(driver.lastRecord.ip, 0x0a000005, "a reported address wins over the peer's");
  assert.equal(driver.connection.csid, 42);

  // Another server holds 42 (a copied data directory): the registry hands out another id, which the CS stores.
  const twin = new Driver(true);
  twin.feed(begin({ csid: 42, ip: 0x0a000006 }));
  assert.deepEqual(twin.allocate(43).map((m) => m.kind === "ack-registered" && m.csid), [43]);
  assert.equal(twin.connection.csid, 43);
});

test("old chunkservers get the ACK forms mfsmaster gives them", () => {
  const v2 = new Driver();
  assert.deepEqual(v2.feed(begin({ csid: 1, version: 0x020040 })), [
    { kind: "ack-registered", version: limits.announcedVersion, timeoutSeconds: 10, csid: 1, metaId: null },
  ]);
  const v5 = new Driver(true);
  v5.feed({ kind: "register-begin", form: 5, passcode: null, version: csVersion, ip: 0, port: 9422, timeoutSeconds: 10, csid: 0, space: null });
  assert.deepEqual(v5.allocate(4), [{ kind: "ack-version", version: limits.announcedVersion }]);
  // Version 5 dumps its batches unpaced: no ACK per batch, END carries the space.
  assert.deepEqual(v5.feed({ kind: "register-chunks", form: 5, chunks: copies(1, 3) }), []);
  v5.feed({ kind: "register-end", form: 5, space });
  assert.equal(v5.lastRecord.state, "registered");
  assert.deepEqual(v5.lastRecord.space, space);
  assert.equal(v5.lastRecord.copyCount, 3);
});

test("timeouts of 1..9 s are refused like mfsmaster does; a v5 BEGIN must say at least 10", () => {
  for (const timeoutSeconds of [1, 9]) {
    const driver = new Driver();
    assert.deepEqual(driver.feed(begin({ timeoutSeconds, csid: 1 })), []);
    assert.match(driver.closedWith ?? "", /timeout/);
    assert.deepEqual(driver.records, [], "a refused CS never reaches the registry");
  }
  const v5 = new Driver();
  v5.feed({ kind: "register-begin", form: 5, passcode: null, version: csVersion, ip: 0, port: 9422, timeoutSeconds: 0, csid: 0, space: null });
  assert.match(v5.closedWith ?? "", /timeout/);
});

test("a CS reporting a loopback address is refused (clients could not reach it)", () => {
  const driver = new Driver();
  driver.feed(begin({ ip: 0x7f000001, csid: 1 }));
  assert.match(driver.closedWith ?? "", /loopback/);
});

test("keepalive: NOP (length 0) after timeout/3 of idle output, only after the ACK; silence closes", () => {
  const driver = new Driver();
  driver.tick();
  driver.now += 9000;
  assert.deepEqual(driver.tick(), [], "no NOP while unregistered");
  driver.feed(begin({ csid: 5, timeoutSeconds: 30 }));
  driver.now += 10_000;
  assert.deepEqual(driver.tick(), [], "exactly timeout/3 is not yet idle enough");
  driver.now += 1;
  assert.deepEqual(driver.tick(), [{ kind: "nop" }]);
  assert.deepEqual(driver.tick(), [], "the NOP itself counts as output");
  // The CS keeps talking: the link stays up past its timeout.
  for (let i = 0; i < 10; i++) {
    driver.now += 5000;
    driver.feed({ kind: "nop" });
    driver.tick();
  }
  assert.equal(driver.closedWith, null);
  driver.now += 30_001;
  driver.tick();
  assert.match(driver.closedWith ?? "", /nothing read/);
  assert.deepEqual(driver.tick(), [], "a closed link does nothing");
});

test("an unregistered connection that never says anything is closed after the default timeout", () => {
  const driver = new Driver();
  driver.tick();
  driver.now += limits.chunkserverTimeoutDefaultSeconds * 1000 + 1;
  driver.tick();
  assert.match(driver.closedWith ?? "", /nothing read/);
});

test("status messages update the registry, once per step, and chunk changes are exposed", () => {
  const driver = new Driver();
  driver.register(7);
  const before = driver.records.length;
  driver.feed([
    { kind: "space", layoutBytes: 40, space: { ...space, usedSpace: 2n } },
    { kind: "current-load", load: 17, hlStatus: 1 },
  ]);
  assert.equal(driver.records.length, before + 1, "two changes in one read make one update");
  assert.equal(driver.lastRecord.space.usedSpace, 2n);
  assert.equal(driver.lastRecord.load, 17);
  assert.equal(driver.lastRecord.hlStatus, 1);
  driver.feed({ kind: "error-occurred" });
  assert.equal(driver.lastRecord.errorCount, 1);
  driver.feed({ kind: "chunk-new", chunks: copies(10, 2) });
  driver.feed({ kind: "chunk-lost", chunkIds: [10n] });
  driver.feed({ kind: "chunk-damaged", chunkIds: [11n] });
  assert.deepEqual(driver.reported, [{ source: "new", chunks: copies(10, 2) }]);
  assert.deepEqual(driver.gone, [
    { source: "lost", chunkIds: [10n] },
    { source: "damaged", chunkIds: [11n] },
  ]);
  assert.equal(driver.lastRecord.copyCount, 0);
});

test("the record is refreshed on ticks (TTL) and marked disconnected when the socket closes", () => {
  const driver = new Driver();
  driver.register(7);
  const before = driver.records.length;
  driver.now += limits.chunkserverRecordRefreshMs;
  driver.feed({ kind: "nop" });
  driver.tick();
  assert.equal(driver.records.length, before + 1);
  driver.close();
  assert.equal(driver.lastRecord.state, "disconnected");
});

test("a goodbye puts the CS in maintenance and closes; the close keeps that state", () => {
  const driver = new Driver();
  driver.register(7);
  driver.feed({ kind: "register-bye" });
  assert.match(driver.closedWith ?? "", /goodbye/);
  assert.equal(driver.lastRecord.state, "maintenance");
  driver.close();
  assert.equal(driver.lastRecord.state, "maintenance");
});

test("malformed and out-of-order input closes the link", () => {
  const cases: [string, (d: Driver) => void][] = [
    ["status before BEGIN", (d) => d.feed({ kind: "space", layoutBytes: 40, space })],
    ["CHUNKS before BEGIN", (d) => d.feed({ kind: "register-chunks", form: 6, chunks: [] })],
    ["END before BEGIN", (d) => d.feed({ kind: "register-end", form: 6, space: null })],
    ["LABELS while the csid is allocated", (d) => d.feed([begin(), { kind: "labels", labelMask: 1 }])],
    ["BEGIN twice", (d) => d.feed([begin({ csid: 1 }), begin({ csid: 1 })])],
    ["CHUNKS after END", (d) => (d.register(), d.feed({ kind: "register-chunks", form: 6, chunks: [] }))],
    ["a BEGIN of the wrong length", (d) => d.feedBytes(encodeFrame(100, Uint8Array.from([60, 0, 0])))],
    ["an unknown type", (d) => d.feedBytes(encodeFrame(4242, new Uint8Array(0)))],
    ["a frame over the size limit", (d) => d.feedBytes(Uint8Array.from([0, 0, 0, 101, 0xff, 0xff, 0xff, 0xff]))],
  ];
  for (const [what, step] of cases) {
    const driver = new Driver();
    step(driver);
    assert.notEqual(driver.closedWith, null, what);
    assert.deepEqual(driver.feed({ kind: "nop" }), [], `${what}: a closed link ignores input`);
  }
});

test("a NOP before the ACK, or a peer complaint, is harmless", () => {
  const driver = new Driver();
  driver.feed([{ kind: "nop" }, { kind: "peer-complaint", type: 1 }]);
  assert.equal(driver.closedWith, null);
  assert.deepEqual(driver.feed(begin({ csid: 2 })).map((m) => m.kind), ["ack-registered"]);
});

test("a csid allocation that comes back after the link closed does nothing", () => {
  const driver = new Driver(true);
  driver.feed(begin());
  driver.close();
  assert.deepEqual(driver.allocate(3), []);
  assert.deepEqual(driver.records, []);
});

test("captured first registration bytes get the captured answer", () => {
  const driver = new Driver();
  const payload = Buffer.from(`3c000300ea0a4e000124ce00000000${"00".repeat(40)}`, "hex");
  driver.connection.receive(encodeFrame(100, payload), driver.now);
  assert.equal(driver.allocations.length, 0, "the action list was not applied by the driver");
  const token = 1;
  const actions = driver.connection.onCsidAllocated(token, 1, driver.now);
  const sent = actions.find((a) => a.kind === "send");
  assert.ok(sent !== undefined && sent.kind === "send");
  assert.equal(hex(sent.bytes), "00000068" + "00000011" + "00000300ea000a00016b07d0ed6a9c537a");
});
