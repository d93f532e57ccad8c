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
 * Isolation: a throw from the core or an action costs only this connection (logged, socket
 * destroyed), exactly as for client links.
 */
import type { Socket } from "node:net";
import { limits } from "@antler/base";
import type { ChunkserverAction, ChunkserverConnection, ChunkserverRecord } from "@antler/gateway-core";
import type { Logger } from "@antler/telemetry";

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

  constructor(socket: Socket, connection: ChunkserverConnection, context: ChunkserverLinkContext, onGone: () => void) {
    this.#socket = socket;
    this.#connection = connection;
    this.#context = context;
    this.#onGone = onGone;
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

  /** Registry writes queued so far have all settled (for a graceful stop). */
  settled(): Promise<void> {
    return this.#writes;
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
          // Routing copies to the shards that own their files is the next step of the data path.
          this.#log.debug("chunk copies reported", { csid: action.csid, source: action.source, copies: action.chunks.length });
          break;
        case "chunks-gone":
          this.#log.info("chunk copies gone", { csid: action.csid, source: action.source, copies: action.chunkIds.length });
          break;
        case "chunk-op-reply":
          // No chunk operation is sent yet, so any reply is unexpected but harmless.
          this.#log.warn("unexpected chunk operation reply", { csid: action.csid, reply: action.reply.kind });
          break;
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
    this.#onGone();
  }
}

function ipText(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}
