/**
 * One mount-like session to a master over TCP: REGISTER NEWSESSION like mfsmount, then requests with
 * a msgid each, any number in flight, replies matched by msgid (they may come in any order).
 *
 * Failure model: a reply of the wrong type, an unknown msgid or a malformed frame is a protocol
 * error and closes the session (as mfsmount would); every pending request then fails. A request
 * without a reply within requestTimeoutMs fails alone (the slot moves on, a late reply is dropped).
 */
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import * as benchLimits from "./limits.ts";
import {
  buildRequest,
  code,
  type Credentials,
  decodeRegisterReply,
  decodeReply,
  encodeRequest,
  type Frame,
  FrameDecoder,
  type MetaReply,
  type MetaRequest,
  nop,
  ProtocolError,
  registerNewSession,
  replyTypeOf,
  type SentRequest,
  type SessionGrant,
} from "./protocol.ts";

export class SessionClosedError extends Error {
  override name = "SessionClosedError";
}
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
}

/** A completed request: the reply and how long it took on this client, in µs. */
export interface Timed {
  reply: MetaReply;
  latencyMicros: number;
}

interface Pending {
  sent: SentRequest;
  kind: MetaRequest["kind"];
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (timed: Timed) => void;
  reject: (error: Error) => void;
}

export interface SessionOptions {
  host: string;
  port: number;
  /** Shows up as the session's "info" (mfsmount sends its mount point). */
  info: string;
  credentials: Credentials;
  /** Defaults to requestTimeoutMs of limits.ts. */
  requestTimeoutMs?: number;
}

export class Session {
  readonly grant: SessionGrant;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly credentials: Credentials;
  private readonly requestTimeoutMs: number;
  private readonly keepalive: NodeJS.Timeout;
  private nextMsgid = 1;
  private lastSentAt = performance.now();
  private closedBy: Error | null = null;

  private constructor(socket: net.Socket, decoder: FrameDecoder, grant: SessionGrant, options: SessionOptions, leftover: Frame[]) {
    this.socket = socket;
    this.decoder = decoder;
    this.grant = grant;
    this.credentials = options.credentials;
    this.requestTimeoutMs = options.requestTimeoutMs ?? benchLimits.requestTimeoutMs;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.close(new SessionClosedError(`socket error: ${error.message}`, { cause: error })));
    socket.on("close", () => this.close(new SessionClosedError("connection closed by the server")));
    // The master drops a session after 10 s of silence; idle gaps between phases need NOPs.
    this.keepalive = setInterval(() => {
      if (performance.now() - this.lastSentAt >= benchLimits.keepaliveIdleMs) this.write(encodeRequest(nop()));
    }, benchLimits.keepaliveIdleMs / 2);
    this.keepalive.unref();
    this.onFrames(leftover);
    socket.resume();
  }

  /** Connects and registers a new session; rejects within registerTimeoutMs. */
  static async open(options: SessionOptions): Promise<Session> {
    const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
    const decoder = new FrameDecoder(benchLimits.replyBytesMax);
    const register = registerNewSession(options.info);
    try {
      const { grant, leftover } = await new Promise<{ grant: SessionGrant; leftover: Frame[] }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new RequestTimeoutError(`REGISTER to ${options.host}:${options.port} timed out`)), benchLimits.registerTimeoutMs);
        const fail = (error: Error) => {
          clearTimeout(timer);
          reject(error);
        };
        socket.once("error", fail);
        socket.once("close", () => fail(new SessionClosedError("connection closed during REGISTER")));
        socket.once("connect", () => socket.write(encodeRequest(register)));
        const onData = (chunk: Buffer) => {
          try {
            const frames = decoder.push(chunk);
            // An unregistered connection may get a NOP before the reply from the real master.
            const replyIndex = frames.findIndex((frame) => frame.type !== code.nop);
            if (replyIndex < 0) return;
            const reply = frames[replyIndex]!;
            // Paused until the Session's own listener is attached, so no bytes are lost in between.
            socket.pause();
            socket.off("data", onData);
            socket.removeAllListeners("error");
            socket.removeAllListeners("close");
            clearTimeout(timer);
            resolve({ grant: decodeRegisterReply(reply, register), leftover: frames.slice(replyIndex + 1) });
          } catch (error) {
            fail(error as Error);
          }
        };
        socket.on("data", onData);
      });
      return new Session(socket, decoder, grant, options, leftover);
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends one request and resolves with its reply and latency; rejects on timeout or close. */
  request(request: MetaRequest): Promise<Timed> {
    if (this.closedBy !== null) return Promise.reject(this.closedBy);
    const msgid = this.allocateMsgid();
    return new Promise<Timed>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgid);
        reject(new RequestTimeoutError(`${request.kind} msgid ${msgid} got no reply in ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      const sent = buildRequest(msgid, request, this.credentials);
      const bytes = encodeRequest(sent);
      const sentAt = performance.now();
      this.pending.set(msgid, { sent, kind: request.kind, sentAt, timer, resolve, reject });
      this.write(bytes);
    });
  }

  /** Closes the TCP connection (no CLOSESESSION: the benchmark's sessions are throwaway). */
  close(reason: Error = new SessionClosedError("session closed by the client")): void {
    if (this.closedBy !== null) return;
    // Whatever ended the session, every pending and later request sees a SessionClosedError.
    const closed = reason instanceof SessionClosedError ? reason : new SessionClosedError(`session closed: ${reason.message}`, { cause: reason });
    this.closedBy = closed;
    clearInterval(this.keepalive);
    for (const [msgid, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(closed);
      this.pending.delete(msgid);
    }
    this.socket.destroy();
  }

  private allocateMsgid(): number {
    // msgid 0 is reserved for unsolicited packets; skip ids still pending after a wrap-around.
    for (let attempt = 0; attempt <= this.pending.size; attempt += 1) {
      const msgid = this.nextMsgid;
      this.nextMsgid = this.nextMsgid >= 0xffffffff ? 1 : this.nextMsgid + 1;
      if (!this.pending.has(msgid)) return msgid;
    }
    throw new ProtocolError("no free msgid");
  }

  private write(bytes: Uint8Array): void {
    this.lastSentAt = performance.now();
    this.socket.write(bytes);
  }

  private onData(chunk: Buffer): void {
    try {
      this.onFrames(this.decoder.push(chunk));
    } catch (error) {
      this.close(error as Error);
    }
  }

  private onFrames(frames: readonly Frame[]): void {
    try {
      for (const frame of frames) this.onFrame(frame);
    } catch (error) {
      this.close(error as Error);
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.payload.length < 4) {
      if (frame.type === code.nop) return;
      throw new ProtocolError(`frame type ${frame.type} without msgid`);
    }
    const msgid = new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0);
    if (msgid === 0) return; // NOP, cache invalidations and other notifications.
    const pending = this.pending.get(msgid);
    // A late reply to a request that already timed out is dropped, not treated as fatal.
    if (pending === undefined) return;
    // Still pending when this throws, so close() fails it together with all the others.
    if (frame.type !== replyTypeOf(pending.kind)) {
      throw new ProtocolError(`msgid ${msgid}: ${pending.kind} answered with type ${frame.type}`);
    }
    this.pending.delete(msgid);
    clearTimeout(pending.timer);
    const latencyMicros = (performance.now() - pending.sentAt) * 1000;
    try {
      pending.resolve({ reply: decodeReply(frame, pending.sent), latencyMicros });
    } catch (error) {
      pending.reject(error as Error);
    }
  }
}
