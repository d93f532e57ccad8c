/**
 * One chunkserver's connection on port 9420, as a pure state machine: bytes, ticks and csid
 * allocations in, actions out (chunkserver-api.ts). It follows mfsmaster's matocsserv.c
 * (protocol §4.1–§4.2):
 *
 * - Registration is lock-step. BEGIN (rver 60) is answered, once the shell confirmed or allocated
 *   the csid, with MATOCS_MASTER_ACK atype 0 in the 17-byte form (version, timeout, csid, metaid); every CHUNKS batch (rver 61) with the 1-byte
 *   ACK, which is what makes the CS send the next batch; END (rver 62) makes it registered.
 * - No NOP before the first ACK: a 3.0.117 CS that reads a NOP first dumps its whole chunk list
 *   without waiting. After it, a NOP (length 0) goes out whenever our output was idle for a third
 *   of the link's timeout; a CS silent for the whole timeout is closed.
 * - A goodbye (rver 63) puts the CS in temporary maintenance and closes the link.
 * - Anything malformed or out of order closes this connection only, like mfsmaster's KILL.
 */
import { assert, limits } from "@antler/base";
import {
  DecodeError,
  FrameDecoder,
  FrameError,
  decodeChunkserverMessage,
  emptySpaceReport,
  encodeMasterToChunkserver,
  type ChunkCopy,
  type ChunkserverMessage,
  type Frame,
  type MasterToChunkserver,
} from "@antler/mfs-wire";
import type { ChunkserverAction, ChunkserverConnection, ChunkserverRecord, ChunkserverState } from "./chunkserver-api.ts";

export interface ChunkserverConnectionOptions {
  /** The cluster's metaid: a CS that stored another one exits instead of mixing two filesystems. */
  readonly metaId: bigint;
  /** The peer's IPv4 address as a u32; used when the CS reports ip 0. */
  readonly peerIp: number;
}

/** VERSION2INT(2,0,33): chunkservers from here on get (and check) the metaid in the ACK. */
const ackWithMetaIdVersionMin = 0x020042;
/** VERSION2INT(1,6,28): older version-5 chunkservers get no ACK at all. */
const ackVersionMin = 0x01061c;
/** 127.0.0.0/8: mfsmaster refuses chunkservers that would be reachable only on loopback. */
const loopbackMask = 0xff000000;
const loopbackNet = 0x7f000000;

type Phase =
  /** Connected, waiting for BEGIN. */
  | "unregistered"
  /** BEGIN arrived; waiting for the shell to confirm or allocate the csid before the ACK can go out. */
  | "allocating"
  /** ACK sent; CHUNKS batches until END. */
  | "reporting"
  | "registered"
  | "closed";

export function createChunkserverConnection(options: ChunkserverConnectionOptions): ChunkserverConnection {
  return new Link(options);
}

/** The record fields the CS's status messages set. */
type ReportedStatus = Pick<ChunkserverRecord, "labelMask" | "space" | "load" | "hlStatus" | "errorCount">;

interface Identity {
  readonly version: number;
  readonly ip: number;
  readonly port: number;
  readonly form: 5 | 6;
}

