export { RedisConnectError, connectRedis, type ConnectRedisOptions, type RedisClient } from "./connect.ts";
export {
  SessionDecodeError,
  SessionIdsExhaustedError,
  createSessionStore,
  sessionCounterKey,
  sessionKey,
  type SessionEntry,
  type SessionStore,
  type SessionStoreOptions,
  type UnansweredEntry,
} from "./session-store.ts";
export {
  gatewayKey,
  listGateways,
  startGatewayHeartbeat,
  type GatewayHeartbeat,
  type GatewayHeartbeatOptions,
  type GatewayInfo,
} from "./gateway-liveness.ts";
export {
  ChunkserverIdsExhaustedError,
  chunkserverCounterKey,
  chunkserverKey,
  createChunkserverRegistry,
  type ChunkserverEntry,
  type ChunkserverRegistration,
  type ChunkserverRegistry,
  type ChunkserverRegistryOptions,
  type ChunkserverRegistryState,
  type ChunkserverSpace,
  type ClusterSpace,
} from "./chunkserver-registry.ts";
