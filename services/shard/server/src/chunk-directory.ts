/**
 * The shard leader's view of the chunkserver registry (libs/io-redis): which gateway holds the
 * link of a chunkserver (where its chunk operations go) and which chunkservers are live with how
 * much space (what housekeeping places copies on).
 *
 * Reads are cached: the whole listing is read at most once per refresh interval (the housekeeping
 * loop asks every pass), and a lookup whose cached record is older than that, or missing, or not
 * connected, reads that one record again (one HGETALL), so a chunkserver that just registered or
 * moved to another gateway is found within a second. Concurrent reads of the same thing share one
 * round trip.
 *
 * The registry lives in Redis, which the shard otherwise does not use: `chunkserverDirectoryFromEnv`
 * opens the connection lazily from ANTLER_REDIS_URL, so a shard without chunk work never connects.
 */
import { limits } from "@antler/base";
import { connectRedis, createChunkserverRegistry, type ChunkserverEntry, type RedisClient } from "@antler/io-redis";
import type { ChunkserverView } from "@antler/shard-core";
import type { Logger } from "@antler/telemetry";

/** The registry reads the directory needs (a ChunkserverRegistry fits). */
export interface ChunkserverRegistryReader {
  get(csid: number): Promise<ChunkserverEntry | null>;
  list(max?: number): Promise<ChunkserverEntry[]>;
}

export interface ChunkserverDirectory {
  /** The gateway holding the chunkserver's link; undefined when it is not connected now. */
  gatewayOf(csid: number): Promise<string | undefined>;
  /** The live chunkservers for housekeeping (registered and in maintenance), at most a refresh old. */
  views(): Promise<ChunkserverView[]>;
  close(): Promise<void>;
}

export interface ChunkserverDirectoryOptions {
  /** How old a cached listing or record may be; default one second. */
  readonly refreshMs?: number;
  readonly nowMs?: () => number;
  /** Called by close() (releases the Redis connection the directory owns). */
  readonly onClose?: () => Promise<void>;
}

const defaultRefreshMs = 1_000;

/** States in which a chunkserver has a link to some gateway (ops can reach it). */
const linkedStates: ReadonlySet<string> = new Set(["registering", "registered"]);

interface Cached {
  readonly entry: ChunkserverEntry | null;
  readonly readMs: number;
}

export function createChunkserverDirectory(registry: ChunkserverRegistryReader, options: ChunkserverDirectoryOptions = {}): ChunkserverDirectory {
  const refreshMs = options.refreshMs ?? defaultRefreshMs;
  const nowMs = options.nowMs ?? Date.now;
  const cache = new Map<number, Cached>();
  let listing: { readonly entries: ChunkserverEntry[]; readonly readMs: number } | null = null;
  let listingRead: Promise<ChunkserverEntry[]> | null = null;
  const recordReads = new Map<number, Promise<ChunkserverEntry | null>>();

  const readListing = (): Promise<ChunkserverEntry[]> => {
    if (listing !== null && nowMs() - listing.readMs < refreshMs) return Promise.resolve(listing.entries);
    listingRead ??= registry
      .list(limits.chunkserverListMax)
      .then((entries) => {
        const readMs = nowMs();
        listing = { entries, readMs };
        // Records absent from the listing are gone (expired); keep no stale gateway for them.
        cache.clear();
        for (const entry of entries) cache.set(entry.csid, { entry, readMs });
        return entries;
      })
      .finally(() => {
        listingRead = null;
      });
    return listingRead;
  };

  const readRecord = (csid: number): Promise<ChunkserverEntry | null> => {
    let read = recordReads.get(csid);
    if (read === undefined) {
      read = registry
        .get(csid)
        .then((entry) => {
          cache.set(csid, { entry, readMs: nowMs() });
          return entry;
        })
        .finally(() => recordReads.delete(csid));
      recordReads.set(csid, read);
    }
    return read;
  };

  return {
    async gatewayOf(csid) {
      const cached = cache.get(csid);
      const linked = (entry: ChunkserverEntry | null | undefined): entry is ChunkserverEntry => entry != null && linkedStates.has(entry.state) && entry.gatewayId !== "";
      if (cached !== undefined && nowMs() - cached.readMs < refreshMs && linked(cached.entry)) return cached.entry.gatewayId;
      const entry = await readRecord(csid);
      return linked(entry) ? entry.gatewayId : undefined;
    },
    async views() {
      return (await readListing()).flatMap((entry) => {
        const view = viewOf(entry);
        return view === null ? [] : [view];
      });
    },
    async close() {
      await options.onClose?.();
    },
  };
}

/** A registry record as housekeeping sees it; null for servers that take no part (not registered). */
export function viewOf(entry: ChunkserverEntry): ChunkserverView | null {
  if (entry.state !== "registered" && entry.state !== "maintenance") return null;
  const { totalSpace, usedSpace } = entry.space;
  return {
    csid: entry.csid,
    labelMask: entry.labelMask,
    availSpace: totalSpace > usedSpace ? totalSpace - usedSpace : 0n,
    totalSpace,
    state: entry.state,
  };
}

/**
 * A directory on the Redis at ANTLER_REDIS_URL, connected on first use (and again after a failed
 * connect); null when the variable is unset (the shard then reaches no chunkserver: every chunk
 * operation fails with CSNOTPRESENT and housekeeping sees no server).
 */
export function chunkserverDirectoryFromEnv(env: NodeJS.ProcessEnv, logger: Logger, options: ChunkserverDirectoryOptions = {}): ChunkserverDirectory | null {
  const url = env.ANTLER_REDIS_URL;
  if (url === undefined || url === "") return null;
  return createLazyRedisDirectory(url, logger, options);
}

export function createLazyRedisDirectory(url: string, logger: Logger, options: ChunkserverDirectoryOptions = {}): ChunkserverDirectory {
  interface Connected {
    readonly redis: RedisClient;
    readonly registry: ChunkserverRegistryReader;
  }
  let connection: Promise<Connected> | null = null;
  let closed = false;
  const connect = (): Promise<Connected> => {
    if (closed) return Promise.reject(new Error("chunkserver directory is closed"));
    connection ??= connectRedis(url, { connectionName: "antler-shard-chunkservers" }).then(
      (redis) => ({ redis, registry: createChunkserverRegistry(redis) }),
      (err: unknown) => {
        // The next read tries again; the caller sees the failure (chunk ops answer CSNOTPRESENT).
        connection = null;
        logger.warn("chunkserver registry unreachable", { err });
        throw err;
      },
    );
    return connection;
  };
  const registry: ChunkserverRegistryReader = {
    get: async (csid) => (await connect()).registry.get(csid),
    list: async (max) => (await connect()).registry.list(max),
  };
  return createChunkserverDirectory(registry, {
    ...options,
    onClose: async () => {
      closed = true;
      const pending = connection;
      connection = null;
      if (pending === null) return;
      const connected = await pending.catch(() => null);
      if (connected === null) return;
      await connected.redis.quit().catch(() => connected.redis.disconnect());
    },
  });
}
