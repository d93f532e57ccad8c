/**
 * A simulated gateway: the shell around the real gateway core (`createClientConnection`), as the
 * gateway server is, but driven by the event loop. It carries bytes between mounts and their
 * connections, sends the connections' calls to the shard replicas (retrying an unanswered call with
 * the same request, as the server does), keeps sessions in a shared store (Redis in production)
 * and ticks every connection. A gateway can crash: every connection drops, and mounts reconnect.
 */
import { limits } from "@antler/base";
import { FrameDecoder } from "@antler/mfs-wire";
import { decodeMessage, encodeMessage, type Command, type Ctx, type Result } from "@antler/ops";
import { createClientConnection, parseExports, type ClientConnection, type ConnectionAction, type SessionRecord, type UnansweredRequest } from "@antler/gateway-core";
import type { History } from "./history.ts";
import type { EventLoop, Timer } from "./loop.ts";
import { BytePipe, type Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { MetaMessage } from "./shard-node.ts";

/**
 * Sessions shared by all gateways (the Redis session store), with each session's unanswered
 * requests. Its operations take effect at once: the real gateway issues them to Redis before the
 * call or reply that follows them, and Redis applies one connection's commands in order.
 */
export class SessionStore {
  readonly #sessions = new Map<number, { readonly record: SessionRecord; readonly unanswered: Map<number, UnansweredRequest> }>();
  #nextId = 1;

  allocate(): number {
    return this.#nextId++;
  }
  put(record: SessionRecord): void {
    this.#sessions.set(record.sessionId, { record, unanswered: new Map() });
  }
  get(sessionId: number): SessionRecord | null {
    return this.#sessions.get(sessionId)?.record ?? null;
  }
  delete(sessionId: number): void {
    this.#sessions.delete(sessionId);
  }
  /** A copy: what the gateway loads with the session. */
  unanswered(sessionId: number): Map<number, UnansweredRequest> {
    return new Map(this.#sessions.get(sessionId)?.unanswered);
  }
  putUnanswered(sessionId: number, msgid: number, request: UnansweredRequest): void {
    this.#sessions.get(sessionId)?.unanswered.set(msgid, request);
  }
  clearUnanswered(sessionId: number, msgid: number, requestId: string): void {
    const unanswered = this.#sessions.get(sessionId)?.unanswered;
    if (unanswered?.get(msgid)?.requestId === requestId) unanswered.delete(msgid);
  }
}

/** What a mount holds of its TCP connection to a gateway. */
export interface MountLink {
  /** The connection's id at its gateway (the checkers key replies by gateway, connection, msgid). */
  readonly id: string;
  write(bytes: Uint8Array): void;
  /** The mount closes the connection. */
  close(): void;
}

/** Which execution answered each client request (connection id and msgid), for the checkers. */
export type ReplyExecs = Map<string, string>;

interface Call {
  readonly connection: number;
  readonly token: number;
  readonly message: Extract<MetaMessage, { kind: "meta-request" }>;
  attempts: number;
  timer: Timer | null;
}

interface Conn {
  readonly id: number;
  readonly core: ClientConnection;
  readonly toMount: BytePipe;
  readonly toGateway: BytePipe;
  readonly onClosed: () => void;
  /** Re-frames what this gateway sends, to learn which reply answered which msgid. */
  readonly sentFrames: FrameDecoder;
  open: boolean;
}

export interface GatewayOptions {
  readonly id: string;
  readonly loop: EventLoop;
  readonly network: Network<MetaMessage>;
  readonly prng: Prng;
  readonly replicas: readonly string[];
  /** Sharded clusters: the replicas of the shard a command goes to (by its slot); else `replicas`. */
  readonly route?: (cmd: Command) => readonly string[];
  readonly sessions: SessionStore;
  readonly history: History;
  readonly replyExecs: ReplyExecs;
  readonly metaId: bigint;
  /** One attempt of a metadata call waits this long before it is sent again. */
  readonly callAttemptTimeoutMs: number;
  /** Broken on purpose (variant "forgotten-resends"): sessions load without their unanswered requests. */
  readonly forgottenResends?: boolean;
}

export class SimGateway {
  readonly id: string;
  readonly #o: GatewayOptions;
  readonly #exports = parseExports("* / rw,alldirs,admin,maproot=0:0");
  readonly #connections = new Map<number, Conn>();
  readonly #calls = new Map<number, Call>();
  #nextConnection = 1;
  #nextCallToken = 1;
  #alive = true;
  #generation = 0;

  constructor(options: GatewayOptions) {
    this.id = options.id;
    this.#o = options;
    options.network.register(options.id, (_from, message) => this.#receive(message));
    this.#scheduleTick();
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** A mount at `peerIp` opens a TCP connection; `deliver` gets the bytes the gateway sends. */
  connect(peerIp: number, deliver: (bytes: Uint8Array) => void, onClosed: () => void): MountLink | null {
    if (!this.#alive) return null;
    const { loop, prng } = this.#o;
    const id = this.#nextConnection++;
    // Connection-unique request ids, as the real server gives them (boot id + link counter).
    const core = createClientConnection({ metaId: this.#o.metaId, exports: this.#exports, peerIp, requestIdPrefix: `${this.id}.${this.#generation}.${id}/` });
    const toMount = new BytePipe(loop, prng.fork(`c${id}.down`), `${this.id} tcp->mount`, deliver);
    const toGateway = new BytePipe(loop, prng.fork(`c${id}.up`), `${this.id} tcp<-mount`, (bytes) => {
      const conn = this.#connections.get(id);
      if (conn !== undefined && conn.open) this.#execute(conn, conn.core.receive(bytes, loop.nowMs));
    });
    const conn: Conn = { id, core, toMount, toGateway, onClosed, sentFrames: new FrameDecoder(limits.clientPacketBytesMax), open: true };
    this.#connections.set(id, conn);
    return {
      id: `${this.id}:${id}`,
      write: (bytes) => toGateway.write(bytes),
      close: () => this.#drop(conn, false),
    };
  }

  /** The gateway process dies: connections reset, calls in flight are forgotten. */
  crash(): void {
    this.#alive = false;
    this.#generation++;
    for (const conn of [...this.#connections.values()]) this.#drop(conn, true);
    for (const call of this.#calls.values()) call.timer?.cancel();
    this.#calls.clear();
    this.#o.network.setDown(this.id, true);
  }

  restart(): void {
    if (this.#alive) return;
    this.#alive = true;
    this.#o.network.setDown(this.id, false);
    this.#scheduleTick();
  }

  #drop(conn: Conn, notifyMount: boolean): void {
    if (!conn.open) return;
    conn.open = false;
    conn.toMount.close();
    conn.toGateway.close();
    conn.core.closed();
    this.#connections.delete(conn.id);
    for (const [token, call] of this.#calls) {
      if (call.connection === conn.id) {
        call.timer?.cancel();
        this.#calls.delete(token);
      }
    }
    // The mount notices a reset when it next reads; a graceful close by the mount needs no notice.
    if (notifyMount) this.#o.loop.after(1, `${this.id} reset`, conn.onClosed);
  }

  #scheduleTick(): void {
    const generation = this.#generation;
    this.#o.loop.after(limits.gatewayTickMs, `${this.id} tick`, () => {
      if (!this.#alive || generation !== this.#generation) return;
      for (const conn of [...this.#connections.values()]) this.#execute(conn, conn.core.tick(this.#o.loop.nowMs));
      this.#scheduleTick();
    });
  }

  #execute(conn: Conn, actions: readonly ConnectionAction[], execId?: string): void {
    const { loop, sessions } = this.#o;
    for (const action of actions) {
      if (!conn.open) return;
      switch (action.kind) {
        case "send":
          this.#noteReplies(conn, action.bytes, execId);
          conn.toMount.write(action.bytes);
          break;
        case "close":
          this.#o.history.note(`${this.#o.id} closes connection ${conn.id}: ${action.reason}`);
          this.#drop(conn, true);
          break;
        case "call":
          this.#call(conn, action.token, action.request);
          break;
        case "session-create": {
          const record: SessionRecord = { ...action.draft, sessionId: sessions.allocate() };
          sessions.put(record);
          loop.after(1, `${this.id} session stored`, () => {
            if (conn.open) this.#execute(conn, conn.core.onSessionCreated(action.token, record, loop.nowMs));
          });
          break;
        }
        case "session-load": {
          const record = sessions.get(action.sessionId);
          const unanswered = this.#o.forgottenResends === true ? new Map<number, UnansweredRequest>() : sessions.unanswered(action.sessionId);
          loop.after(1, `${this.id} session loaded`, () => {
            if (conn.open) this.#execute(conn, conn.core.onSessionLoaded(action.token, record, loop.nowMs, unanswered));
          });
          break;
        }
        case "session-delete":
          sessions.delete(action.sessionId);
          break;
        case "unanswered-put":
          sessions.putUnanswered(action.sessionId, action.msgid, action.request);
          break;
        case "unanswered-clear":
          sessions.clearUnanswered(action.sessionId, action.msgid, action.requestId);
          break;
      }
    }
  }

  /** Records which execution each reply frame carries (the frame's msgid is its first 4 bytes). */
  #noteReplies(conn: Conn, bytes: Uint8Array, execId: string | undefined): void {
    for (const frame of conn.sentFrames.push(bytes)) {
      if (execId === undefined || frame.payload.length < 4) continue;
      const msgid = new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0);
      this.#o.replyExecs.set(`${this.id}:${conn.id}:${msgid}`, execId);
    }
  }

  #call(conn: Conn, token: number, request: { readonly cmd: unknown; readonly ctx: unknown }): void {
    const callToken = this.#nextCallToken++;
    // What travels over NATS is the encoded request.
    const wire = decodeMessage(encodeMessage(request)) as { cmd: never; ctx: Ctx };
    const call: Call = { connection: conn.id, token, message: { kind: "meta-request", token: callToken, cmd: wire.cmd, ctx: wire.ctx }, attempts: 0, timer: null };
    this.#calls.set(callToken, call);
    this.#attempt(call);
  }

  #attempt(call: Call): void {
    call.attempts++;
    const replicas = this.#o.route?.(call.message.cmd) ?? this.#o.replicas;
    for (const replica of replicas) this.#o.network.send(this.id, replica, call.message);
    call.timer = this.#o.loop.after(this.#o.callAttemptTimeoutMs, `${this.id} call timeout`, () => {
      if (this.#calls.get(call.message.token) === call) this.#attempt(call);
    });
  }

  #receive(message: MetaMessage): void {
    if (!this.#alive || message.kind !== "meta-reply") return;
    const call = this.#calls.get(message.token);
    if (call === undefined) return; // a late or duplicate reply: the first one won
    this.#calls.delete(message.token);
    call.timer?.cancel();
    const conn = this.#connections.get(call.connection);
    if (conn === undefined || !conn.open) return;
    const result = decodeMessage(encodeMessage(message.result)) as Result;
    this.#execute(conn, conn.core.onResult(call.token, result, this.#o.loop.nowMs), message.execId);
  }
}

