export type { ChunkserverAddress, ChunkserverLocator, ClientConnection, ConnectionAction, SessionDraft, SessionRecord, UnansweredRequest } from "./api.ts";
export { createClientConnection, type ClientConnectionOptions } from "./connection.ts";
export { ExportsParseError, disableBit, matchExport, parseExports, type ExportRule } from "./exports.ts";
export { attrOut, ctxFor, inodeIn, inodeOut, mappedCaller, type Caller } from "./identity.ts";
export { clientRequestId, threadOfRequestId } from "./request-ids.ts";
export { translateRequest, type Plan, type SessionKind } from "./translate.ts";
export type {
  ChunkOpReply,
  ChunkserverAction,
  ChunkserverConnection,
  ChunkserverRecord,
  ChunkserverSpaceTotals,
  ChunkserverState,
} from "./chunkserver-api.ts";
export { createChunkserverConnection, type ChunkserverConnectionOptions } from "./chunkserver-connection.ts";
