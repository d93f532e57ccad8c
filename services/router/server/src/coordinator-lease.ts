/**
 * The coordinator lease (coordinatorLeaseKey in the lease bucket): which router coordinates
 * cross-shard operations. The record is the shards' (holder, epoch, renewals), changed only by
 * compare-and-set on its revision, so two routers can never both win one round.
 *
 * The holder renews every `renewMs` and stops coordinating once no renewal sent within `leaseMs`
 * succeeded; every other router reads the key every `renewMs` and claims it (epoch + 1) once it
 * has not changed for `takeoverMs` (> leaseMs: the old holder has stopped by then), or at once
 * when it is missing or released (holder ""). A holder that stops releases the key, so another
 * router takes over at once. Liveness is judged by the key changing, never by comparing clocks.
 *
 * Safety of the transactions never rests on this lease (decisions are create-only, participants
 * lock what they prepare); it only keeps directory moves serialized in one place and avoids two
 * coordinators fighting over the same requests.
 */
import { limits } from "@antler/base";
import type { LeaseObservation, LeaseRecord } from "@antler/ops";
import type { Bucket } from "@antler/io-nats";
import { decodeLeaseRecord, encodeLeaseRecord } from "@antler/io-nats";
import type { Logger } from "@antler/telemetry";

/** The lease key as the coordinator sees it (the read and compare-and-set of io-nats LeaseStore). */
export interface CoordinatorLeaseStore {
  read(): Promise<LeaseObservation>;
  /** Writes if the key's revision is still `expectedRevision` (0 = absent); new revision or null. */
  compareAndSet(record: LeaseRecord, expectedRevision: number): Promise<number | null>;
}

/** The lease key `key` of a KV bucket (opened on the lease bucket with history 1). */
export function bucketLeaseStore(bucket: Bucket, key: string, onError: (err: unknown) => void = () => {}): CoordinatorLeaseStore {
  return {
    async read() {
      const entry = await bucket.get(key);
      if (entry === null) return { revision: 0, record: null };
      try {
        return { revision: entry.revision, record: decodeLeaseRecord(entry.value) };
      } catch (err) {
        // Not a record: claimable by CAS on its revision, as a released one.
        onError(err);
        return { revision: entry.revision, record: { holder: "", epoch: 0, renewals: 0 } };
      }
    },
    compareAndSet(record, expectedRevision) {
      const value = encodeLeaseRecord(record);
      return expectedRevision === 0 ? bucket.create(key, value) : bucket.update(key, value, expectedRevision);
    },
  };
}

export interface CoordinatorLeaseOptions {
  readonly store: CoordinatorLeaseStore;
  /** This process's holder id (unique per incarnation). */
  readonly holder: string;
  readonly renewMs?: number;
  readonly leaseMs?: number;
  readonly takeoverMs?: number;
  readonly logger: Logger;
  /** Called when this router becomes the coordinator (epoch of the lease). */
  readonly onAcquired: (epoch: number) => void;
  /** Called when it stops being the coordinator. */
  readonly onLost: (reason: string) => void;
  /** Monotonic ms. */
  readonly nowMs?: () => number;
}

export interface CoordinatorLease {
  readonly holding: boolean;
  /** Stops taking part; a holder releases the key first (another router takes over at once). */
  stop(): Promise<void>;
}

/** Renewal, lease and takeover times (libs/base limits.ts says why they relate as they do). */
export const coordinatorLeaseTiming = {
  renewMs: limits.coordinatorLeaseRenewMs,
  leaseMs: limits.coordinatorLeaseMs,
  takeoverMs: limits.coordinatorLeaseTakeoverMs,
} as const;

export function startCoordinatorLease(options: CoordinatorLeaseOptions): CoordinatorLease {
  const { store, holder, logger } = options;
  const renewMs = options.renewMs ?? coordinatorLeaseTiming.renewMs;
  const leaseMs = options.leaseMs ?? coordinatorLeaseTiming.leaseMs;
  const takeoverMs = options.takeoverMs ?? coordinatorLeaseTiming.takeoverMs;
  const nowMs = options.nowMs ?? (() => performance.now());

  /** Ours: the record and revision we wrote last, and when our last successful renewal was sent. */
  let held: { record: LeaseRecord; revision: number; renewedSentMs: number } | null = null;
  /** Theirs: the revision last seen and since when (our clock). */
  let seen: { revision: number; sinceMs: number } | null = null;
  let busy = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const lose = (reason: string): void => {
    if (held === null) return;
    held = null;
    seen = null;
    logger.info("coordinator lease lost", { reason });
    options.onLost(reason);
  };

  const renew = async (): Promise<void> => {
    const ours = held!;
    const sentMs = nowMs();
    const record = { ...ours.record, renewals: ours.record.renewals + 1 };
    try {
      const revision = await store.compareAndSet(record, ours.revision);
      if (held !== ours) return;
      if (revision === null) return lose("another router holds the lease");
      held = { record, revision, renewedSentMs: sentMs };
    } catch (err) {
      // Unknown whether it happened: the next round reads before it writes again.
      logger.debug("coordinator lease renewal failed", { err });
      if (held !== ours) return;
      const observation = await store.read().catch(() => null);
      if (held !== ours || observation === null) return;
      if (observation.record?.holder !== holder) return lose("another router holds the lease");
      held = { record: observation.record, revision: observation.revision, renewedSentMs: ours.renewedSentMs };
    }
  };

  const watchOrClaim = async (): Promise<void> => {
    const observation = await store.read();
    const now = nowMs();
    if (seen === null || observation.revision !== seen.revision) seen = { revision: observation.revision, sinceMs: now };
    const record = observation.record;
    const free = record === null || record.holder === "" || record.holder === holder;
    if (!free && now - seen.sinceMs < takeoverMs) return;
    const claim: LeaseRecord = { holder, epoch: (record?.epoch ?? 0) + 1, renewals: 0 };
    const sentMs = nowMs();
    const revision = await store.compareAndSet(claim, observation.revision);
    if (revision === null || stopped) return;
    held = { record: claim, revision, renewedSentMs: sentMs };
    logger.info("coordinator lease acquired", { epoch: claim.epoch, previous: record?.holder ?? null });
    options.onAcquired(claim.epoch);
  };

  const round = async (): Promise<void> => {
    if (held !== null && nowMs() - held.renewedSentMs > leaseMs) lose("renewals failed for longer than the lease");
    if (held !== null) await renew();
    else await watchOrClaim();
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      if (busy) return schedule();
      busy = true;
      round()
        .catch((err: unknown) => logger.debug("coordinator lease round failed", { err }))
        .finally(() => {
          busy = false;
          schedule();
        });
    }, renewMs);
  };
  schedule();

  return {
    get holding() {
      return held !== null;
    },
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      const ours = held;
      if (ours === null) return;
      lose("stopping");
      try {
        await store.compareAndSet({ holder: "", epoch: ours.record.epoch, renewals: ours.record.renewals + 1 }, ours.revision);
      } catch (err) {
        logger.debug("coordinator lease release failed", { err });
      }
    },
  };
}
