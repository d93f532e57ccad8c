/**
 * Loading the shard map from the cluster bucket, or creating version 1 when the cluster is new.
 * Creation is compare-and-set, so routers starting together agree on one map; once a map exists
 * it is the truth, whatever shard count this process was started with.
 */
import type { Bucket } from "@antler/io-nats";
import { shardMapKey } from "@antler/ops";
import { decodeShardMap, encodeShardMap, initialShardMap, type ShardMap } from "@antler/router-core";
import type { Placement } from "@antler/slots";
import type { Logger } from "@antler/telemetry";

export async function loadOrCreateShardMap(bucket: Bucket, placement: Placement, shardCount: number, logger: Logger): Promise<ShardMap> {
  const stored = await bucket.get(shardMapKey);
  if (stored !== null) return checked(decodeShardMap(stored.value), shardCount, logger);
  const map = initialShardMap(placement, shardCount);
  if ((await bucket.create(shardMapKey, encodeShardMap(map))) !== null) {
    logger.info("created the shard map", { version: map.version, shardCount });
    return map;
  }
  const winner = await bucket.get(shardMapKey);
  if (winner === null) throw new Error("the shard map vanished after a create conflict");
  return checked(decodeShardMap(winner.value), shardCount, logger);
}

function checked(map: ShardMap, shardCount: number, logger: Logger): ShardMap {
  if (map.shardCount !== shardCount) {
    logger.warn("stored shard map has a different shard count; using the stored map", { stored: map.shardCount, configured: shardCount });
  }
  return map;
}
