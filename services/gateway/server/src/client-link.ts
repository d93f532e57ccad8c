/**
 * One mount's TCP connection: the shell around one ClientConnection (services/gateway/core).
 *
 * Socket bytes go to `receive`, the shared tick to `tick`, and the actions that come back are
 * carried out strictly in order. Asynchronous answers (metadata calls, session store) come back
 * through the core's `on*` methods as they complete, in whatever order the metadata tier answers;
 * the core routes them by token.
 *
 * Isolation: every call into the core and every action runs inside `guard`. An exception there
 * is a bug in the gateway, not the client's fault, but it must only cost this connection: it is
 * logged and this socket is destroyed; nothing propagates to the listener or other links.
 *
 * Backpressure: reading stops while this socket's unsent output or its unanswered calls exceed
 * their bounds (or the whole gateway has too many calls in flight), and resumes when they drain,
 * so a client that never reads, or floods requests, costs bounded memory.
 */
import type { Socket } from "node:net";
import { limits } from "@antler/base";
import type { ClientConnection, ConnectionAction, SessionDraft, SessionRecord, UnansweredRequest } from "@antler/gateway-core";
import type { Result } from "@antler/ops";
import type { Logger } from "@antler/telemetry";
import type { MetaCaller } from "./meta-caller.ts";

/** The session persistence the link needs (a SessionStore from libs/io-redis fits). */
export interface SessionPersistence {
  create(draft: SessionDraft): Promise<SessionRecord>;
  load(sessionId: number): Promise<SessionRecord | null>;
  touch(sessionId: number, gatewayId: string): Promise<boolean>;
  delete(sessionId: number): Promise<void>;
  unanswered(sessionId: number): Promise<Map<number, UnansweredRequest>>;
  putUnanswered(sessionId: number, msgid: number, request: UnansweredRequest): Promise<void>;
  clearUnanswered(sessionId: number, msgid: number, requestId: string): Promise<void>;
}

/** What all links of one gateway share. */
export interface LinkContext {
  readonly gatewayId: string;
  readonly caller: MetaCaller;
  readonly sessions: SessionPersistence;
  readonly log: Logger;
  readonly nowMs: () => number;
  /** Calls in flight over the whole gateway (shared counter, bounded by gatewayCallsInFlightMax). */
  readonly inFlight: { count: number };
  /**
   * A new id for a link, unique across every gateway and restart: the prefix of its request ids
   * (the listener hands it to the link and to its core).
   */
  readonly linkIds: () => string;
}

export class ClientLink {
  readonly #socket: Socket;
  readonly #connection: ClientConnection;
  readonly #context: LinkContext;
  readonly #log: Logger;
  readonly #linkId: string;
  #callsInFlight = 0;
  #unnamedCalls = 0;
  #sessionId = 0;
  #lastTouchMs = 0;
  /** Set once we decided to close: no further input is read and no output is queued. */
  #closing = false;
  /** Shutting down: read nothing more, but let the calls in flight deliver their replies. */
  #draining = false;
  #closed = false;
  /** Writes are being collected for one write at the end of this turn (see #send). */
  #corked = false;
  readonly #onGone: () => void;

