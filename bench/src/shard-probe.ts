/**
 * What the shard-scaling workload asks the cluster itself, over its NATS (the load generator runs
 * inside the cluster's namespace, where NATS listens on 127.0.0.1):
 * - the shard map (bucket `antler-cluster`, key `shardmap`), to tell which operations cross shards
 *   by placement; when it cannot be read, the initial map of the shard count (rendezvous hashing,
 *   what a fresh cluster starts with) stands in and the result says so;
 * - each shard leader's ShardStats (`shardStatsSubject`), whose `forwarded` counter counts the
 *   requests it passed to the coordinator: the measured number of cross-shard operations.
 * Nothing here is on a timed path: it runs between phases.
 */
import { connectNats, openBucket, type NatsConnection } from "@antler/io-nats";
import { clusterBucket, decodeMessage, shardMapKey, shardStatsSubject, type ShardStats } from "@antler/ops";
import { decodeShardMap, initialShardMap, shardForSlot, type ShardMap } from "@antler/router-core";
import { createPlacement, type Placement, slotOfInode } from "@antler/slots";
import * as benchLimits from "./limits.ts";

export type ShardMapSource = "kv" | "initial";

export class ShardProbe {
  readonly placement: Placement;
  readonly map: ShardMap;
  readonly mapSource: ShardMapSource;
  /** Why the map came from the initial assignment, or why stats cannot be asked at all. */
  readonly notes: readonly string[];
  private readonly nc: NatsConnection | null;

  private constructor(placement: Placement, map: ShardMap, mapSource: ShardMapSource, nc: NatsConnection | null, notes: string[]) {
    this.placement = placement;
    this.map = map;
    this.mapSource = mapSource;
    this.nc = nc;
    this.notes = notes;
  }

  /** Connects (natsUrl null: placement only, no measured counts). Never throws for an unreachable cluster. */
  static async open(natsUrl: string | null, shards: number): Promise<ShardProbe> {
    const placement = await createPlacement();
    const notes: string[] = [];
    let nc: NatsConnection | null = null;
    let map: ShardMap | null = null;
    if (natsUrl === null) {
      notes.push("no NATS address of the cluster: cross-shard counts are computed only");
    } else {
      try {
        nc = await connectNats(natsUrl, "antler-bench-shards", { firstConnectWindowMs: benchLimits.shardStatsTimeoutMs });
        const bucket = await openBucket(nc, clusterBucket);
        const entry = await bucket.get(shardMapKey);
        if (entry === null) notes.push(`no ${shardMapKey} in bucket ${clusterBucket}: using the initial shard map`);
        else map = decodeShardMap(entry.value);
      } catch (error) {
        notes.push(`shard map unreadable (${(error as Error).message}): using the initial shard map`);
      }
    }
    if (map !== null && map.shardCount !== shards) {
      notes.push(`the cluster's shard map has ${map.shardCount} shards, expected ${shards}`);
    }
    const source: ShardMapSource = map === null ? "initial" : "kv";
    return new ShardProbe(placement, map ?? initialShardMap(placement, shards), source, nc, notes);
  }

  shardOfInode(inode: number): number {
    return shardForSlot(this.map, slotOfInode(inode));
  }

  /** The shard a new directory `name` under `parent` lands on by its slot (BLAKE3(parent‖name)). */
  shardOfNewDirectory(parent: number, name: string): number {
    return shardForSlot(this.map, this.placement.directorySlot(parent, name));
  }

  /** Every shard leader's stats, or why they cannot be had (one shard failing fails all: a sum needs every part). */
  async stats(): Promise<ShardStats[] | string> {
    const nc = this.nc;
    if (nc === null) return "no NATS connection";
    const replies = await Promise.allSettled(
      Array.from({ length: this.map.shardCount }, async (_, shardId) => {
        const reply = await nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: benchLimits.shardStatsTimeoutMs });
        return parseShardStats(decodeMessage(reply.data), shardId);
      }),
    );
    const failed = replies.findIndex((reply) => reply.status === "rejected");
    if (failed >= 0) {
      const reason = (replies[failed] as PromiseRejectedResult).reason as Error;
      return `shard ${failed} stats (${shardStatsSubject(failed)}): ${reason.message}`;
    }
    return replies.map((reply) => (reply as PromiseFulfilledResult<ShardStats>).value);
  }

  async close(): Promise<void> {
    await this.nc?.close().catch(() => {});
  }
}

export class ShardStatsFormatError extends Error {
  override name = "ShardStatsFormatError";
}

/** Checks the fields the benchmark reads; anything else in the reply is kept as it came. */
export function parseShardStats(value: unknown, shardId: number): ShardStats {
  const stats = value as Partial<ShardStats> | null;
  if (stats === null || typeof stats !== "object") throw new ShardStatsFormatError("stats reply is not an object");
  if (stats.shardId !== shardId) throw new ShardStatsFormatError(`stats reply names shard ${String(stats.shardId)}, asked ${shardId}`);
  for (const field of ["forwarded", "inodes", "slots"] as const) {
    const number = stats[field];
    if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0) throw new ShardStatsFormatError(`stats reply has no valid ${field}`);
  }
  return stats as ShardStats;
}
