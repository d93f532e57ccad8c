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
