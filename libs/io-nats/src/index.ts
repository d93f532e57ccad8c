export { connectNats, type ConnectOptions, type NatsConnection } from "./connect.ts";
export { FencedError, LogUnavailableError, type LogRecord, type LogStream, type TruncatableLogStream } from "./log-stream.ts";
export type { LeaseObservation, LeaseRecord, LeaseStore } from "./lease-store.ts";
export { decodeLeaseRecord, encodeLeaseRecord, KvLeaseStore, LeaseRecordError, openKvLeaseStore, openLeaseMirror, type LeaseMirror, shardIdOfLeaseKey, watchShardLeases, type KvLeaseStoreOptions } from "./kv-lease-store.ts";
export { noRespondersStatus, respondNoResponders } from "./status-reply.ts";
export { ensureShardLog, JetStreamLogStream, type ShardLogOptions } from "./jetstream-log-stream.ts";
export { followLog, type FollowOptions, type LogFollower } from "./log-follower.ts";
export { ClusterMetaIdError, ensureClusterCreatedSeconds, ensureClusterMetaId, openBucket, type Bucket, type BucketEntry, type BucketWatch, type BucketOptions } from "./kv.ts";
export { createPartsCollector, respondInParts, ReplyPartsError, type PartsCollector } from "./reply-parts.ts";
export { newHeaders, request, serve, type Handler, type Msg, type MsgHdrs, type Reply, type ServeOptions, type Subscription } from "./rpc.ts";
export {
  openSnapshotStore, sha256Hex, snapshotBucket, snapshotObjectName, SnapshotCorruptError, SnapshotStoreError,
  type Snapshot, type SnapshotInfo, type SnapshotPut, type SnapshotStore, type SnapshotStoreOptions,
} from "./snapshot-store.ts";
export { LogTruncatedError, openQuorumLogStream, QuorumLogStream, type QuorumLogOptions, type ReplicaState } from "./quorum-log-stream.ts";
export {
  openQuorumLeaseStore, QuorumLeaseStore, quorumLeaseStream, quorumLeaseSubject, type QuorumLeaseOptions,
} from "./quorum-lease-store.ts";
export { followQuorumLog, type QuorumFollowOptions } from "./quorum-log-follower.ts";
