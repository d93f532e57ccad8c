/**
 * Names shared by every service on NATS: subjects, headers, streams and buckets. One home, so a
 * grep finds every producer and consumer.
 */

/** Metadata requests from gateways; routers listen in one queue group. */
export const metaRequestSubject = "antler.meta";
export const routerQueue = "antler-router";

/** Requests forwarded to the leader of one shard. */
export function shardRequestSubject(shardId: number): string {
  return `antler.shard.${shardId}.req`;
}

/** The shard's log stream and its one subject. */
export function shardLogStream(shardId: number): string {
  return `ANTLER_SHARD_${shardId}`;
}
export function shardLogSubject(shardId: number): string {
  return `antler.log.${shardId}`;
}

/** KV bucket with cluster-wide facts: the metadata id, the shard map. */
export const clusterBucket = "antler-cluster";
export const clusterMetaIdKey = "metaid";
/** When the filesystem was created (seconds): the root directory's initial times on every replica. */
export const clusterCreatedKey = "created";
export const shardMapKey = "shardmap";

/**
 * Chunk operations a shard leader asks of one chunkserver, sent to the gateway holding that
 * chunkserver's link (its gatewayId is in the chunkserver registry). Request/reply:
 * ChunkOpRequest → ChunkOpReply, both in the internal JSON codec.
 */
export function gatewayChunkOpSubject(gatewayId: string): string {
  return `antler.gw.${gatewayId}.chunkop`;
}

/** One MATOCS_* operation for one chunkserver (the fields of the wire message, by name). */
export type ChunkOpCommand =
  | { readonly op: "create"; readonly chunkId: bigint; readonly version: number }
  /** version 0 = any version. */
  | { readonly op: "delete"; readonly chunkId: bigint; readonly version: number }
  | { readonly op: "set-version"; readonly chunkId: bigint; readonly version: number; readonly oldVersion: number }
  | {
      readonly op: "duplicate";
      readonly chunkId: bigint;
      readonly version: number;
      readonly oldChunkId: bigint;
      readonly oldVersion: number;
    }
  | {
      readonly op: "truncate";
      readonly chunkId: bigint;
      /** Bytes to keep in this chunk (0..64 MiB). */
      readonly length: number;
      readonly version: number;
      readonly oldVersion: number;
    }
  | {
      readonly op: "duptrunc";
      readonly chunkId: bigint;
      readonly version: number;
      readonly oldChunkId: bigint;
      readonly oldVersion: number;
      readonly length: number;
    }
  /** Pull a copy from the chunkserver `sourceCsid` (the gateway resolves its address). */
  | { readonly op: "replicate"; readonly chunkId: bigint; readonly version: number; readonly sourceCsid: number };

export interface ChunkOpRequest {
  readonly csid: number;
  readonly command: ChunkOpCommand;
}

/**
 * The chunkserver's status (0 = OK, else MFS_ERROR_*). A link that is gone, a chunkserver that
 * is not on this gateway, or no answer within limits.chunkOpTimeoutMs give CSNOTPRESENT (43).
 */
export interface ChunkOpReply {
  readonly status: number;
}

/** Headers of a metadata request. */
export const Header = {
  /** Slot of the inode that owns the request (decimal), or "*" for every shard. */
  slot: "Antler-Slot",
  /** The client session, for logs and traces. */
  session: "Antler-Session",
  /** Idempotency key of the request (stable across retries). */
  requestId: "Antler-Request-Id",
  /** Shard map version the sender routed with. */
  mapVersion: "Antler-Map-Version",
  /**
   * Where the answering service may publish the leading parts of a reply too large for one NATS
   * message (see libs/io-nats reply-parts.ts); the final part goes to the request's reply inbox.
   */
  partsTo: "Antler-Parts-To",
  /** On a reply: how many parts it has in all (absent = 1). On a part: its index. */
  parts: "Antler-Parts",
  part: "Antler-Part",
  /** W3C trace context. */
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;

/** A metadata request on the wire between services. */
export interface MetaRequest {
  readonly ctx: import("./command.ts").Ctx;
  readonly cmd: import("./command.ts").Command;
}

/** A shard leader's live figures (`antler status`): request/reply, empty request, ShardStats reply. */
export function shardStatsSubject(shardId: number): string {
  return `antler.shard.${shardId}.stats`;
}

export interface ShardStats {
  readonly shardId: number;
  /** Slots this shard owns. */
  readonly slots: number;
  readonly inodes: number;
  readonly dirs: number;
  readonly files: number;
  /** Requests answered per second, averaged over the last limits.shardStatsWindowMs. */
  readonly opsPerSec: number;
  /** Requests passed to the coordinator since start (cross-shard operations and their retries). */
  readonly forwarded: number;
  /** Transactions prepared and not yet decided here now. */
  readonly preparedTxns: number;
  /** The replica answering (the leader). */
  readonly replica: string;
}
