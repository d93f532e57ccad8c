/**
 * LeaseStore on a JetStream KV bucket (`leaseBucket`): one key per shard (`shardLeaseKey`),
 * history 1, replicated by NATS's Raft when the bucket has replicas. The value is the record as
 * JSON. compare-and-set is a put with the expected last subject sequence (the key's revision; 0 =
 * the key must not exist), so it also succeeds on a deleted key when given the delete's revision.
 *
 * Reads go to the stream leader (no direct gets, which a follower may answer stale), so a read
 * after a CAS without an answer tells whether it happened. The watch is an ordered consumer of the
 * key; it reports deletions as "no record" with the delete's revision, and restarts itself if the
 * client ends it (a reconnect it could not resume), after reporting the current value again.
 *
 * Server-side TTLs are not used (ignored before 2.11, deps.md §1c): expiry is judged by the
 * election from renewals.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { limits } from "@antler/base";
import { leaseBucket, shardLeaseKey, type LeaseObservation, type LeaseRecord } from "@antler/ops";
import type { LeaseStore } from "./lease-store.ts";

export interface KvLeaseStoreOptions {
  /** Bucket replicas when it is created (existing buckets keep theirs). */
  readonly replicas?: number;
  /** How long one read or CAS waits for the server. */
  readonly opTimeoutMs?: number;
  /** Told about values that are not lease records, and watch restarts. */
  readonly onError?: (err: unknown) => void;
  /** Pause before a watch that ended is started again. */
  readonly watchRestartMs?: number;
}

/** A stored value that is not a lease record. */
export class LeaseRecordError extends Error {
  override name = "LeaseRecordError";
}

export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ holder: record.holder, epoch: record.epoch, renewals: record.renewals }));
}

export function decodeLeaseRecord(bytes: Uint8Array): LeaseRecord {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new LeaseRecordError("lease value is not JSON", { cause: err });
  }
  const { holder, epoch, renewals } = (value ?? {}) as Record<string, unknown>;
  if (typeof holder !== "string" || !Number.isSafeInteger(epoch) || (epoch as number) < 0 || !Number.isSafeInteger(renewals) || (renewals as number) < 0) {
    throw new LeaseRecordError(`lease value ${JSON.stringify(value)} is not {holder, epoch, renewals}`);
  }
  return { holder, epoch: epoch as number, renewals: renewals as number };
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Opens (creating on first use) the lease bucket and returns the store of one shard's lease. */
export async function openKvLeaseStore(nc: NatsConnection, shardId: number, options: KvLeaseStoreOptions = {}): Promise<KvLeaseStore> {
  const opTimeoutMs = options.opTimeoutMs ?? limits.shardLeaseOpTimeoutMs;
  // Bucket creation may take longer than a lease operation (Raft group setup on a cluster).
  const kv = await new Kvm(jetstream(nc, { timeout: Math.max(opTimeoutMs, 5_000) })).create(leaseBucket, {
    history: 1,
    replicas: options.replicas ?? 1,
    allow_direct: false,
  });
  return new KvLeaseStore(kv, shardLeaseKey(shardId), opTimeoutMs, options);
}

export class KvLeaseStore implements LeaseStore {
  readonly key: string;
  readonly #kv: KV;
  readonly #opTimeoutMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #watchRestartMs: number;

  constructor(kv: KV, key: string, opTimeoutMs: number, options: KvLeaseStoreOptions) {
    this.#kv = kv;
    this.key = key;
    this.#opTimeoutMs = opTimeoutMs;
    this.#onError = options.onError ?? (() => {});
    this.#watchRestartMs = options.watchRestartMs ?? 100;
  }

