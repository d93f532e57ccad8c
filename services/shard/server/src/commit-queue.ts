/**
 * Group commit and reply ordering for the shard leader (the rule of shard-core api.ts: a reply is
 * released only after every entry executed before it is durable — reads included, because a read
 * may observe an entry that is applied in memory but not yet in the log).
 *
 * - `submit(entry, release)` is called in execution order, right after `execute`. The entry (if
 *   any) joins the next batch; `release` runs once every entry submitted so far is durable.
 * - At most one append is in flight. Entries submitted while it flies are gathered and sent as
 *   the next batch when it is acknowledged; entries submitted in the same event-loop turn are
 *   gathered before the first append starts (the flush is scheduled, not immediate).
 * - A failed append is fatal: the queue stops, nothing submitted after the last acknowledged
 *   batch is ever released, and `onFatal` is called once. The shell must stop serving and rebuild
 *   from the log (its in-memory state has entries the log may not have).
 *
 * Independent of NATS: the append is a function, so the logic is unit-tested on its own.
 */
import { assert, limits } from "@antler/base";
import { batchBytes } from "./log-batch.ts";

export interface CommitQueueOptions<T> {
  /** Makes a batch durable; resolves once acknowledged. `tags` are the submitters' tags, in order. */
  readonly append: (entries: readonly Uint8Array[], tags: readonly T[]) => Promise<void>;
  /** Called once, with the first append error. */
  readonly onFatal: (err: unknown) => void;
  readonly batchEntriesMax?: number;
  readonly batchBytesMax?: number;
  /** Runs the flush later in this turn; defaults to queueMicrotask. */
  readonly schedule?: (fn: () => void) => void;
}

interface Waiter {
  /** Entries that must be durable before `release` may run. */
  readonly watermark: number;
  readonly release: () => void;
}

export class CommitQueue<T = undefined> {
  readonly #append: CommitQueueOptions<T>["append"];
  readonly #onFatal: (err: unknown) => void;
  readonly #batchEntriesMax: number;
  readonly #batchBytesMax: number;
  readonly #schedule: (fn: () => void) => void;

  #pending: Uint8Array[] = [];
  #pendingTags: T[] = [];
  #waiters: Waiter[] = [];
  #waiterHead = 0;
  #submitted = 0;
  #durable = 0;
  #inFlight = false;
  #flushScheduled = false;
  #failure: { readonly err: unknown } | null = null;
  #idle: (() => void)[] = [];

  constructor(options: CommitQueueOptions<T>) {
    this.#append = options.append;
    this.#onFatal = options.onFatal;
    this.#batchEntriesMax = options.batchEntriesMax ?? limits.shardLogBatchEntriesMax;
    this.#batchBytesMax = options.batchBytesMax ?? limits.shardLogRecordBytesMax;
    this.#schedule = options.schedule ?? queueMicrotask;
    assert(this.#batchEntriesMax >= 1 && this.#batchEntriesMax <= limits.shardLogBatchEntriesMax, "batch entry limit out of range");
  }

  /** Entries submitted so far / made durable so far. */
  get submitted(): number {
    return this.#submitted;
  }
  get durable(): number {
    return this.#durable;
  }
  get failed(): boolean {
    return this.#failure !== null;
  }
  /** Replies waiting for an append. */
  get waiting(): number {
    return this.#waiters.length - this.#waiterHead;
  }

  /**
   * Records the outcome of one execution: `entry` (null for reads and failures) goes into the
   * next batch; `release` runs when everything submitted up to now is durable (at once if it
   * already is). After a failure nothing is released. `release` must not throw: it runs inside
   * the queue's bookkeeping (the shard's release catches its own reply errors).
   */
  submit(entry: Uint8Array | null, release: () => void, tag?: T): void {
    if (this.#failure !== null) return;
    if (entry !== null) {
      // An entry that cannot fit any record would block the log forever: fail loudly now.
      if (batchBytes([entry]) > this.#batchBytesMax) {
        this.#fail(new RangeError(`log entry of ${entry.length} bytes exceeds the record limit ${this.#batchBytesMax}`));
        return;
      }
      this.#pending.push(entry);
      this.#pendingTags.push(tag as T);
      this.#submitted++;
    }
    if (this.#submitted === this.#durable) {
      release();
      return;
    }
    this.#waiters.push({ watermark: this.#submitted, release });
    this.#scheduleFlush();
  }

  /** Resolves when nothing is pending or in flight (or the queue failed). For clean shutdown. */
  whenIdle(): Promise<void> {
    if (this.#failure !== null || (this.#submitted === this.#durable && !this.#inFlight)) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inFlight) return;
    this.#flushScheduled = true;
    this.#schedule(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#inFlight || this.#failure !== null || this.#pending.length === 0) return;
    let count = 0;
    let bytes = batchBytes([]);
    while (count < this.#pending.length && count < this.#batchEntriesMax) {
      const next = 4 + this.#pending[count]!.length;
      if (count > 0 && bytes + next > this.#batchBytesMax) break;
      bytes += next;
      count++;
    }
    const entries = this.#pending.splice(0, count);
    const tags = this.#pendingTags.splice(0, count);
    this.#inFlight = true;
    this.#append(entries, tags).then(
      () => {
        this.#inFlight = false;
        if (this.#failure !== null) return;
        this.#durable += entries.length;
        assert(this.#durable <= this.#submitted, "more entries durable than submitted");
        this.#releaseDurable();
        if (this.#pending.length > 0) this.#flush();
        else this.#notifyIdle();
      },
      (err: unknown) => {
        this.#inFlight = false;
        this.#fail(err);
      },
    );
  }

  #releaseDurable(): void {
    while (this.#waiterHead < this.#waiters.length && this.#waiters[this.#waiterHead]!.watermark <= this.#durable) {
      const waiter = this.#waiters[this.#waiterHead++]!;
      waiter.release();
    }
    // Compact now and then so the array does not grow without bound.
    if (this.#waiterHead > 1024 && this.#waiterHead * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#waiterHead);
      this.#waiterHead = 0;
    }
  }

  #fail(err: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = { err };
    this.#pending = [];
    this.#pendingTags = [];
    this.#waiters = [];
    this.#waiterHead = 0;
    this.#notifyIdle();
    this.#onFatal(err);
  }

  #notifyIdle(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
