/**
 * Lease holder ids: `<replica>/<incarnation>`, where the replica names a shard replica slot
 * (`s<shard>.r<replica>`, the same across restarts) and the incarnation one process of it (unique
 * per start). The election uses them to let a restarted replica take over from its own previous,
 * dead incarnation at once (Election's `inheritsFrom`).
 */

/** The replica slot of a shard: stable across restarts of that replica. */
export function leaseReplicaName(shardId: number, replicaId: number): string {
  return `s${shardId}.r${replicaId}`;
}

/** The holder id of one process; `incarnation` must not contain "/" and must differ per start. */
export function leaseHolderId(replica: string, incarnation: string): string {
  if (incarnation === "" || incarnation.includes("/")) throw new RangeError(`invalid lease incarnation ${JSON.stringify(incarnation)}`);
  return `${replica}/${incarnation}`;
}

/** The replica slot named in a holder id, or null when it is not one (released, or foreign). */
export function leaseHolderReplica(holder: string): string | null {
  const slash = holder.lastIndexOf("/");
  return slash <= 0 || slash === holder.length - 1 ? null : holder.slice(0, slash);
}

/** Whether `holder` is another incarnation of the replica that `self` belongs to. */
export function isEarlierIncarnation(self: string, holder: string): boolean {
  return holder !== self && leaseHolderReplica(holder) !== null && leaseHolderReplica(holder) === leaseHolderReplica(self);
}
