export { Status, type ErrorStatus } from "./status.ts";
export { NodeType, AttrFlag, type Attr } from "./attr.ts";
export {
  SessionFlag,
  AccessMask,
  SetMask,
  OpenFlag,
  TruncateFlag,
  XattrMode,
  FlockCmd,
  PosixLockCmd,
  PosixLockType,
  AclType,
  ChunkOpFlag,
  CopyState,
  readOnlyKinds,
  type Acl,
  type Command,
  type CommandKind,
  type CommandOf,
  type Ctx,
} from "./command.ts";
export {
  isFailure,
  type ChunkLocation,
  type DirEntry,
  type Failure,
  type NodeReply,
  type Payloads,
  type Result,
  type ResultOf,
  type SetCounts,
  type Success,
  type ValueCounts,
} from "./result.ts";
export { nameFromBytes, nameToBytes, nameFromText, nameToText, type Name } from "./names.ts";
export { CodecError, base64Decode, base64Encode, decodeMessage, encodeMessage } from "./codec.ts";
export { routeOf, slotOfInode, type Route } from "./route.ts";
export {
  Header,
  clusterBucket,
  clusterCreatedKey,
  clusterMetaIdKey,
  gatewayChunkOpSubject,
  metaRequestSubject,
  routerQueue,
  shardLogStream,
  shardLogSubject,
  shardMapKey,
  shardRequestSubject,
  shardStatsSubject,
  type ShardStats,
  type ChunkOpCommand,
  type ChunkOpReply,
  type ChunkOpRequest,
  type MetaRequest,
} from "./transport.ts";
export { leaseBucket, shardLeaseKey, type LeaseObservation, type LeaseRecord } from "./lease.ts";
export {
  coordinatorLeaseKey,
  coordinatorSubject,
  txDecisionKey,
  txidOf,
  txnBucket,
  type CoordinatedKind,
  type FsckNode,
  type NewNodeCommand,
  type NewNodeSpec,
  type NodeFacts,
  type TxDecision,
  type TxPart,
  type TxPartOutput,
} from "./txn.ts";
export { parseMetaRequest, parseResult } from "./envelope.ts";
export { commandFingerprint } from "./fingerprint.ts";
