/**
 * Requests held while a prepared cross-shard transaction locks an inode they need (the state
 * machine answered TXLOCKED, @antler/ops txn.ts). Such a request is not answered: it is executed
 * again after limits.txLockedRetryMs, the pause growing ×1.5 up to limits.txLockedRetryMaxMs,
 * until the transaction commits or aborts (a healthy one takes milliseconds; a stuck one is
 * resolved after limits.txResolveAfterMs). After limits.txLockedWaitMaxMs in all the request gets
 * EAGAIN. The number of held requests is bounded (limits.txLockedParkedMax): beyond it a newly
 * locked request gets EAGAIN at once, so a long-held lock cannot pile up unbounded state.
 *
 * Only the timing lives here; the shard server re-executes and answers.
 */
import { limits } from "@antler/base";

/** How long one request has been waiting, and its next pause. */
export interface LockWait {
  readonly sinceMs: number;
  readonly nextDelayMs: number;
}

export interface LockWaitsOptions {
  readonly nowMs: () => number;
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
  readonly waitMaxMs?: number;
  readonly parkedMax?: number;
}

/** What became of a request that met a lock: held (its retry will run), or to be answered EAGAIN now. */
export type LockWaitDecision = "held" | "full" | "expired";

interface Held {
  readonly timer: ReturnType<typeof setTimeout>;
  readonly onDropped: () => void;
}

export class LockWaits {
  readonly #nowMs: () => number;
  readonly #retryMs: number;
  readonly #retryMaxMs: number;
  readonly #waitMaxMs: number;
  readonly #parkedMax: number;
  readonly #held = new Set<Held>();
  #closed = false;

  constructor(options: LockWaitsOptions) {
    this.#nowMs = options.nowMs;
    this.#retryMs = Math.max(1, options.retryMs ?? limits.txLockedRetryMs);
    this.#retryMaxMs = Math.max(this.#retryMs, options.retryMaxMs ?? limits.txLockedRetryMaxMs);
    this.#waitMaxMs = options.waitMaxMs ?? limits.txLockedWaitMaxMs;
    this.#parkedMax = options.parkedMax ?? limits.txLockedParkedMax;
  }

  /** Requests held now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * A request met a lock; `previous` is its wait so far (null: the first time). Held: `retry`
   * runs after the pause with the updated wait (or `onDropped` if the waits are closed first).
   */
  hold(previous: LockWait | null, retry: (wait: LockWait) => void, onDropped: () => void): LockWaitDecision {
    if (this.#closed) return "full";
    const now = this.#nowMs();
    const sinceMs = previous?.sinceMs ?? now;
    const delayMs = previous?.nextDelayMs ?? this.#retryMs;
    // Retrying after the deadline would only answer later what it can answer now.
    if (now + delayMs - sinceMs > this.#waitMaxMs) return "expired";
    // A request already held keeps its place; only newcomers are turned away when full.
    if (previous === null && this.#held.size >= this.#parkedMax) return "full";
    const wait: LockWait = { sinceMs, nextDelayMs: Math.min(this.#retryMaxMs, Math.ceil(delayMs * 1.5)) };
    const held: Held = {
      timer: setTimeout(() => {
        this.#held.delete(held);
        retry(wait);
      }, delayMs),
      onDropped,
    };
    this.#held.add(held);
    return "held";
  }

  /** Drops every held request (the server stops serving: their senders retry at the next leader). */
  close(): void {
    this.#closed = true;
    const held = [...this.#held];
    this.#held.clear();
    for (const entry of held) {
      clearTimeout(entry.timer);
      entry.onDropped();
    }
  }
}
