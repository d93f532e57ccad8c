/**
 * The chunkserver registry in Redis: which chunkservers are connected to the cluster, where
 * clients reach them, how much space they have. Every gateway writes the chunkservers it holds;
 * anyone (STATFS, status tools, later the chunk placement) reads the sum.
 *
 * Keys:
 * - `antler:cs:next`: the csid counter. MooseFS csids are u16 and 0 means "none", so allocation
 *   wraps from chunkserverIdMax back to 1 and skips ids whose record still exists; the record is
 *   created (state "allocated") in the same script, so two gateways can never hand out one id.
 *   A chunkserver that brings its csid keeps it unless another address holds it (as mfsmaster's
 *   csdb: a copied data directory must not make two servers share an id).
 * - `antler:cs:<csid>`: a hash with the record's fields (address, version, labels, space, load,
 *   state) plus `gateway` (which gateway holds the link) and `updated` (ms since the epoch). Its
 *   TTL (limits.chunkserverRecordTtlMs) is refreshed by every write; the holding gateway writes at
 *   least every chunkserverRecordRefreshMs, so the record of a CS whose gateway died disappears on
 *   its own.
 *
 * The record type is structural (it matches the gateway core's ChunkserverRecord) so this package
 * does not depend on the gateway.
 */
import { assert, limits } from "@antler/base";
import type { RedisClient } from "./connect.ts";

export const chunkserverKeyPrefix = "antler:cs:";
export const chunkserverCounterKey = "antler:cs:next";

export function chunkserverKey(csid: number): string {
  return `${chunkserverKeyPrefix}${csid}`;
}

export interface ChunkserverSpace {
  readonly usedSpace: bigint;
  readonly totalSpace: bigint;
  readonly chunkCount: number;
  readonly toDeleteUsedSpace: bigint;
  readonly toDeleteTotalSpace: bigint;
  readonly toDeleteChunkCount: number;
}

/** States a record can be in; "allocated" = csid reserved, BEGIN not yet acknowledged. */
export type ChunkserverRegistryState = "allocated" | "registering" | "registered" | "maintenance" | "disconnected";

export interface ChunkserverRegistration {
  readonly csid: number;
  readonly ip: number;
  readonly port: number;
  readonly version: number;
  readonly timeoutSeconds: number;
  readonly labelMask: number;
  readonly space: ChunkserverSpace;
  readonly load: number;
  readonly hlStatus: number;
  readonly errorCount: number;
  readonly copyCount: number;
  readonly state: Exclude<ChunkserverRegistryState, "allocated">;
}

export interface ChunkserverEntry extends Omit<ChunkserverRegistration, "state"> {
  readonly state: ChunkserverRegistryState;
  /** "a.b.c.d:port", the data address clients connect to. */
  readonly address: string;
  readonly gatewayId: string;
  readonly updatedMs: number;
}

/** Space of the chunkservers that are connected now (what STATFS reports). */
export interface ClusterSpace {
  readonly totalSpace: bigint;
  readonly usedSpace: bigint;
  readonly chunkservers: number;
}

/** Every csid in 1..chunkserverIdMax has a live record: no new chunkserver can join. */
export class ChunkserverIdsExhaustedError extends Error {
  override name = "ChunkserverIdsExhaustedError";
}

export interface ChunkserverRegistry {
  /**
   * The csid for the chunkserver at `address` ("a.b.c.d:port"), reserved with a fresh TTL:
   * `requested` when it is non-zero and free, or held by the same address, or by a chunkserver that
   * is no longer connected; otherwise (and for 0) a new cluster-unique one.
   */
  claimCsid(requested: number, address: string): Promise<number>;
  /** Writes the whole record, names the gateway holding the link, and refreshes the TTL. */
  put(record: ChunkserverRegistration, gatewayId: string): Promise<void>;
  get(csid: number): Promise<ChunkserverEntry | null>;
  /** Up to `max` records (reserved-only csids included), by csid. */
  list(max?: number): Promise<ChunkserverEntry[]>;
  /** Sum over chunkservers that are connected (registering or registered), as mfsmaster sums its links. */
  clusterSpace(): Promise<ClusterSpace>;
}

export interface ChunkserverRegistryOptions {
  readonly ttlMs?: number;
  readonly now?: () => number;
}

// Bounded by the number of csids: every id is tried at most once per call.
// ARGV: max csid, key prefix, now (ms), ttl (ms), requested csid, address.
const claimScript = `
local max = tonumber(ARGV[1])
local requested = tonumber(ARGV[5])
if requested > 0 and requested <= max then
  local key = ARGV[2] .. requested
  local fields = redis.call('HMGET', key, 'state', 'address')
  local state, address = fields[1], fields[2]
  local live = state == 'allocated' or state == 'registering' or state == 'registered'
  if (not live) or address == ARGV[6] then
    redis.call('HSET', key, 'csid', requested, 'state', 'allocated', 'address', ARGV[6], 'updated', ARGV[3])
    redis.call('PEXPIRE', key, ARGV[4])
    return requested
  end
end
for _ = 1, max do
  local id = redis.call('INCR', KEYS[1])
  if id > max then
    redis.call('SET', KEYS[1], 1)
    id = 1
  end
  local key = ARGV[2] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'csid', id, 'state', 'allocated', 'address', ARGV[6], 'updated', ARGV[3])
    redis.call('PEXPIRE', key, ARGV[4])
    return id
  end
end
return 0`;

