export { seededRandom } from "./prng.ts";
export {
  createNetns, findExecutable, freePort, isRoot, natsServerBinary, NetnsError, redisServerBinary,
  ServerStartError, startNatsServer, startRedis, startTicksOf, withNetns,
} from "./processes.ts";
export type {
  ManagedServer, NatsServerHandle, NatsServerOptions, Netns, RedisHandle, RedisOptions,
} from "./processes.ts";
export { jetStreamApi, kvLatest, natsRequest, NatsRequestError, streamLeader } from "./nats-request.ts";
export { startNatsCluster } from "./nats-cluster.ts";
export type { NatsClusterHandle, NatsClusterNode, NatsClusterOptions } from "./nats-cluster.ts";