  constructor(socket: Socket, connection: ClientConnection, linkId: string, context: LinkContext, onGone: () => void) {
    this.#socket = socket;
    this.#connection = connection;
    this.#context = context;
    this.#onGone = onGone;
    this.#linkId = linkId;
    this.#log = context.log.child({ peer: `${socket.remoteAddress}:${socket.remotePort}`, link: this.#linkId });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      if (this.#closing || this.#draining) return;
      // The core may keep views of these bytes while a frame is incomplete; Node never reuses a
      // Buffer's memory while it is reachable, so no copy is needed.
      this.#guard("receive", () => this.#connection.receive(chunk, this.#context.nowMs()));
    });
    socket.on("drain", () => this.#applyBackpressure());
    socket.on("error", (err) => this.#log.debug("socket error", { err }));
    socket.on("close", () => this.#gone());
  }

  get sessionId(): number {
    return this.#sessionId;
  }

  get callsInFlight(): number {
    return this.#callsInFlight;
  }

  /**
   * First step of a graceful stop: take no new requests (the mount re-sends them to the next
   * gateway after it reconnects), while replies to the ones in flight still go out. Ending the
   * link with calls in flight would make the mount replay them under a new request id, which
   * the shard could not recognise as a replay.
   */
  quiesce(): void {
    this.#draining = true;
    this.#socket.pause();
  }

  tick(nowMs: number): void {
    if (this.#closing) return;
    this.#guard("tick", () => this.#connection.tick(nowMs));
    this.#applyBackpressure();
    if (this.#sessionId !== 0 && nowMs - this.#lastTouchMs >= limits.sessionTouchIntervalMs) this.#touch(nowMs);
  }

  /** Graceful stop: flush what was queued and end the connection. */
  end(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#socket.end();
    // A peer that never closes its side (or never reads our last bytes) must not keep the
    // socket forever.
    setTimeout(() => this.#socket.destroy(), limits.gatewayDrainMs).unref();
  }

  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  /** Runs a core step and carries out its actions; a throw costs only this connection. */
  #guard(step: string, fn: () => ConnectionAction[]): void {
    if (this.#closed) return;
    try {
      this.#perform(fn());
    } catch (err) {
      this.#log.error("connection failed unexpectedly; closing it", { step, session: this.#sessionId, err });
      this.destroy();
    }
  }

  #perform(actions: ConnectionAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case "send":
          if (!this.#closing) this.#send(action.bytes);
          break;
        case "close":
          this.#log.debug("closing connection", { reason: action.reason, session: this.#sessionId });
          this.end();
          break;
        case "call":
          if (!this.#closing) this.#call(action.token, action);
          break;
        case "session-create":
          if (!this.#closing) this.#createSession(action.token, action.draft);
          break;
        case "session-load":
          if (!this.#closing) this.#loadSession(action.token, action.sessionId);
          break;
        case "session-delete":
          // Bookkeeping that must happen even when the connection closes right after (unmount).
          this.#deleteSession(action.sessionId);
          break;
        case "unanswered-put":
          // Issued (written to the Redis socket) before the call that follows leaves: if this
          // gateway dies with the call in flight, the mount's re-send finds the record.
          if (!this.#closing) this.#putUnanswered(action);
          break;
        case "unanswered-clear":
          // Before the reply is written: a record outlives its answer only if this gateway dies
          // while Redis is unreachable (the clear still queued), or Redis loses it.
          this.#clearUnanswered(action);
          break;
      }
    }
    this.#applyBackpressure();
  }

  /**
   * Replies that become ready in the same turn of the event loop (the metadata tier's answers
   * arrive in batches under load) leave in one write: the socket is corked at the first one and
   * uncorked once the turn's callbacks and promise continuations have run.
   */
  #send(bytes: Uint8Array): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#socket.write(bytes);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #call(token: number, action: Extract<ConnectionAction, { kind: "call" }>): void {
    // The shard recognises a retried request by its id, so ids must never repeat anywhere: the
    // core's ids start with this link's cluster-unique id (a re-sent packet keeps the id it had on
    // an earlier link). A call without one gets a link-qualified id too.
    const request = action.request.ctx.requestId !== undefined
      ? action.request
      : { ...action.request, ctx: { ...action.request.ctx, requestId: `${this.#linkId}/n${this.#unnamedCalls++}` } };
    this.#callsInFlight++;
    this.#context.inFlight.count++;
    void this.#context.caller.call(request, action.route).then((result: Result) => {
      this.#callsInFlight--;
      this.#context.inFlight.count--;
      this.#guard("onResult", () => this.#connection.onResult(token, result, this.#context.nowMs()));
    });
  }

  #createSession(token: number, draft: SessionDraft): void {
    this.#context.sessions.create(draft).then(
      (record) => {
        this.#adoptSession(record.sessionId);
        this.#log.info("session created", { session: record.sessionId, info: record.info, path: record.path });
        this.#guard("onSessionCreated", () => this.#connection.onSessionCreated(token, record, this.#context.nowMs()));
      },
      (err: unknown) => this.#storeFailed("create session", err),
    );
  }

  #loadSession(token: number, sessionId: number): void {
    const { sessions } = this.#context;
    Promise.all([sessions.load(sessionId), sessions.unanswered(sessionId)]).then(
      ([record, unanswered]) => {
        if (record !== null) {
          this.#adoptSession(record.sessionId);
          this.#log.info("session resumed", { session: record.sessionId });
        } else {
          this.#log.info("reconnect to an unknown session", { session: sessionId });
        }
        this.#guard("onSessionLoaded", () => this.#connection.onSessionLoaded(token, record, this.#context.nowMs(), unanswered));
      },
      (err: unknown) => {
        if (err instanceof Error && err.name === "SessionDecodeError") {
          // A stored session we cannot read is as good as unknown: the mount registers anew.
          this.#log.warn("stored session unreadable; treating it as unknown", { session: sessionId, err });
          this.#guard("onSessionLoaded", () => this.#connection.onSessionLoaded(token, null, this.#context.nowMs()));
          return;
        }
        this.#storeFailed("load session", err);
      },
    );
  }

  #deleteSession(sessionId: number): void {
    if (sessionId === this.#sessionId) this.#sessionId = 0;
    this.#context.sessions.delete(sessionId).catch((err: unknown) => {
      // The session then lingers until its TTL; nothing else depends on the delete.
      this.#log.warn("session delete failed", { session: sessionId, err });
    });
  }

  #putUnanswered(action: Extract<ConnectionAction, { kind: "unanswered-put" }>): void {
    this.#context.sessions.putUnanswered(action.sessionId, action.msgid, action.request).catch((err: unknown) => {
      // Only a re-send after a reconnect is affected: it then runs again, as it would on mfsmaster.
      this.#log.warn("cannot record an unanswered request", { session: action.sessionId, err });
    });
  }

  #clearUnanswered(action: Extract<ConnectionAction, { kind: "unanswered-clear" }>): void {
    this.#context.sessions.clearUnanswered(action.sessionId, action.msgid, action.requestId).catch((err: unknown) => {
      this.#log.warn("cannot clear an answered request", { session: action.sessionId, err });
    });
  }

  #adoptSession(sessionId: number): void {
    this.#sessionId = sessionId;
    this.#touch(this.#context.nowMs());
  }

  #touch(nowMs: number): void {
    this.#lastTouchMs = nowMs;
    const sessionId = this.#sessionId;
    this.#context.sessions.touch(sessionId, this.#context.gatewayId).catch((err: unknown) => {
      this.#log.warn("session touch failed", { session: sessionId, err });
    });
  }

  /**
   * The session store is unreachable: without a session the mount cannot proceed, and an answer
   * we cannot give must not be faked. Closing makes mfsmount reconnect and register again.
   */
  #storeFailed(what: string, err: unknown): void {
    this.#log.error(`cannot ${what}; closing the connection`, { session: this.#sessionId, err });
    this.destroy();
  }

  #applyBackpressure(): void {
    if (this.#closing || this.#draining) return;
    const overloaded =
      this.#socket.writableLength > limits.connectionWriteBufferBytesMax ||
      this.#callsInFlight >= limits.connectionCallsInFlightMax ||
      this.#context.inFlight.count >= limits.gatewayCallsInFlightMax;
    if (overloaded && !this.#socket.isPaused()) this.#socket.pause();
    else if (!overloaded && this.#socket.isPaused()) this.#socket.resume();
  }

  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    // The sustain time of a disconnected session counts from its last sight.
    if (this.#sessionId !== 0) this.#touch(this.#context.nowMs());
    try {
      this.#connection.closed();
    } catch (err) {
      this.#log.error("core failed while closing", { err });
    }
    this.#onGone();
  }
}