const connectedStates: ReadonlySet<string> = new Set(["registering", "registered"]);
const knownStates: ReadonlySet<string> = new Set(["allocated", "registering", "registered", "maintenance", "disconnected"]);

export function createChunkserverRegistry(redis: RedisClient, options: ChunkserverRegistryOptions = {}): ChunkserverRegistry {
  const ttlMs = options.ttlMs ?? limits.chunkserverRecordTtlMs;
  const now = options.now ?? Date.now;
  assert(Number.isInteger(ttlMs) && ttlMs > 0, "ttlMs must be a positive integer");

  async function entries(max: number): Promise<ChunkserverEntry[]> {
    const found: ChunkserverEntry[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${chunkserverKeyPrefix}*`, "COUNT", 1000);
      cursor = next;
      const ids = keys.map((key) => Number(key.slice(chunkserverKeyPrefix.length))).filter(isCsid);
      if (ids.length === 0) continue;
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hgetall(chunkserverKey(id));
      const replies = (await pipeline.exec()) ?? [];
      for (let i = 0; i < ids.length && found.length < max; i++) {
        const [error, hash] = replies[i] ?? [];
        if (error || hash === null || typeof hash !== "object") continue;
        const entry = parseEntry(ids[i]!, hash as Record<string, string>);
        if (entry !== null) found.push(entry);
      }
    } while (cursor !== "0" && found.length < max);
    return found.sort((a, b) => a.csid - b.csid);
  }

  return {
    async claimCsid(requested, address) {
      const id = Number(await redis.eval(claimScript, 1, chunkserverCounterKey, limits.chunkserverIdMax, chunkserverKeyPrefix, now(), ttlMs, requested, address));
      if (id === 0) throw new ChunkserverIdsExhaustedError(`all ${limits.chunkserverIdMax} chunkserver ids are in use`);
      assert(isCsid(id), `csid allocation returned ${id}`);
      return id;
    },

    async put(record, gatewayId) {
      assert(isCsid(record.csid), `csid out of range: ${record.csid}`);
      const key = chunkserverKey(record.csid);
      const s = record.space;
      const replies = await redis
        .multi()
        .hset(key, {
          csid: record.csid,
          address: `${ipText(record.ip)}:${record.port}`,
          ip: record.ip,
          port: record.port,
          version: record.version,
          timeout: record.timeoutSeconds,
          labels: record.labelMask,
          used: s.usedSpace.toString(),
          total: s.totalSpace.toString(),
          chunks: s.chunkCount,
          tdused: s.toDeleteUsedSpace.toString(),
          tdtotal: s.toDeleteTotalSpace.toString(),
          tdchunks: s.toDeleteChunkCount,
          load: record.load,
          hlstatus: record.hlStatus,
          errors: record.errorCount,
          copies: record.copyCount,
          state: record.state,
          gateway: gatewayId,
          updated: now(),
        })
        .pexpire(key, ttlMs)
        .exec();
      if (replies === null) throw new Error("Redis transaction aborted");
      for (const [error] of replies) if (error) throw error;
    },

    async get(csid) {
      if (!isCsid(csid)) return null;
      const hash = await redis.hgetall(chunkserverKey(csid));
      return parseEntry(csid, hash);
    },

    list(max = limits.chunkserverListMax) {
      return entries(max);
    },

    async clusterSpace() {
      let totalSpace = 0n;
      let usedSpace = 0n;
      let chunkservers = 0;
      for (const entry of await entries(limits.chunkserverListMax)) {
        if (!connectedStates.has(entry.state)) continue;
        chunkservers++;
        // mfsmaster counts only servers that reported a total (a CS still scanning its disks has 0).
        if (entry.space.totalSpace === 0n) continue;
        totalSpace += entry.space.totalSpace;
        usedSpace += entry.space.usedSpace;
      }
      return { totalSpace, usedSpace, chunkservers };
    },
  };
}

/** A record we cannot read (foreign or half-written) is skipped, never thrown: listings must work. */
function parseEntry(csid: number, hash: Record<string, string>): ChunkserverEntry | null {
  const state = hash.state;
  if (state === undefined || !knownStates.has(state)) return null;
  const int = (name: string): number => {
    const value = Number(hash[name] ?? 0);
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  };
  const big = (name: string): bigint => {
    const text = hash[name] ?? "0";
    return /^\d{1,20}$/.test(text) ? BigInt(text) : 0n;
  };
  return {
    csid,
    ip: int("ip"),
    port: int("port"),
    version: int("version"),
    timeoutSeconds: int("timeout"),
    labelMask: int("labels"),
    space: {
      usedSpace: big("used"),
      totalSpace: big("total"),
      chunkCount: int("chunks"),
      toDeleteUsedSpace: big("tdused"),
      toDeleteTotalSpace: big("tdtotal"),
      toDeleteChunkCount: int("tdchunks"),
    },
    load: int("load"),
    hlStatus: int("hlstatus"),
    errorCount: int("errors"),
    copyCount: int("copies"),
    state: state as ChunkserverRegistryState,
    address: hash.address ?? "",
    gatewayId: hash.gateway ?? "",
    updatedMs: int("updated"),
  };
}

function isCsid(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= limits.chunkserverIdMax;
}

function ipText(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}
