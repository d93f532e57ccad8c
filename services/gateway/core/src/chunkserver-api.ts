/**
 * The contract between the gateway's pure chunkserver core and its server shell (the chunkserver
 * counterpart of api.ts).
 *
 * One ChunkserverConnection per TCP connection on the chunkserver port (9420). The shell feeds it
 * bytes and ticks and carries out the actions that come back, in order. The only asynchronous
 * answer is a csid allocation (cluster-unique, from Redis), returned through onCsidAllocated with
 * the token the core chose.
 */
import type { ChunkCopy, ChunkserverMessage, SpaceReport } from "@antler/mfs-wire";

/**
 * registering: BEGIN was acknowledged, the chunk list is being reported; registered: END arrived;
 * maintenance: the CS said goodbye (graceful stop: its copies are expected back, do not replicate
 * them yet); disconnected: the link is gone without a goodbye.
 */
export type ChunkserverState = "registering" | "registered" | "maintenance" | "disconnected";

/** What the registry keeps about one chunkserver (written as a whole on every update). */
export interface ChunkserverRecord {
  readonly csid: number;
  /** The data address clients and other chunkservers use: the reported IPv4, or the peer's when it reported 0. */
  readonly ip: number;
  readonly port: number;
  readonly version: number;
  readonly timeoutSeconds: number;
  /** Bit n = label 'A'+n (CSTOMA_LABELS). */
  readonly labelMask: number;
  readonly space: SpaceReport;
  readonly load: number;
  /** CSTOMA_CURRENT_LOAD's hlstatus (HlStatus); 0 until the CS reports one. */
  readonly hlStatus: number;
  /** CSTOMA_ERROR_OCCURRED count on this link. */
  readonly errorCount: number;
  /** Chunk copies reported on this link (registration, CHUNK_NEW) minus those reported gone. */
  readonly copyCount: number;
  readonly state: ChunkserverState;
}

export type ChunkOpReply = Extract<ChunkserverMessage, { kind: "chunk-op-status" | "replicate-status" }>;

export type ChunkserverAction =
  | { readonly kind: "send"; readonly bytes: Uint8Array }
  /** Close the connection after flushing what was sent before. */
  | { readonly kind: "close"; readonly reason: string }
  /**
   * The CS needs its csid (1..chunkserverIdMax) confirmed or allocated; answer with onCsidAllocated.
   * As mfsmaster's csdb: the `requested` csid (from the CS's chunkserverid.mfs, 0 for a new CS) is
   * granted unless a different chunkserver (another ip:port) holds it now; then, and for 0, a new
   * cluster-unique csid is allocated. The CS stores whatever the ACK carries.
   */
  | { readonly kind: "csid-allocate"; readonly token: number; readonly requested: number; readonly ip: number; readonly port: number }
  /** The chunkserver's record changed (or needs its TTL refreshed): write it to the registry. */
  | { readonly kind: "registry-update"; readonly record: ChunkserverRecord }
  /** Copies the CS holds: one registration batch, or copies that appeared later (CHUNK_NEW). */
  | { readonly kind: "chunks-reported"; readonly csid: number; readonly source: "register" | "new"; readonly chunks: readonly ChunkCopy[] }
  /** Copies the CS no longer has (LOST) or found corrupt (DAMAGED). */
  | { readonly kind: "chunks-gone"; readonly csid: number; readonly source: "lost" | "damaged"; readonly chunkIds: readonly bigint[] }
  /** The answer to a chunk operation (none is sent yet: for the data path). */
  | { readonly kind: "chunk-op-reply"; readonly csid: number; readonly reply: ChunkOpReply };

export interface ChunkserverConnection {
  /** Bytes from the socket, split anywhere. */
  receive(bytes: Uint8Array, nowMs: number): ChunkserverAction[];
  /** Periodic call (the shell's shared tick): keepalives, timeouts, registry refresh. */
  tick(nowMs: number): ChunkserverAction[];
  /** The csid the shell allocated for a `csid-allocate` token. */
  onCsidAllocated(token: number, csid: number, nowMs: number): ChunkserverAction[];
  /** The socket closed (by the peer or by us): the last registry update, if the CS was known. */
  closed(nowMs: number): ChunkserverAction[];
  /** The CS's id once known (0 before). */
  readonly csid: number;
  /** The copies this link reported (chunkid → version), bounded by limits.chunkserverCopiesTrackedMax. */
  readonly copies: ReadonlyMap<bigint, number>;
}

/** The chunkservers' space as STATFS reports it (ClientConnectionOptions.chunkserverSpace). */
export interface ChunkserverSpaceTotals {
  readonly totalSpace: bigint;
  readonly availSpace: bigint;
  readonly freeSpace: bigint;
}
