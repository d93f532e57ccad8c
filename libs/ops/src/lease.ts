/**
 * A shard's leader lease as stored (see LeaseStore in @antler/io-nats for where). Shared by the
 * pure election logic (shard core, simulator) and the stores.
 */

/** The lease record. `holder` "" = released (a standby may take it at once). */
export interface LeaseRecord {
  /** Who leads: a process-unique id (shard id, replica id, process start). */
  readonly holder: string;
  /** Increases by one on every change of holder. */
  readonly epoch: number;
  /** Increases on every renewal; standbys judge liveness by seeing it change, never by clocks. */
  readonly renewals: number;
}

export interface LeaseObservation {
  /** Opaque, strictly increasing per change; 0 = the key does not exist. */
  readonly revision: number;
  /** null when the key does not exist. */
  readonly record: LeaseRecord | null;
}

/** The KV key of a shard's lease (in the lease bucket). */
export function shardLeaseKey(shardId: number): string {
  return `shard.${shardId}`;
}
/** KV bucket holding the shards' leader leases. */
export const leaseBucket = "antler-leases";