  async read(): Promise<LeaseObservation> {
    const entry = await withTimeout(this.#kv.get(this.key), this.#opTimeoutMs, `read of lease ${this.key}`);
    return entry === null ? { revision: 0, record: null } : this.#observation(entry);
  }

  async compareAndSet(record: LeaseRecord, expectedRevision: number): Promise<number | null> {
    try {
      return await this.#kv.put(this.key, encodeLeaseRecord(record), { previousSeq: expectedRevision, timeout: this.#opTimeoutMs });
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  watch(onChange: (observation: LeaseObservation) => void): { stop(): void } {
    let stopped = false;
    let iterator: { stop(): void } | null = null;
    let restartTimer: ReturnType<typeof setTimeout> | null = null;
    const start = async (): Promise<void> => {
      // The watch reports the key's last value only if it has one: a read covers a missing key.
      this.read().then(
        (observation) => stopped || onChange(observation),
        (err: unknown) => this.#onError(err),
      );
      const entries = await this.#kv.watch({ key: this.key });
      if (stopped) return entries.stop();
      iterator = entries;
      for await (const entry of entries) onChange(this.#observation(entry));
    };
    const run = (): void => {
      restartTimer = null;
      start()
        .catch((err: unknown) => this.#onError(err))
        .finally(() => {
          iterator = null;
          if (stopped) return;
          this.#onError(new Error(`watch of lease ${this.key} ended; restarting`));
          restartTimer = setTimeout(run, this.#watchRestartMs);
        });
    };
    run();
    return {
      stop() {
        stopped = true;
        iterator?.stop();
        if (restartTimer !== null) clearTimeout(restartTimer);
      },
    };
  }

  #observation(entry: KvEntry): LeaseObservation {
    if (entry.operation !== "PUT") return { revision: entry.revision, record: null };
    try {
      return { revision: entry.revision, record: decodeLeaseRecord(entry.value) };
    } catch (err) {
      // Not a record (written by something else): reported as no record, so the next claim
      // overwrites it by CAS on this revision.
      this.#onError(err);
      return { revision: entry.revision, record: null };
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The shard id of a lease key (`shardLeaseKey`), or null for any other key. */
export function shardIdOfLeaseKey(key: string): number | null {
  const match = /^shard\.(\d{1,9})$/.exec(key);
  return match === null ? null : Number(match[1]);
}

/**
 * Watches every shard's lease (routers use it to notice a leader that stopped renewing). The
 * bucket is created by the shards: until it exists, opening is retried every `retryMs`. Restarts
 * itself when the watch ends. Observations arrive in revision order per key.
 */
export function watchShardLeases(
  nc: NatsConnection,
  onChange: (shardId: number, observation: LeaseObservation) => void,
  options: { readonly retryMs?: number; readonly onError?: (err: unknown) => void } = {},
): { stop(): void } {
  const retryMs = options.retryMs ?? 1_000;
  const onError = options.onError ?? (() => {});
  let stopped = false;
  let iterator: { stop(): void } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = async (): Promise<void> => {
    const kv = await new Kvm(nc).open(leaseBucket);
    await kv.status(); // fails while the bucket does not exist yet
    const entries = await kv.watch({ key: "shard.>" });
    if (stopped) return entries.stop();
    iterator = entries;
    for await (const entry of entries) {
      const shardId = shardIdOfLeaseKey(entry.key);
      if (shardId === null) continue;
      let record: LeaseRecord | null = null;
      if (entry.operation === "PUT") {
        try {
          record = decodeLeaseRecord(entry.value);
        } catch (err) {
          onError(err);
        }
      }
      onChange(shardId, { revision: entry.revision, record });
    }
  };
  const start = (): void => {
    timer = null;
    run()
      .catch((err: unknown) => onError(err))
      .finally(() => {
        iterator = null;
        if (!stopped) timer = setTimeout(start, retryMs);
      });
  };
  start();
  return {
    stop() {
      stopped = true;
      iterator?.stop();
      if (timer !== null) clearTimeout(timer);
    },
  };
}

/**
 * A copy of a lease that lives elsewhere (the quorum journal, ADR 0007), written to the KV lease
 * key so routers and `antler status` keep watching one place. Advisory only: nothing decides on
 * it, so a write that stalls or fails (the KV's Raft leader died) only delays the view. At most one
 * write is in flight; a newer record replaces one still waiting.
 */
export interface LeaseMirror {
  publish(record: LeaseRecord): void;
}

export async function openLeaseMirror(nc: NatsConnection, shardId: number, options: KvLeaseStoreOptions = {}): Promise<LeaseMirror> {
  const opTimeoutMs = options.opTimeoutMs ?? limits.shardLeaseOpTimeoutMs;
  const onError = options.onError ?? (() => {});
  const kv = await new Kvm(jetstream(nc, { timeout: Math.max(opTimeoutMs, 5_000) })).create(leaseBucket, {
    history: 1,
    replicas: options.replicas ?? 1,
    allow_direct: false,
  });
  const key = shardLeaseKey(shardId);
  let waiting: LeaseRecord | null = null;
  let writing = false;
  const drain = (): void => {
    if (writing || waiting === null) return;
    const record = waiting;
    waiting = null;
    writing = true;
    kv.put(key, encodeLeaseRecord(record), { timeout: opTimeoutMs }).catch(onError).finally(() => {
      writing = false;
      drain();
    });
  };
  return {
    publish(record) {
      waiting = record;
      drain();
    },
  };
}
