/**
 * The cluster KV bucket (`clusterBucket`): small facts every service must agree on — the
 * metadata id, the shard map. Values are raw bytes; `create` and `update` are compare-and-set,
 * so concurrent writers (two routers starting at once) cannot overwrite each other.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { clusterBucket, clusterCreatedKey, clusterMetaIdKey } from "@antler/ops";

export interface BucketEntry {
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface Bucket {
  readonly name: string;
  /** The current value, or null when the key is absent (never written, deleted or purged). */
  get(key: string): Promise<BucketEntry | null>;
  /** Unconditional write; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key is absent; returns the new revision, or null when it exists. */
  create(key: string, value: Uint8Array): Promise<number | null>;
  /** Writes only if the key is still at `revision`; returns the new revision, or null when it moved. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | null>;
  /** Removes the key (a delete marker: `get` answers null after it). Deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Calls `onEntry` with the key's current value (if any) and then with every new value, in
   * order, until `stop()`. Deletes are not reported.
   */
  watch(key: string, onEntry: (entry: BucketEntry) => void): Promise<BucketWatch>;
}

export interface BucketWatch {
  stop(): void;
}

export interface BucketOptions {
  readonly replicas?: number;
  /** Revisions kept per key (the shard map's history helps debugging moves). */
  readonly history?: number;
  /**
   * false: every read goes to the stream leader, so a read after a write (by anyone) sees it; the
   * default lets any replica answer (faster, possibly stale on a replicated bucket). Applies to
   * the bucket when this call creates it, and to this handle's reads either way.
   */
  readonly directGets?: boolean;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Opens the bucket, creating it on first use (file storage). */
export async function openBucket(nc: NatsConnection, name: string = clusterBucket, options: BucketOptions = {}): Promise<Bucket> {
  const kv: KV = await new Kvm(nc).create(name, {
    replicas: options.replicas ?? 1,
    history: options.history ?? 5,
    ...(options.directGets !== undefined ? { allow_direct: options.directGets } : {}),
  });
  return {
    name,
    async get(key) {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== "PUT") return null;
      return { value: entry.value, revision: entry.revision };
    },
    put: (key, value) => kv.put(key, value),
    async create(key, value) {
      try {
        return await kv.create(key, value);
      } catch (err) {
        if (isWrongLastSequence(err)) return null;
        throw err;
      }
    },
    async watch(key, onEntry) {
      const iterator = await kv.watch({ key, ignoreDeletes: true });
      void (async () => {
        for await (const entry of iterator) {
          if (entry.operation === "PUT") onEntry({ value: entry.value, revision: entry.revision });
        }
      })();
      return { stop: () => iterator.stop() };
    },
    async delete(key) {
      await kv.delete(key);
    },
    async update(key, value, revision) {
      try {
        return await kv.update(key, value, revision);
      } catch (err) {
        if (isWrongLastSequence(err)) return null;
        throw err;
      }
    },
  };
}

export class ClusterMetaIdError extends Error {
  override name = "ClusterMetaIdError";
}

function randomNonZeroU64(): bigint {
  const words = new BigUint64Array(1);
  do crypto.getRandomValues(words);
  while (words[0] === 0n);
  return words[0]!;
}

/**
 * The cluster's metadata id (MooseFS "metaid"): a random non-zero u64 chosen once, by whoever
 * comes first, and the same for every gateway and chunkserver forever after. Stored as decimal.
 */
/**
 * When the filesystem was created, in seconds, fixed once per cluster like the metaid: every shard
 * replica builds its root directory with these times, so replicas and replays agree.
 */
export async function ensureClusterCreatedSeconds(bucket: Bucket, nowSeconds: () => number = () => Math.floor(Date.now() / 1000)): Promise<number> {
  const parse = (entry: BucketEntry): number => {
    const text = new TextDecoder().decode(entry.value);
    if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) throw new ClusterMetaIdError(`stored creation time ${JSON.stringify(text)} is not a u32`);
    return Number(text);
  };
  const existing = await bucket.get(clusterCreatedKey);
  if (existing !== null) return parse(existing);
  const candidate = nowSeconds();
  if (await bucket.create(clusterCreatedKey, new TextEncoder().encode(String(candidate))) !== null) return candidate;
  const winner = await bucket.get(clusterCreatedKey);
  if (winner === null) throw new ClusterMetaIdError("creation time vanished after a create conflict");
  return parse(winner);
}

export async function ensureClusterMetaId(bucket: Bucket, random: () => bigint = randomNonZeroU64): Promise<bigint> {
  const parse = (entry: BucketEntry): bigint => {
    const text = new TextDecoder().decode(entry.value);
    if (!/^[1-9]\d{0,19}$/.test(text) || BigInt(text) >= 2n ** 64n) throw new ClusterMetaIdError(`stored metaid ${JSON.stringify(text)} is not a non-zero u64`);
    return BigInt(text);
  };
  const existing = await bucket.get(clusterMetaIdKey);
  if (existing !== null) return parse(existing);
  const candidate = random();
  if (candidate <= 0n || candidate >= 2n ** 64n) throw new ClusterMetaIdError("random metaid out of range");
  const created = await bucket.create(clusterMetaIdKey, new TextEncoder().encode(candidate.toString()));
  if (created !== null) return candidate;
  // Someone else created it between our get and create: theirs wins.
  const winner = await bucket.get(clusterMetaIdKey);
  if (winner === null) throw new ClusterMetaIdError("metaid vanished after a create conflict");
  return parse(winner);
}
