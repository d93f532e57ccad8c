/**
 * The slots this shard owns, from the shard map in the cluster bucket. If no router has written
 * the map yet, the shard writes version 1 itself: the initial map is a pure function of the shard
 * count (rendezvous hashing), so whichever process wins the compare-and-set, all agree.
 */
import type { Bucket } from "@antler/io-nats";
import { shardMapKey } from "@antler/ops";
import { decodeShardMap, encodeShardMap, initialShardMap, type ShardMap } from "@antler/router-core";
import type { Placement } from "@antler/slots";

export async function loadShardMap(bucket: Bucket, placement: Placement, shardCount: number): Promise<ShardMap> {
  const stored = await bucket.get(shardMapKey);
  if (stored !== null) return decodeShardMap(stored.value);
  const map = initialShardMap(placement, shardCount);
  if ((await bucket.create(shardMapKey, encodeShardMap(map))) !== null) return map;
  const winner = await bucket.get(shardMapKey);
  if (winner === null) throw new Error("the shard map vanished after a create conflict");
  return decodeShardMap(winner.value);
}

export function slotsOwnedBy(map: ShardMap, shardId: number): number[] {
  const slots: number[] = [];
  map.slots.forEach((owner, slot) => {
    if (owner === shardId) slots.push(slot);
  });
  return slots;
}
