export { DecodeError, FrameError } from "./errors.ts";
export { Reader } from "./reader.ts";
export { Writer } from "./writer.ts";
export { FrameDecoder, encodeFrame, frameHeaderBytes, type Frame } from "./frame.ts";
export * as codes from "./codes.ts";
export { RegisterCode, LookupFlag, ReaddirFlag, registerBlobAcl, replyTypeOf } from "./codes.ts";
export { readCredentials, writeCredentials, type Credentials } from "./credentials.ts";
export { attrRecordBytes, readAttr, writeAttr } from "./attr-record.ts";
export {
  decodeRequest,
  encodeRequest,
  encodeRequestPayload,
  isKnownRequestType,
  requestTypeOf,
  type AclEntry,
  type ClientRequest,
  type ClientRequestKind,
  type CltomaFuseRegister,
} from "./requests.ts";
export {
  decodeReply,
  encodeReply,
  encodeReplyPayload,
  replyTypeOfReply,
  type ChunkServerLocation,
  type MasterReply,
  type MasterReplyKind,
  type ReaddirEntry,
  type SclassCount,
  type ValueCount,
} from "./replies.ts";
export * as csCodes from "./chunkserver-codes.ts";
export { HlStatus, RegisterStep } from "./chunkserver-codes.ts";
export {
  chunkserverMessageTypeOf,
  decodeChunkserverMessage,
  emptySpaceReport,
  encodeChunkserverMessage,
  encodeChunkserverMessagePayload,
  type ChunkCopy,
  type ChunkOp,
  type ChunkserverMessage,
  type ChunkserverMessageKind,
  type SpaceReport,
} from "./chunkserver-messages.ts";
export {
  decodeMasterToChunkserver,
  encodeMasterToChunkserver,
  encodeMasterToChunkserverPayload,
  masterToChunkserverTypeOf,
  type MasterToChunkserver,
  type MasterToChunkserverKind,
} from "./master-to-chunkserver.ts";
