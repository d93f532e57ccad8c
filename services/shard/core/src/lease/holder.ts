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

/**
 * Whether `holder` is an EARLIER incarnation of the replica that `self` belongs to. Incarnations
 * order by length, then by their characters, so callers make them sortable by start (a counter,
 * or a fixed-width start time). Only earlier ones are inherited: two live processes of one replica
 * (a restart while the old one is stuck) must not take the lease from each other in turn - the
 * later one wins once and the earlier one, when it wakes, finds the lease gone.
 */
export function isEarlierIncarnation(self: string, holder: string): boolean {
  const replica = leaseHolderReplica(holder);
  if (holder === self || replica === null || replica !== leaseHolderReplica(self)) return false;
  const mine = self.slice(self.lastIndexOf("/") + 1);
  const theirs = holder.slice(holder.lastIndexOf("/") + 1);
  return theirs.length < mine.length || (theirs.length === mine.length && theirs < mine);
}
