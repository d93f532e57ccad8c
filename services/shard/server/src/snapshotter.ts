/**
 * When and how the shard takes a snapshot (ADR 0006). The serving thread tells it about every
 * acknowledged log record (`committed`); it forwards the record to the replica in the snapshot
 * worker and, once enough entries accumulated (and not more often than the minimum interval), or
 * when the maximum interval passed with any new entry, it:
 *   1. asks the replica in the worker to export and store it (serving never waits for either);
 *      it answers once the put is acknowledged by JetStream,
 *   2. only then truncates the log behind the oldest snapshot still retained — with two retained,
 *      the previous snapshot plus its tail stay a complete fallback if the newest turns out corrupt.
 * One snapshot at a time; a failed one is logged and retried after the minimum interval (snapshots
 * bound restart time, they are not needed for correctness).
 */
import { limits } from "@antler/base";
import type { SnapshotInfo, SnapshotStore, TruncatableLogStream } from "@antler/io-nats";
import type { Logger } from "@antler/telemetry";
import type { SnapshotReplica } from "./snapshot-replica.ts";

export interface SnapshotPolicy {
  /** Entries committed since the last snapshot that trigger the next; 0 disables snapshots. */
  readonly entries: number;
  readonly intervalMinMs: number;
  readonly intervalMaxMs: number;
}

export const defaultSnapshotPolicy: SnapshotPolicy = {
  entries: limits.shardSnapshotEntries,
  intervalMinMs: limits.shardSnapshotIntervalMinMs,
  intervalMaxMs: limits.shardSnapshotIntervalMaxMs,
};

export type SnapshotEvent =
  | { readonly phase: "started"; readonly entries: number }
  | { readonly phase: "stored"; readonly info: SnapshotInfo; readonly exportStartedAtMs: number; readonly exportMs: number; readonly putMs: number }
  | { readonly phase: "truncated"; readonly firstKeptSeq: number }
  | { readonly phase: "failed"; readonly err: unknown };

export interface SnapshotterOptions {
  readonly shardId: number;
  readonly log: TruncatableLogStream;
  /** Read here only to find the truncation point; the worker writes it. */
  readonly store: SnapshotStore;
  readonly replica: SnapshotReplica;
  readonly logger: Logger;
  readonly policy?: SnapshotPolicy;
  /** Snapshots the store keeps per shard (the truncation point follows the oldest of them). */
  readonly retained?: number;
  /** The log sequence of the snapshot the shard started from (0 = none). */
  readonly baseSeq: number;
  /** The last log sequence already posted to the replica (the end of the restored tail). */
  readonly lastSeq: number;
  readonly nowMs?: () => number;
  /** How often the time rule is checked; 0 = only on commits (tests). */
  readonly checkIntervalMs?: number;
  /** Observes every step (tests, metrics). */
  readonly onEvent?: (event: SnapshotEvent) => void;
}

export class Snapshotter {
  readonly #options: SnapshotterOptions;
  readonly #policy: SnapshotPolicy;
  readonly #retained: number;
  readonly #nowMs: () => number;
  readonly #timer: ReturnType<typeof setInterval> | null;
  #committedEntries = 0;
  #entriesAtLastSnapshot = 0;
  #lastSnapshotAtMs: number;
  #lastSnapshotSeq: number;
  #lastSeqPosted: number;
  #inFlight: Promise<SnapshotInfo | null> | null = null;
  #closed = false;

  constructor(options: SnapshotterOptions) {
    this.#options = options;
    this.#policy = options.policy ?? defaultSnapshotPolicy;
    this.#retained = options.retained ?? limits.shardSnapshotsRetained;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#lastSnapshotAtMs = this.#nowMs();
    this.#lastSnapshotSeq = options.baseSeq;
    this.#lastSeqPosted = options.lastSeq;
    const checkIntervalMs = options.checkIntervalMs ?? 1_000;
    this.#timer = checkIntervalMs > 0 && this.#policy.entries > 0 ? setInterval(() => this.#maybeStart(), checkIntervalMs) : null;
    this.#timer?.unref();
  }

  /** A record the log acknowledged, with the number of entries in it. Call in sequence order. */
  committed(seq: number, data: Uint8Array, entries: number): void {
    if (this.#closed) return;
    this.#options.replica.record(seq, data);
    this.#lastSeqPosted = seq;
    this.#committedEntries += entries;
    this.#maybeStart();
  }

  /** The snapshot in progress, if any (tests, shutdown). */
  get inFlight(): Promise<SnapshotInfo | null> | null {
    return this.#inFlight;
  }

  /** Takes a snapshot now unless one is running (then waits for that one); null when nothing is new. */
  snapshotNow(): Promise<SnapshotInfo | null> {
    return this.#inFlight ?? this.#start();
  }

  /**
   * Stops the worker at once, abandoning a snapshot in progress: shutdown must stay prompt, and an
   * abandoned snapshot is harmless (the log is truncated only after a put is acknowledged).
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#options.replica.close();
    await this.#inFlight?.catch(() => null);
  }

  #maybeStart(): void {
    if (this.#closed || this.#inFlight !== null || this.#policy.entries === 0 || this.#options.replica.failure !== null) return;
    const pending = this.#committedEntries - this.#entriesAtLastSnapshot;
    if (pending === 0) return;
    const sinceMs = this.#nowMs() - this.#lastSnapshotAtMs;
    if ((pending >= this.#policy.entries && sinceMs >= this.#policy.intervalMinMs) || sinceMs >= this.#policy.intervalMaxMs) {
      // A failure is logged and reported in #take; the next attempt waits for the minimum interval.
      this.#start().catch(() => {});
    }
  }

  #start(): Promise<SnapshotInfo | null> {
    const run = this.#take().finally(() => {
      this.#inFlight = null;
    });
    this.#inFlight = run;
    return run;
  }

  async #take(): Promise<SnapshotInfo | null> {
    const { shardId, store, log, replica, logger, onEvent } = this.#options;
    // Nothing the last snapshot does not already hold.
    if (this.#lastSeqPosted <= this.#lastSnapshotSeq) return null;
    const entriesAtStart = this.#committedEntries;
    this.#lastSnapshotAtMs = this.#nowMs();
    const pending = entriesAtStart - this.#entriesAtLastSnapshot;
    try {
      logger.info("snapshot started", { entries: pending });
      onEvent?.({ phase: "started", entries: pending });
      const { info, exportStartedAtMs, exportMs, putMs } = await replica.snapshot();
      this.#entriesAtLastSnapshot = entriesAtStart;
      this.#lastSnapshotSeq = info.lastSeq;
      logger.info("snapshot stored", { lastSeq: info.lastSeq, bytes: info.size, exportMs: Math.round(exportMs), putMs: Math.round(putMs) });
      onEvent?.({ phase: "stored", info, exportStartedAtMs, exportMs, putMs });
      // Truncate behind the oldest snapshot we keep, so each kept one still has its whole tail.
      const kept = await store.list(shardId);
      if (kept.length >= this.#retained) {
        const firstKeptSeq = kept[this.#retained - 1]!.lastSeq + 1;
        await log.truncateBefore(firstKeptSeq);
        logger.info("log truncated", { firstKeptSeq });
        onEvent?.({ phase: "truncated", firstKeptSeq });
      }
      return info;
    } catch (err) {
      if (this.#closed) return null;
      // Serving goes on; the log is not truncated, so restarts replay more until a snapshot succeeds.
      logger.error("snapshot failed", { err });
      onEvent?.({ phase: "failed", err });
      throw err;
    }
  }
}
