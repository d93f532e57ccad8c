/**
 * Where clients and chunkservers reach each chunkserver, from the registry. READ_CHUNK and
 * WRITE_CHUNK replies are built synchronously by the client core, so it asks a ChunkserverLocator
 * answered from a cache of the whole registry, read in the background every
 * chunkserverSpaceCacheMs (a second): a chunkserver that just connected is listed within a second,
 * one that left is dropped within a second. Only connected chunkservers (registering or
 * registered) have an address.
 *
 * `resolve` is the asynchronous lookup for a replication source: the cache, else the one record.
 */
import { limits } from "@antler/base";
import type { ChunkserverAddress, ChunkserverLocator } from "@antler/gateway-core";
import type { ChunkserverEntry } from "@antler/io-redis";
import type { Logger } from "@antler/telemetry";

export interface ChunkserverLocatorCache {
  readonly locate: ChunkserverLocator;
  resolve(csid: number): Promise<ChunkserverAddress | undefined>;
  /** Reads the registry once now (startup, tests). */
  refresh(): Promise<void>;
  stop(): void;
}

/** The registry reads the cache needs (a ChunkserverRegistry fits). */
export interface ChunkserverRegistrySource {
  list(max?: number): Promise<ChunkserverEntry[]>;
  get(csid: number): Promise<ChunkserverEntry | null>;
}

export function addressOf(entry: ChunkserverEntry | null | undefined): ChunkserverAddress | undefined {
  if (entry == null || (entry.state !== "registering" && entry.state !== "registered")) return undefined;
  return { ip: entry.ip, port: entry.port, version: entry.version, labelMask: entry.labelMask };
}

export function startChunkserverLocator(source: ChunkserverRegistrySource, log: Logger, intervalMs = limits.chunkserverSpaceCacheMs): ChunkserverLocatorCache {
  let addresses = new Map<number, ChunkserverAddress>();
  let failing = false;
  let inFlight: Promise<void> | null = null;
  const refresh = (): Promise<void> => {
    // One read at a time: a slow Redis must not pile up scans.
    inFlight ??= source
      .list(limits.chunkserverListMax)
      .then(
        (entries) => {
          const next = new Map<number, ChunkserverAddress>();
          for (const entry of entries) {
            const address = addressOf(entry);
            if (address !== undefined) next.set(entry.csid, address);
          }
          addresses = next;
          if (failing) log.info("chunkserver registry readable again");
          failing = false;
        },
        (err: unknown) => {
          // Keep serving the last known addresses; report the outage once.
          if (!failing) log.warn("chunkserver addresses cannot be read from the registry", { err });
          failing = true;
        },
      )
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return {
    locate: (csid) => addresses.get(csid),
    async resolve(csid) {
      const cached = addresses.get(csid);
      if (cached !== undefined) return cached;
      try {
        return addressOf(await source.get(csid));
      } catch (err) {
        log.warn("chunkserver record cannot be read", { csid, err });
        return undefined;
      }
    },
    refresh,
    stop: () => clearInterval(timer),
  };
}