class Link implements ChunkserverConnection {
  readonly #options: ChunkserverConnectionOptions;
  readonly #decoder = new FrameDecoder(limits.chunkserverPacketBytesMax);
  readonly #copies = new Map<bigint, number>();
  #copiesUntracked = 0;
  #phase: Phase = "unregistered";
  #csid = 0;
  #identity: Identity | null = null;
  #timeoutSeconds = limits.chunkserverTimeoutDefaultSeconds;
  #record: ReportedStatus = {
    labelMask: 0,
    space: emptySpaceReport,
    load: 0,
    hlStatus: 0,
    errorCount: 0,
  };
  #state: ChunkserverState = "registering";
  #allocationToken = 0;
  #nextToken = 1;
  /** Keepalives start with the first ACK (protocol §1.5). */
  #acknowledged = false;
  #dirty = false;
  #lastReadMs: number | null = null;
  #lastSendMs: number | null = null;
  #lastUpdateMs = 0;
  #actions: ChunkserverAction[] = [];
  #nowMs = 0;

  constructor(options: ChunkserverConnectionOptions) {
    this.#options = options;
  }

  get csid(): number {
    return this.#csid;
  }

  get copies(): ReadonlyMap<bigint, number> {
    return this.#copies;
  }

  receive(bytes: Uint8Array, nowMs: number): ChunkserverAction[] {
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    this.#lastReadMs = nowMs;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(bytes);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#close(`bad frame: ${error.message}`);
      return this.#end();
    }
    for (const frame of frames) {
      if (this.#isClosed()) break;
      this.#frame(frame);
    }
    return this.#end();
  }

  tick(nowMs: number): ChunkserverAction[] {
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    this.#lastReadMs ??= nowMs;
    this.#lastSendMs ??= nowMs;
    const timeoutMs = this.#timeoutSeconds * 1000;
    if (nowMs - this.#lastReadMs > timeoutMs) {
      this.#close(`nothing read for ${nowMs - this.#lastReadMs} ms (timeout ${this.#timeoutSeconds} s)`);
      return this.#end();
    }
    if (this.#acknowledged && nowMs - this.#lastSendMs > timeoutMs / 3) this.#send({ kind: "nop" });
    if (this.#csid !== 0 && nowMs - this.#lastUpdateMs >= limits.chunkserverRecordRefreshMs) this.#dirty = true;
    return this.#end();
  }

  onCsidAllocated(token: number, csid: number, nowMs: number): ChunkserverAction[] {
    assert(token === this.#allocationToken && token !== 0, `csid allocated for unknown token ${token}`);
    assert(Number.isInteger(csid) && csid >= 1 && csid <= limits.chunkserverIdMax, `allocated csid out of range: ${csid}`);
    this.#allocationToken = 0;
    if (this.#phase === "closed") return [];
    assert(this.#phase === "allocating", `csid allocated in phase ${this.#phase}`);
    this.#begin(nowMs);
    this.#accept(csid);
    return this.#end();
  }

  closed(nowMs: number): ChunkserverAction[] {
    const wasKnown = this.#csid !== 0;
    this.#phase = "closed";
    if (!wasKnown) return [];
    this.#begin(nowMs);
    if (this.#state !== "maintenance") this.#state = "disconnected";
    this.#dirty = true;
    return this.#end();
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  #begin(nowMs: number): void {
    this.#nowMs = nowMs;
    this.#actions = [];
  }

  /** Ends a step: one registry update for everything that changed in it. */
  #end(): ChunkserverAction[] {
    if (this.#dirty && this.#csid !== 0) {
      this.#dirty = false;
      this.#lastUpdateMs = this.#nowMs;
      this.#actions.push({ kind: "registry-update", record: this.#snapshot() });
    }
    const actions = this.#actions;
    this.#actions = [];
    return actions;
  }

  #snapshot(): ChunkserverRecord {
    const identity = this.#identity;
    assert(identity !== null, "a record before BEGIN");
    return {
      csid: this.#csid,
      ip: identity.ip,
      port: identity.port,
      version: identity.version,
      timeoutSeconds: this.#timeoutSeconds,
      ...this.#record,
      copyCount: this.#copies.size + this.#copiesUntracked,
      state: this.#state,
    };
  }

  /** A method, not an inline comparison: the phase changes inside the loop that asks. */
  #isClosed(): boolean {
    return this.#phase === "closed";
  }

  #send(message: MasterToChunkserver): void {
    this.#actions.push({ kind: "send", bytes: encodeMasterToChunkserver(message) });
    this.#lastSendMs = this.#nowMs;
  }

  #close(reason: string): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#actions.push({ kind: "close", reason });
  }

  #update(fields: Partial<ReportedStatus>): void {
    this.#record = { ...this.#record, ...fields };
    this.#dirty = true;
  }

  // -------------------------------------------------------------------------------------------
  // Incoming frames

  #frame(frame: Frame): void {
    let message: ChunkserverMessage;
    try {
      message = decodeChunkserverMessage(frame);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.#close(`bad message: ${error.message}`);
      return;
    }
    switch (message.kind) {
      case "nop":
      case "peer-complaint":
        return;
      case "register-begin":
        if (this.#phase !== "unregistered") {
          this.#close(`REGISTER BEGIN while ${this.#phase}`);
          return;
        }
        this.#registerBegin(message);
        return;
      case "register-bye":
        // Any phase: the CS is going away on purpose.
        if (this.#csid !== 0) {
          this.#state = "maintenance";
          this.#dirty = true;
        }
        this.#close("chunkserver said goodbye (graceful stop)");
        return;
      default:
        break;
    }
    // Everything else needs an acknowledged BEGIN (mfsmaster: "command from unregistered chunk server").
    if (this.#phase !== "reporting" && this.#phase !== "registered") {
      this.#close(`${message.kind} before registration`);
      return;
    }
    const csid = this.#csid;
    switch (message.kind) {
      case "register-chunks":
        if (this.#phase !== "reporting") {
          this.#close("REGISTER CHUNKS from a registered chunkserver");
          return;
        }
        this.#track(message.chunks);
        this.#actions.push({ kind: "chunks-reported", csid, source: "register", chunks: message.chunks });
        // Version 6: each batch is paced by our ACK. Version 5 (a master < 2.0 in the CS's eyes) dumps unpaced.
        if (message.form === 6) this.#send({ kind: "ack-next" });
        return;
      case "register-end":
        if (this.#phase !== "reporting") {
          this.#close("REGISTER END from a registered chunkserver");
          return;
        }
        this.#phase = "registered";
        this.#state = "registered";
        if (message.space !== null) this.#update({ space: message.space });
        this.#dirty = true;
        return;
      case "space":
        this.#update({ space: message.space });
        return;
      case "current-load":
        this.#update({ load: message.load, hlStatus: message.hlStatus ?? this.#record.hlStatus });
        return;
      case "labels":
        this.#update({ labelMask: message.labelMask });
        return;
      case "error-occurred":
        this.#update({ errorCount: this.#record.errorCount + 1 });
        return;
      case "chunk-new":
        this.#track(message.chunks);
        this.#dirty = true;
        this.#actions.push({ kind: "chunks-reported", csid, source: "new", chunks: message.chunks });
        return;
      case "chunk-lost":
      case "chunk-damaged":
        this.#untrack(message.chunkIds);
        this.#dirty = true;
        this.#actions.push({ kind: "chunks-gone", csid, source: message.kind === "chunk-lost" ? "lost" : "damaged", chunkIds: message.chunkIds });
        return;
      case "chunk-op-status":
      case "replicate-status":
        this.#actions.push({ kind: "chunk-op-reply", csid, reply: message });
        return;
    }
  }

  #registerBegin(message: Extract<ChunkserverMessage, { kind: "register-begin" }>): void {
    let timeoutSeconds = message.timeoutSeconds;
    if (message.form === 6 && timeoutSeconds === 0) timeoutSeconds = limits.chunkserverTimeoutDefaultSeconds;
    if (timeoutSeconds < limits.chunkserverTimeoutMinSeconds) {
      this.#close(`chunkserver timeout ${timeoutSeconds} s is below ${limits.chunkserverTimeoutMinSeconds} s`);
      return;
    }
    const ip = message.ip === 0 ? this.#options.peerIp : message.ip;
    if (((ip & loopbackMask) >>> 0) === loopbackNet) {
      this.#close(`chunkserver address ${ipText(ip)} is on loopback; clients could not reach it`);
      return;
    }
    this.#timeoutSeconds = timeoutSeconds;
    this.#identity = { version: message.version, ip, port: message.port, form: message.form };
    if (message.space !== null) this.#record = { ...this.#record, space: message.space };
    // Even a CS that brings its csid (chunkserverid.mfs) waits for the registry: another server
    // may hold that id (a copied data directory), and then it must get a new one.
    this.#phase = "allocating";
    this.#allocationToken = this.#nextToken++;
    this.#actions.push({ kind: "csid-allocate", token: this.#allocationToken, requested: message.csid, ip, port: message.port });
  }

  #accept(csid: number): void {
    const identity = this.#identity;
    assert(identity !== null, "accept without BEGIN");
    this.#csid = csid;
    this.#phase = "reporting";
    this.#state = "registering";
    this.#dirty = true;
    if (identity.form === 6) {
      const metaId = identity.version >= ackWithMetaIdVersionMin ? this.#options.metaId : null;
      this.#send({ kind: "ack-registered", version: limits.announcedVersion, timeoutSeconds: this.#timeoutSeconds, csid, metaId });
    } else if (identity.version >= ackVersionMin) {
      this.#send({ kind: "ack-version", version: limits.announcedVersion });
    }
    // A version-5 CS older than 1.6.28 gets no ACK at all (as from mfsmaster) and dumps its list
    // unpaced anyway, so keepalives may start for it too.
    this.#acknowledged = true;
  }

  #track(chunks: readonly ChunkCopy[]): void {
    for (const chunk of chunks) {
      if (this.#copies.has(chunk.chunkId) || this.#copies.size < limits.chunkserverCopiesTrackedMax) this.#copies.set(chunk.chunkId, chunk.version);
      else this.#copiesUntracked++;
    }
  }

  #untrack(chunkIds: readonly bigint[]): void {
    for (const chunkId of chunkIds) {
      if (!this.#copies.delete(chunkId) && this.#copiesUntracked > 0) this.#copiesUntracked--;
    }
  }
}

function ipText(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}
