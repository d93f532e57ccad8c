/**
 * The router's view of each shard's leader, from the shards' lease records (ARCHITECTURE §4): a
 * leader renews every ~100 ms, so a lease that stopped changing means its leader may be dead or
 * paused, and a lease that just changed holder means a new leader is about to serve. Requests to
 * such a "suspect" shard are forwarded checked (as the router's own request, so the router learns
 * that nobody subscribes and tells the gateway at once); others go fire-and-forget, the fast path.
 *
 * Time is an input (monotonic ms). A shard never observed is not suspect: without lease
 * information (an old shard build, no lease bucket yet) the router behaves as before.
 */
import type { LeaseObservation } from "@antler/ops";

export interface LeaderLivenessOptions {
  /** A lease unchanged this long is suspect (limits.routerLeaderSuspectMs). */
  readonly suspectAfterMs: number;
  /** A new holder stays suspect this long (limits.routerTakeoverGraceMs). */
  readonly takeoverGraceMs: number;
}

interface ShardLease {
  revision: number;
  holder: string | null;
  changedAtMs: number;
  holderChangedAtMs: number;
}

export class LeaderLiveness {
  readonly #options: LeaderLivenessOptions;
  readonly #shards = new Map<number, ShardLease>();

  constructor(options: LeaderLivenessOptions) {
    this.#options = options;
  }

  /** A value of a shard's lease key; older revisions than the last one seen are ignored. */
  observe(shardId: number, observation: LeaseObservation, nowMs: number): void {
    const holder = observation.record?.holder ?? null;
    const known = this.#shards.get(shardId);
    if (known === undefined) {
      // The first sight (the watch's initial value) says nothing about when it last changed: it
      // counts as a change now, so a live leader is not suspect until it fails to renew.
      this.#shards.set(shardId, { revision: observation.revision, holder, changedAtMs: nowMs, holderChangedAtMs: Number.NEGATIVE_INFINITY });
      return;
    }
    if (observation.revision <= known.revision) return;
    known.revision = observation.revision;
    known.changedAtMs = nowMs;
    if (holder !== known.holder) {
      known.holder = holder;
      known.holderChangedAtMs = nowMs;
    }
  }

  /** Whether requests to `shardId` should be forwarded checked at `nowMs`. */
  suspect(shardId: number, nowMs: number): boolean {
    const lease = this.#shards.get(shardId);
    if (lease === undefined) return false;
    return (
      lease.holder === null ||
      lease.holder === "" ||
      nowMs - lease.changedAtMs > this.#options.suspectAfterMs ||
      nowMs - lease.holderChangedAtMs < this.#options.takeoverGraceMs
    );
  }
}
