/**
 * The chunkservers' space for STATFS. Shards know nothing about disks (they answer 0), so the
 * gateway fills total/avail/free from the chunkserver registry, as mfsmaster sums its connected
 * chunkservers: total = Σ total, free = total − used, avail = free (Antler has no RESERVE_SPACE).
 *
 * STATFS is answered synchronously by the client core, so the sum is read from Redis in the
 * background every chunkserverSpaceCacheMs and served from the last value (a second old at most).
 */
import { limits } from "@antler/base";
import type { ChunkserverSpaceTotals } from "@antler/gateway-core";
import type { ClusterSpace } from "@antler/io-redis";
import type { Logger } from "@antler/telemetry";

export interface ClusterSpaceCache {
  current(): ChunkserverSpaceTotals;
  /** Reads the registry once now (startup, tests). */
  refresh(): Promise<void>;
  stop(): void;
}

export function statfsSpaceOf(space: ClusterSpace): ChunkserverSpaceTotals {
  const free = space.totalSpace > space.usedSpace ? space.totalSpace - space.usedSpace : 0n;
  return { totalSpace: space.totalSpace, availSpace: free, freeSpace: free };
}

export function startClusterSpaceCache(source: { clusterSpace(): Promise<ClusterSpace> }, log: Logger, intervalMs = limits.chunkserverSpaceCacheMs): ClusterSpaceCache {
  let current: ChunkserverSpaceTotals = { totalSpace: 0n, availSpace: 0n, freeSpace: 0n };
  let failing = false;
  let inFlight: Promise<void> | null = null;
  const refresh = (): Promise<void> => {
    // One read at a time: a slow Redis must not pile up scans.
    inFlight ??= source.clusterSpace().then(
      (space) => {
        current = statfsSpaceOf(space);
        if (failing) log.info("chunkserver space readable again");
        failing = false;
      },
      (err: unknown) => {
        // Keep serving the last known sum; report the outage once.
        if (!failing) log.warn("chunkserver space cannot be read from the registry", { err });
        failing = true;
      },
    ).finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return {
    current: () => current,
    refresh,
    stop: () => clearInterval(timer),
  };
}
