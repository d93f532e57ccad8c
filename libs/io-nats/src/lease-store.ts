/**
 * Where a shard's leader lease lives, as the lease logic sees it: one small record per shard,
 * changed only by compare-and-set on a revision. Implemented on a JetStream KV bucket (one
 * Raft-replicated key per shard) and, to survive the loss of any one NATS server without the
 * 4–9 s Raft election stall (deps.md §1e), by a majority of R1 buckets on three servers.
 *
 * Safety never depends on this store alone: a leader that lost its lease but does not know yet
 * is stopped by the fenced log append. The lease only decides who should try to lead.
 */

import type { LeaseObservation, LeaseRecord } from "@antler/ops";

export type { LeaseObservation, LeaseRecord };

export interface LeaseStore {
  /** The current value (a linearizable read where the store offers one). */
  read(): Promise<LeaseObservation>;
  /**
   * Writes `record` if the key's revision is still `expectedRevision` (0 = create). Returns the
   * new revision, or null when the revision moved (someone else wrote: not an error).
   * @throws on transport failures (the write may or may not have happened; read before retrying).
   */
  compareAndSet(record: LeaseRecord, expectedRevision: number): Promise<number | null>;
  /** Calls `onChange` for every change after the call (and once with the current value). */
  watch(onChange: (observation: LeaseObservation) => void): { stop(): void };
}
