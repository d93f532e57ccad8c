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
  /** Load a persisted session for RECONNECT; answer with onSessionLoaded (null if unknown). */
  | { readonly kind: "session-load"; readonly token: number; readonly sessionId: number }
  /** The session ended for good (CLOSESESSION): forget it. */
  | { readonly kind: "session-delete"; readonly sessionId: number };

export interface ClientConnection {
  /** Bytes from the socket, split anywhere. */
  receive(bytes: Uint8Array, nowMs: number): ConnectionAction[];
  /** Periodic call (the shell ticks every few hundred ms): keepalives, timeouts. */
  tick(nowMs: number): ConnectionAction[];
  onResult(token: number, result: Result, nowMs: number): ConnectionAction[];
  onSessionCreated(token: number, record: SessionRecord, nowMs: number): ConnectionAction[];
  onSessionLoaded(token: number, record: SessionRecord | null, nowMs: number): ConnectionAction[];
  /** The socket closed (by the peer or by us). */
  closed(): void;
}
