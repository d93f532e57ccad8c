/**
 * LeaseStore on three independent NATS servers (ADR 0007): a shard's lease is a tiny quorum
 * journal (QuorumLogStream) whose records are the successive lease values. One R1 stream per shard
 * per server, `ANTLER_LEASE_<shard>` with subject `antler.lease.<shard>`, keeping the last
 * `leaseHistoryMax` records (older ones are discarded by the server; the last sequence stays).
 *
 * Revision semantics: the revision of a value is the journal sequence of its record, so it is
 * strictly increasing per change, identical for every reader, and 0 means "never written".
 * `compareAndSet(record, expectedRevision)` is an append expecting `expectedRevision` as the last
 * sequence: it succeeds when the record is stored on two of the three servers, and returns null
 * when the journal moved on (FencedError: someone else wrote). Unreachable servers surface as
 * LogUnavailableError (the write may or may not have happened; read before retrying).
 *
 * Values are encoded as by the KV lease store (kv-lease-store.ts), and a value that is not a lease
 * record reads as "no record" at its revision, as there.
 *
 * Why a stream per shard and not a key in an R1 KV bucket: a KV bucket is one stream for all its
 * keys, so a key's revisions are not consecutive and cannot serve as write-once slots; the
 * journal's safety argument needs gap-free positions. The cost is one small stream per shard on
 * each journal server.
 *
 * `watch` is event driven (each server announces stored records; any announcement triggers a
 * quorum read) with a slow poll as a safety net. It reports every revision it observes in increasing
 * order; changes that follow each other within one read may be coalesced into the latest, which
 * is all the lease logic needs (it watches for renewals, not for each one).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { assert } from "@antler/base";
import type { LeaseObservation, LeaseRecord } from "@antler/ops";
import type { Logger } from "@antler/telemetry";
import { decodeLeaseRecord, encodeLeaseRecord } from "./kv-lease-store.ts";
import type { LeaseStore } from "./lease-store.ts";
import { FencedError } from "./log-stream.ts";
import { QuorumLogStream, type QuorumLogOptions } from "./quorum-log-stream.ts";

export interface QuorumLeaseOptions extends QuorumLogOptions {
  /** Safety-net poll of `watch` (events normally arrive at once). */
  readonly watchPollMs?: number;
}

/** Lease records kept per shard and server (history for debugging; the lease needs only the last). */
const leaseHistoryMax = 64;
/** A lease record is a few dozen bytes of JSON; anything larger is not ours. */
const leaseRecordBytesMax = 4096;
const defaultWatchPollMs = 250;

export function quorumLeaseStream(shardId: number): string {
  return `ANTLER_LEASE_${shardId}`;
}

export function quorumLeaseSubject(shardId: number): string {
  return `antler.lease.${shardId}`;
}

/** Opens (creating where missing) shard `shardId`'s lease on the three journal servers. */
export async function openQuorumLeaseStore(connections: readonly NatsConnection[], shardId: number, options: QuorumLeaseOptions = {}): Promise<QuorumLeaseStore> {
  assert(Number.isInteger(shardId) && shardId >= 0, "shard id must be a non-negative integer");
  const store = new QuorumLeaseStore(connections, shardId, options);
  await store.open();
  return store;
}

export class QuorumLeaseStore implements LeaseStore {
  readonly #subject: string;
  readonly #log: QuorumLogStream;
  readonly #watchPollMs: number;
  readonly #logger: Logger | undefined;

  constructor(connections: readonly NatsConnection[], shardId: number, options: QuorumLeaseOptions = {}) {
    this.#subject = quorumLeaseSubject(shardId);
    this.#watchPollMs = options.watchPollMs ?? defaultWatchPollMs;
    this.#logger = options.logger;
    this.#log = new QuorumLogStream(connections, {
      name: quorumLeaseStream(shardId),
      subject: this.#subject,
      maxMsgs: leaseHistoryMax,
      maxMsgSize: leaseRecordBytesMax,
    }, options);
  }

  open(): Promise<void> {
    return this.#log.open();
  }

  /** Stops the journal's background repair (watches are stopped by their own handles). */
  close(): void {
    this.#log.close();
  }

  async read(): Promise<LeaseObservation> {
    const last = await this.#log.readLast();
    if (last === null) return { revision: await this.#log.lastSeq(), record: null };
    try {
      return { revision: last.seq, record: decodeLeaseRecord(last.data) };
    } catch (err) {
      // Not a lease record (written by something else): reported as no record, as the KV store
      // does, so the next claim replaces it by compare-and-set on this revision.
      this.#logger?.error("lease value is not a lease record", { subject: this.#subject, revision: last.seq, err });
      return { revision: last.seq, record: null };
    }
  }

  async compareAndSet(record: LeaseRecord, expectedRevision: number): Promise<number | null> {
    assert(Number.isSafeInteger(expectedRevision) && expectedRevision >= 0, "revision must be >= 0");
    try {
      return await this.#log.append(encodeLeaseRecord(record), expectedRevision, crypto.randomUUID());
    } catch (err) {
      if (err instanceof FencedError) return null;
      throw err;
    }
  }

  watch(onChange: (observation: LeaseObservation) => void): { stop(): void } {
    let stopped = false;
    let reported = -1;
    let reading = false;
    let again = false;
    const refresh = async (): Promise<void> => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const observation = await this.read().catch(() => null);
          if (stopped || observation === null || observation.revision <= reported) continue;
          reported = observation.revision;
          try {
            onChange(observation);
          } catch (err) {
            // The watcher's failure is its own; the watch goes on.
            this.#logger?.error("lease watch callback threw", { subject: this.#subject, err });
          }
        } while (again && !stopped);
      } finally {
        reading = false;
      }
    };
    const stopEvents = this.#log.onAppend(() => void refresh());
    const poll = setInterval(() => void refresh(), this.#watchPollMs);
    poll.unref?.();
    void refresh();
    return {
      stop: () => {
        stopped = true;
        clearInterval(poll);
        stopEvents();
      },
    };
  }
}
