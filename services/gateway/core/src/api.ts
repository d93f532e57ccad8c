/**
 * The contract between the gateway's pure core and its server shell.
 *
 * One ClientConnection per TCP connection on the client port (9421). The shell feeds it bytes
 * and ticks; the core answers with actions that the shell carries out in order. The core never
 * touches a socket, a timer, Redis or NATS: every asynchronous answer comes back through one of
 * the `on*` methods with the token the core chose. This makes the whole connection testable by
 * feeding bytes (split anywhere) and drivable by the simulator.
 */
import type { MetaRequest, Result, Route } from "@antler/ops";

/**
 * Where clients reach a chunkserver (READ_CHUNK / WRITE_CHUNK replies list chunkservers by
 * address). The shell keeps a cache of the chunkserver registry and answers synchronously;
 * undefined = not connected now (that copy is left out of the reply).
 */
export interface ChunkserverAddress {
  readonly ip: number;
  readonly port: number;
  /** The chunkserver's version (0x000300EA for 3.0.117): the client chooses its write protocol by it. */
  readonly version: number;
  readonly labelMask: number;
}
export type ChunkserverLocator = (csid: number) => ChunkserverAddress | undefined;

/** What the gateway persists about a client session (in Redis), enough to resume it anywhere. */
export interface SessionRecord {
  readonly sessionId: number;
  /** Export-derived rules fixed at registration. */
  readonly rootInode: number;
  readonly sesflags: number;
  readonly umask: number;
  readonly rootUid: number;
  readonly rootGid: number;
  readonly mapAllUid: number;
  readonly mapAllGid: number;
  readonly minGoal: number;
  readonly maxGoal: number;
  readonly minTrashTime: number;
  readonly maxTrashTime: number;
  readonly disables: number;
  /** What the mount told us (its mount point) and the subfolder it asked for. */
  readonly info: string;
  readonly path: string;
  readonly peerIp: number;
  readonly clientVersion: number;
}

/**
 * A mutating request of a mount session that went to the metadata tier and whose reply the client
 * has not received yet, kept per msgid (mfsmount gives each worker thread one msgid and lets it
 * have one request outstanding). Persisted with the session, so that after the mount reconnects —
 * to this gateway or another, also after a gateway crash — the packet it re-sends is recognised:
 * the same msgid with the same content (fingerprint) goes out with the original request id, and a
 * shard that already ran it answers from its request-id memory instead of running it again.
 */
export interface UnansweredRequest {
  readonly requestId: string;
  /** commandFingerprint (@antler/ops) of the command sent. */
  readonly fingerprint: string;
}

/** A session being created: the shell allocates the cluster-unique id. */
export type SessionDraft = Omit<SessionRecord, "sessionId">;

export type ConnectionAction =
  | { readonly kind: "send"; readonly bytes: Uint8Array }
  /** Close the connection after flushing what was sent before. */
  | { readonly kind: "close"; readonly reason: string }
  /** Ask the metadata tier; answer with onResult(token, result). */
  | { readonly kind: "call"; readonly token: number; readonly request: MetaRequest; readonly route: Route }
  /** Create a session (allocate an id, persist); answer with onSessionCreated. */
  | { readonly kind: "session-create"; readonly token: number; readonly draft: SessionDraft }
  /**
   * Load a persisted session for RECONNECT with its unanswered requests; answer with
   * onSessionLoaded (null if unknown).
   */
  | { readonly kind: "session-load"; readonly token: number; readonly sessionId: number }
  /**
   * Persist `request` as msgid's unanswered request of the session (replacing the one before).
   * Carried out before the call that follows it in the same batch leaves the gateway.
   */
  | { readonly kind: "unanswered-put"; readonly sessionId: number; readonly msgid: number; readonly request: UnansweredRequest }
  /**
   * msgid's request `requestId` was answered (or the thread moved on): forget it, unless msgid's
   * record names another request by now. Carried out before the reply that follows it is written.
   */
  | { readonly kind: "unanswered-clear"; readonly sessionId: number; readonly msgid: number; readonly requestId: string }
  /** The session ended for good (CLOSESESSION): forget it. */
  | { readonly kind: "session-delete"; readonly sessionId: number };

export interface ClientConnection {
  /** Bytes from the socket, split anywhere. */
  receive(bytes: Uint8Array, nowMs: number): ConnectionAction[];
  /** Periodic call (the shell ticks every few hundred ms): keepalives, timeouts. */
  tick(nowMs: number): ConnectionAction[];
  onResult(token: number, result: Result, nowMs: number): ConnectionAction[];
  onSessionCreated(token: number, record: SessionRecord, nowMs: number): ConnectionAction[];
  onSessionLoaded(token: number, record: SessionRecord | null, nowMs: number, unanswered?: ReadonlyMap<number, UnansweredRequest>): ConnectionAction[];
  /** The socket closed (by the peer or by us). */
  closed(): void;
}
