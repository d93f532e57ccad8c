/**
 * One chunkserver's TCP connection: the shell around one ChunkserverConnection
 * (services/gateway/core). Socket bytes go to `receive`, the shared tick to `tick`, and the
 * actions that come back are carried out in order.
 *
 * Registry writes of one link are chained, so they reach Redis in the order the core produced
 * them: the final "disconnected" (or "maintenance") record can never be overwritten by an older
 * write still in flight. A link that lost its csid to a newer connection of the same chunkserver
 * (`supersede`) stops writing altogether, so it cannot mark the new link's record disconnected.
 *
 * Chunk operations (the data path): `sendChunkOp` writes a MATOCS_* message and waits for the
 * chunkserver's reply, matched by (op, chunk id) (chunk-op-pending.ts); when the link goes, every
 * operation still out answers CSNOTPRESENT. Chunk reports (registration, NEW, LOST/DAMAGED) go to
 * the shards through chunk-reports.ts, in order: the chunkserverreset when the chunkserver starts
 * registering, before any of its copies.
 *
 * Isolation: a throw from the core or an action costs only this connection (logged, socket
 * destroyed), exactly as for client links.
 */
import type { Socket } from "node:net";
import { limits } from "@antler/base";
import type { ChunkserverAction, ChunkserverConnection, ChunkserverRecord } from "@antler/gateway-core";
import { encodeMasterToChunkserver, type MasterToChunkserver } from "@antler/mfs-wire";
import { Status } from "@antler/ops";
import type { Logger } from "@antler/telemetry";
import { PendingChunkOps, type ChunkOpKey } from "./chunk-op-pending.ts";
import type { ChunkReports } from "./chunk-reports.ts";

/** The registry operations a link needs (a ChunkserverRegistry from libs/io-redis fits). */
export interface ChunkserverRegistryPort {
  claimCsid(requested: number, address: string): Promise<number>;
  put(record: ChunkserverRecord, gatewayId: string): Promise<void>;
}

/** What all chunkserver links of one gateway share. */
export interface ChunkserverLinkContext {
  readonly gatewayId: string;
  readonly registry: ChunkserverRegistryPort;
  readonly log: Logger;
  readonly nowMs: () => number;
  /** Called once the link knows its csid; the listener uses it to find a stale link of the same CS. */
  readonly onCsid: (link: ChunkserverLink, csid: number) => void;
  /** Chunk reports of one link to the shards; absent: reports are only logged (tests of the link alone). */
  readonly createReports?: () => ChunkReports;
  /** How long a chunk operation waits for its reply; default limits.chunkOpTimeoutMs. */
  readonly chunkOpTimeoutMs?: number;
}

export class ChunkserverLink {
  readonly #socket: Socket;
  readonly #connection: ChunkserverConnection;
  readonly #context: ChunkserverLinkContext;
  readonly #onGone: () => void;
  #log: Logger;
  #csid = 0;
  #writes: Promise<void> = Promise.resolve();
  #closing = false;
  #closed = false;
  #superseded = false;
  #reportedCopies = 0;
  #lastState: ChunkserverRecord["state"] | null = null;
  readonly #pendingOps: PendingChunkOps;
  readonly #reports: ChunkReports | null;
  /** The chunkserverreset of this link's registration is queued (once per link: one registration). */
  #resetQueued = false;

