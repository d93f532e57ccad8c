/**
 * Rebuilding a shard at start (ADR 0006): the newest usable snapshot, then the log tail after it.
 *
 * Snapshots are tried newest first. One is usable when the log still holds every record after it
 * (its tail was not truncated), its bytes match their checksum, and the state machine imports
 * them. A corrupt snapshot is logged and the next older one is tried; when none is usable, the
 * whole log is replayed — but only if the log still starts at 1. Otherwise the shard cannot be
 * rebuilt without losing acknowledged entries, and restore fails loudly (RestoreError) rather
 * than serve a state that silently misses them. A snapshot newer than the log's end means the log
 * is not the one the snapshot was taken from (recreated stream, wrong cluster): also fatal.
 */
import { SnapshotCorruptError, type SnapshotInfo, type SnapshotStore, type TruncatableLogStream } from "@antler/io-nats";
import type { Logger } from "@antler/telemetry";
import { replayLog } from "./replay.ts";
import { isSnapshottable, type ShardStateMachine } from "./state-machine.ts";

export class RestoreError extends Error {
  override name = "RestoreError";
}

export interface RestoreResult<E> {
  /** A fresh state machine holding the restored state. */
  readonly sm: ShardStateMachine<E>;
  /** The snapshot the state started from; null for a full replay. */
  readonly snapshot: SnapshotInfo | null;
  readonly snapshotLoadMs: number;
  /** Snapshots that were skipped, with why (corrupt, tail truncated, import failed). */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  readonly tailRecords: number;
  readonly tailEntries: number;
  readonly tailMs: number;
  /** The log's last sequence after the tail: the next append expects it. */
  readonly lastSeq: number;
}

export interface RestoreOptions<E> {
  readonly shardId: number;
  readonly log: TruncatableLogStream;
  /** Null when snapshots are not used (then the log must be complete). */
  readonly store: SnapshotStore | null;
  /** Makes a fresh, empty state machine (called again after a failed import). */
  readonly createStateMachine: () => Promise<ShardStateMachine<E>>;
  readonly logger: Logger;
  /** The snapshot format this shard's state machine reads; snapshots of another are skipped. */
  readonly formatVersion?: number;
  /**
   * Called once the starting point is chosen, before the tail: the snapshot's bytes (null for a
   * full replay) and the sequence they cover. The bytes are not used by restore afterwards (the
   * callee may transfer them to a worker).
   */
  readonly onSnapshotLoaded?: (bytes: Uint8Array | null, lastSeq: number) => void;
  /** Sees every tail record after it was applied. */
  readonly onRecord?: (seq: number, data: Uint8Array) => void;
}

const reasonOf = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export async function restoreShard<E>(options: RestoreOptions<E>): Promise<RestoreResult<E>> {
  const { shardId, log, store, logger } = options;
  const firstSeq = await log.firstSeq();
  const logLastSeq = await log.lastSeq();
  const skipped: { name: string; reason: string }[] = [];
  let sm: ShardStateMachine<E> | null = null;
  let snapshot: SnapshotInfo | null = null;
  let snapshotBytes: Uint8Array | null = null;
  const loadStarted = performance.now();

  for (const candidate of store === null ? [] : await store.list(shardId)) {
    if (candidate.lastSeq > logLastSeq) {
      throw new RestoreError(`snapshot ${candidate.name} covers the log up to ${candidate.lastSeq} but ${log.name} ends at ${logLastSeq}: not this log's snapshot`);
    }
    if (candidate.lastSeq + 1 < firstSeq) {
      skipped.push({ name: candidate.name, reason: `log truncated to ${firstSeq}, tail after ${candidate.lastSeq} is gone` });
      continue;
    }
    // Older formats stay readable; a newer one comes from newer code this shard cannot read.
    if (options.formatVersion !== undefined && candidate.formatVersion > options.formatVersion) {
      skipped.push({ name: candidate.name, reason: `format version ${candidate.formatVersion}, this shard reads up to ${options.formatVersion}` });
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = (await store!.read(candidate)).bytes;
    } catch (err) {
      // Corruption falls back to an older snapshot; an unreachable store is fatal (a later
      // restart can still use the snapshot, while a full replay may be impossible).
      if (!(err instanceof SnapshotCorruptError)) throw err;
      logger.error("snapshot corrupt, trying an older one", { snapshot: candidate.name, err });
      skipped.push({ name: candidate.name, reason: reasonOf(err) });
      continue;
    }
    const fresh = await options.createStateMachine();
    if (!isSnapshottable(fresh)) throw new RestoreError("the state machine cannot import snapshots");
    try {
      fresh.importState(bytes);
    } catch (err) {
      // The checksum matched but the state machine refuses the bytes (a format it does not know).
      logger.error("snapshot refused by the state machine, trying an older one", { snapshot: candidate.name, err });
      skipped.push({ name: candidate.name, reason: reasonOf(err) });
      continue;
    }
    sm = fresh;
    snapshot = candidate;
    snapshotBytes = bytes;
    break;
  }
  const snapshotLoadMs = performance.now() - loadStarted;

  if (sm === null) {
    if (firstSeq > 1) {
      throw new RestoreError(`${log.name} starts at ${firstSeq} and no snapshot is usable (${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ") || "none stored"}): acknowledged entries would be lost`);
    }
    sm = await options.createStateMachine();
  }
  const baseSeq = snapshot?.lastSeq ?? 0;
  options.onSnapshotLoaded?.(snapshotBytes, baseSeq);
  const tail = await replayLog(log, sm, baseSeq + 1, options.onRecord);
  return {
    sm,
    snapshot,
    snapshotLoadMs,
    skipped,
    tailRecords: tail.records,
    tailEntries: tail.entries,
    tailMs: tail.durationMs,
    lastSeq: Math.max(tail.lastSeq, baseSeq),
  };
}
