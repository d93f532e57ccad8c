/**
 * Opening a Redis connection. ioredis reconnects on its own after a lost link and queues commands
 * meanwhile; what it does not do is tell a starting service that Redis was never reachable. So
 * connectRedis waits for the first "ready" (bounded) and fails with a typed error otherwise: a
 * service must not report READY while its session store is unreachable.
 */
import { Redis } from "ioredis";

export type RedisClient = Redis;

export class RedisConnectError extends Error {
  override name = "RedisConnectError";
}

export interface ConnectRedisOptions {
  /** Shown in CLIENT LIST, so an operator can tell which service holds a connection. */
  readonly connectionName?: string;
  /** How long to wait for the first connection. */
  readonly connectTimeoutMs?: number;
  /**
   * A command fails after this long, also while it waits for a reconnect: callers (a mount
   * registering) get an error they can act on instead of waiting out a Redis outage.
   */
  readonly commandTimeoutMs?: number;
}

const connectTimeoutDefaultMs = 5_000;
const commandTimeoutDefaultMs = 5_000;
/** Reconnect delay after a lost link: grows with the attempt, capped so recovery stays quick. */
const reconnectDelayMaxMs = 1_000;

export async function connectRedis(url: string, options: ConnectRedisOptions = {}): Promise<RedisClient> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new RedisConnectError(`invalid Redis URL ${JSON.stringify(url)}`, { cause: err });
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new RedisConnectError(`Redis URL must start with redis:// or rediss://, got ${JSON.stringify(url)}`);
  }
  const redis = new Redis(url, {
    lazyConnect: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    retryStrategy: (attempt) => Math.min(attempt * 50, reconnectDelayMaxMs),
    // Commands issued while the link is down wait for the reconnect instead of failing at once;
    // the bound keeps a long outage from piling up callers forever.
    maxRetriesPerRequest: 20,
    commandTimeout: options.commandTimeoutMs ?? commandTimeoutDefaultMs,
  });
  // Without a listener ioredis prints every connection error; the callers see failed commands.
  redis.on("error", () => {});
  const timeoutMs = options.connectTimeoutMs ?? connectTimeoutDefaultMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RedisConnectError(`Redis at ${parsed.host} not reachable within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    redis.disconnect();
    if (err instanceof RedisConnectError) throw err;
    throw new RedisConnectError(`cannot connect to Redis at ${parsed.host}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return redis;
}