  constructor(socket: Socket, connection: ChunkserverConnection, context: ChunkserverLinkContext, onGone: () => void) {
    this.#socket = socket;
    this.#connection = connection;
    this.#context = context;
    this.#onGone = onGone;
    this.#pendingOps = new PendingChunkOps(context.chunkOpTimeoutMs ?? limits.chunkOpTimeoutMs);
    this.#reports = context.createReports?.() ?? null;
    this.#log = context.log.child({ peer: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      if (this.#closing) return;
      this.#guard("receive", () => this.#connection.receive(chunk, this.#context.nowMs()));
    });
    socket.on("error", (err) => this.#log.debug("chunkserver socket error", { err }));
    socket.on("close", () => this.#gone());
  }

  get csid(): number {
    return this.#csid;
  }

  /** Registry writes and chunk reports queued so far have all settled (for a graceful stop). */
  async settled(): Promise<void> {
    await this.#writes;
    await this.#reports?.settled();
  }

  /** Chunk operations sent and not yet answered. */
  get chunkOpsWaiting(): number {
    return this.#pendingOps.waiting;
  }

  /**
   * Sends one chunk operation and resolves with the chunkserver's status: CSNOTPRESENT when the
   * link is closing or goes before the reply, or no reply comes within the timeout.
   */
  sendChunkOp(message: Extract<MasterToChunkserver, { chunkId: bigint } | { newChunkId: bigint }>): Promise<number> {
    if (this.#closing) return Promise.resolve(Status.CSNOTPRESENT);
    const bytes = encodeMasterToChunkserver(message);
    const chunkId = "newChunkId" in message ? message.newChunkId : message.chunkId;
    // Registered before the write: a reply can never arrive before its operation is known.
    const status = this.#pendingOps.add(message.kind as ChunkOpKey, chunkId);
    this.#socket.write(bytes);
    return status;
  }

  tick(nowMs: number): void {
    if (this.#closing) return;
    this.#guard("tick", () => this.#connection.tick(nowMs));
  }

  /** A newer connection of the same chunkserver took over its csid: close this one, silently. */
  supersede(): void {
    this.#superseded = true;
    this.#log.warn("a newer connection of this chunkserver took over; closing the old one", { csid: this.#csid });
    this.destroy();
  }

  /** Graceful stop: flush what was queued and end the connection. */
  end(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), limits.gatewayDrainMs).unref();
  }

  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  #guard(step: string, fn: () => ChunkserverAction[]): void {
    if (this.#closed && step !== "closed") return;
    try {
      this.#perform(fn());
    } catch (err) {
      this.#log.error("chunkserver connection failed unexpectedly; closing it", { step, csid: this.#csid, err });
      this.destroy();
    }
  }

  #perform(actions: ChunkserverAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case "send":
          if (!this.#closing) this.#socket.write(action.bytes);
          break;
        case "close":
          this.#log.info("closing chunkserver connection", { reason: action.reason, csid: this.#csid });
          this.end();
          break;
        case "csid-allocate":
          this.#claimCsid(action);
          break;
        case "registry-update":
          this.#registryUpdate(action.record);
          break;
        case "chunks-reported":
          this.#reportedCopies += action.chunks.length;
          this.#log.debug("chunk copies reported", { csid: action.csid, source: action.source, copies: action.chunks.length });
          if (!this.#superseded) this.#reports?.copies(action.csid, action.source, action.chunks);
          break;
        case "chunks-gone":
          this.#log.info("chunk copies gone", { csid: action.csid, source: action.source, copies: action.chunkIds.length });
          if (!this.#superseded) this.#reports?.gone(action.csid, action.chunkIds);
          break;
        case "chunk-op-reply": {
          const reply = action.reply;
          const op: ChunkOpKey = reply.kind === "replicate-status" ? "replicate" : reply.op;
          if (!this.#pendingOps.settle(op, reply.chunkId, reply.status)) {
            // Its operation timed out long ago, or the chunkserver answers something never asked.
            this.#log.warn("chunk operation reply matches nothing sent", { csid: action.csid, op, chunkId: reply.chunkId.toString(), status: reply.status });
          }
          break;
        }
      }
    }
  }

  #claimCsid(action: Extract<ChunkserverAction, { kind: "csid-allocate" }>): void {
    const address = `${ipText(action.ip)}:${action.port}`;
    this.#context.registry.claimCsid(action.requested, address).then(
      (csid) => {
        if (action.requested !== 0 && csid !== action.requested) {
          this.#log.warn("another chunkserver holds the requested csid; assigning a new one", { requested: action.requested, csid, address });
        }
        this.#guard("onCsidAllocated", () => this.#connection.onCsidAllocated(action.token, csid, this.#context.nowMs()));
      },
      (err: unknown) => {
        // Without a csid the chunkserver cannot register; it reconnects and tries again.
        this.#log.error("cannot allocate a chunkserver id; closing the connection", { err });
        this.destroy();
      },
    );
  }

  #registryUpdate(record: ChunkserverRecord): void {
    if (this.#superseded) return;
    if (this.#csid === 0) {
      this.#csid = record.csid;
      this.#log = this.#log.child({ csid: record.csid });
      this.#context.onCsid(this, record.csid);
      if (this.#superseded) return;
    }
    if (record.state === "registering" && !this.#resetQueued) {
      // The shards forget what this chunkserver reported before; its copies follow on the same chain.
      this.#resetQueued = true;
      this.#reports?.reset(record.csid);
    }
    if (record.state !== "registering") this.#reports?.flush();
    if (record.state === "registered" && this.#lastState !== "registered") {
      this.#log.info("chunkserver registered", { port: record.port, version: record.version, copies: this.#reportedCopies, totalSpace: record.space.totalSpace.toString() });
    }
    this.#lastState = record.state;
    const gatewayId = this.#context.gatewayId;
    this.#writes = this.#writes.then(
      () => this.#context.registry.put(record, gatewayId),
    ).catch((err: unknown) => {
      // The next update (at most chunkserverRecordRefreshMs later) writes the whole record again.
      this.#log.warn("chunkserver registry write failed", { err });
    });
  }

  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#guard("closed", () => this.#connection.closed(this.#context.nowMs()));
    this.#pendingOps.failAll(Status.CSNOTPRESENT);
    this.#reports?.close();
    this.#onGone();
  }
}

function ipText(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}
