/**
 * Live figures of every shard for `antler status`: each shard leader answers a request on
 * shardStatsSubject(id) (empty body) with its ShardStats. All shards are asked at once, each with
 * a short timeout; a shard that does not answer (no leader right now, an older shard build, a
 * malformed answer) gets no figures and shows "-".
 */
import type { NatsConnection } from "@antler/io-nats";
import { decodeMessage, shardStatsSubject, type ShardStats } from "@antler/ops";
import { shardStatsTimeoutMs } from "./limits.ts";

export interface ShardStatsRow {
  readonly shardId: number;
  /** null: the shard did not answer (see `error`). */
  readonly stats: ShardStats | null;
  readonly error?: string;
}

const numericFields = ["shardId", "slots", "inodes", "dirs", "files", "opsPerSec", "forwarded", "preparedTxns"] as const;

/** A decoded stats answer, or a one-line reason why it is not one. */
export function parseShardStats(value: unknown, shardId: number): ShardStats | string {
  if (typeof value !== "object" || value === null) return "answer is not an object";
  const record = value as Record<string, unknown>;
  for (const field of numericFields) {
    const number = record[field];
    if (typeof number !== "number" || !Number.isFinite(number) || number < 0) return `${field} is not a number`;
  }
  if (typeof record["replica"] !== "string") return "replica is not a string";
  if (record["shardId"] !== shardId) return `answered as shard ${String(record["shardId"])}`;
  const stats: ShardStats = {
    shardId, slots: record["slots"] as number, inodes: record["inodes"] as number, dirs: record["dirs"] as number,
    files: record["files"] as number, opsPerSec: record["opsPerSec"] as number, forwarded: record["forwarded"] as number,
    preparedTxns: record["preparedTxns"] as number, replica: record["replica"],
  };
  return stats;
}

async function askShard(nc: NatsConnection, shardId: number): Promise<ShardStatsRow> {
  let data: Uint8Array;
  try {
    data = (await nc.request(shardStatsSubject(shardId), new Uint8Array(0), { timeout: shardStatsTimeoutMs })).data;
  } catch (error) {
    return { shardId, stats: null, error: error instanceof Error ? error.message : String(error) };
  }
  let decoded: unknown;
  try {
    decoded = decodeMessage(data);
  } catch (error) {
    return { shardId, stats: null, error: `undecodable answer: ${String(error)}` };
  }
  const stats = parseShardStats(decoded, shardId);
  return typeof stats === "string" ? { shardId, stats: null, error: stats } : { shardId, stats };
}

export function readShardStats(nc: NatsConnection, shardCount: number): Promise<ShardStatsRow[]> {
  return Promise.all(Array.from({ length: shardCount }, (_, shardId) => askShard(nc, shardId)));
}

/** Rates with one decimal below 10/s, whole numbers above. */
function formatRate(perSecond: number): string {
  return perSecond < 10 ? perSecond.toFixed(1) : String(Math.round(perSecond));
}

export const shardStatsHeader = ["SHARD", "SLOTS", "INODES", "DIRS", "FILES", "OPS/S", "FORWARDED", "PREPARED", "LEADER"];

/** One table row per shard; "-" in every figure of a shard that did not answer. */
export function shardStatsRows(rows: readonly ShardStatsRow[]): string[][] {
  return rows.map(({ shardId, stats }) => {
    if (stats === null) return [String(shardId), ...shardStatsHeader.slice(1).map(() => "-")];
    return [
      String(shardId), String(stats.slots), String(stats.inodes), String(stats.dirs), String(stats.files),
      formatRate(stats.opsPerSec), String(stats.forwarded), String(stats.preparedTxns), stats.replica || "-",
    ];
  });
}
