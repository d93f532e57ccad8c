/**
 * Blocking locks (FLOCK LOCK_SHARED/LOCK_EXCLUSIVE, POSIX_LOCK SET) without server-side wait
 * queues: the gateway asks for the TRY variant, and while the metadata tier answers EAGAIN it asks
 * again every limits.lockRetryIntervalMs until the lock is granted; only then does the client get
 * its reply, with the original msgid (mfsmaster also answers a blocking lock only when granted).
 *
 * An INTERRUPT (FLOCK cmd 5, POSIX_LOCK cmd 3) cancels the waiting request with the same inode,
 * owner and reqid (flock_locks_cmd matches session + owner, then wakes the instance with that
 * reqid): it gets EINTR, the INTERRUPT itself gets OK. If the TRY is in flight at that moment,
 * its answer decides: granted wins (the lock is held and reported), anything else becomes EINTR.
 */
import { limits } from "@antler/base";
import type { Command } from "@antler/ops";
import type { UnansweredRequest } from "./api.ts";
import type { Caller } from "./identity.ts";

export interface LockWaiter {
  readonly msgid: number;
  readonly replyType: number;
  /** The TRY variant of the client's request. */
  readonly command: Extract<Command, { kind: "flock" | "posixlock" }>;
  readonly caller: Caller;
  retryAtMs: number;
  inFlight: boolean;
  interrupted: boolean;
  /** The session's unanswered request this packet may be the re-send of (first attempt only). */
  inherited: UnansweredRequest | undefined;
}

export class LockWaiters {
  readonly #waiters: LockWaiter[] = [];

  get size(): number {
    return this.#waiters.length;
  }

  get full(): boolean {
    return this.#waiters.length >= limits.lockWaitersMax;
  }

  add(waiter: LockWaiter): void {
    this.#waiters.push(waiter);
  }

  remove(waiter: LockWaiter): void {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
  }

  /** The waiter an INTERRUPT refers to, if any. */
  find(inode: number, owner: bigint, reqid: number): LockWaiter | null {
    return this.#waiters.find((w) => w.command.inode === inode && w.command.owner === owner && w.command.reqid === reqid) ?? null;
  }

  /** Waiters whose next attempt is due, at most limits.lockRetriesPerTickMax of them. */
  due(nowMs: number): LockWaiter[] {
    const due: LockWaiter[] = [];
    for (const waiter of this.#waiters) {
      if (due.length >= limits.lockRetriesPerTickMax) break;
      if (!waiter.inFlight && !waiter.interrupted && waiter.retryAtMs <= nowMs) due.push(waiter);
    }
    return due;
  }
}
