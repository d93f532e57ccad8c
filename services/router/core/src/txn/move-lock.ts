/**
 * The cluster-wide lock of directory moves: one record (moveLockKey) in the decision bucket, so
 * that two coordinators never check ancestry and commit directory moves at the same time. The
 * coordinator lease alone cannot promise that: a router paused past its lease still believes it
 * coordinates while its successor already does, and two moves checked at once can each be fine
 * alone and together form a cycle.
 *
 * The record names its holder (null: free) and is only ever written conditionally, on the
 * revision the writer read (compare-and-set), so of two writers exactly one wins:
 * - acquire: take a free record, or one whose revision has not changed for `staleMs` of our own
 *   clock (its holder died or stalls; no clocks of other machines are compared);
 * - fence: the holder re-writes its record after its participants are prepared and before it
 *   stores "commit". It fails if anyone took the record over meanwhile, and then the move is
 *   abandoned. So a holder that stalled past `staleMs` never commits on a stale ancestry check.
 *   Whoever took the lock over checks ancestry after the stalled holder's prepare, and the
 *   ancestry walk refuses to pass a directory a prepared transaction holds: the two checks are
 *   never concurrent in effect;
 * - release: write "free" on our revision (a failure leaves a record that goes stale).
 * The lock only protects the safety of moves; `staleMs` bounds how long a dead holder blocks them.
 */
import type { CoordinatorPorts } from "./ports.ts";

/** The key of the directory-move lock in the decision bucket (decision keys all start "tx."). */
export const moveLockKey = "movelock";

export class MoveLockRecordError extends Error {
  override name = "MoveLockRecordError";
}

export function encodeMoveLock(holder: string | null): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ holder }));
}

/** The holder in a stored record (null: free); a malformed record is a typed error. */
export function decodeMoveLock(bytes: Uint8Array): string | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new MoveLockRecordError("move lock record is not JSON", { cause: err });
  }
  const holder = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>).holder : undefined;
  if (holder !== null && (typeof holder !== "string" || holder === "")) throw new MoveLockRecordError("move lock record has no valid holder");
  return holder;
}

/** Pauses between looks at a held lock, and between repeats of an unreachable store. */
const pauseMinMs = 5;
const pauseMaxMs = 200;

export class MoveLock {
  readonly #ports: CoordinatorPorts;
  readonly #staleMs: number;
  readonly #patienceMs: number;

  /** `patienceMs` must exceed `staleMs`, or a lock left by a dead holder would never be taken over. */
  constructor(ports: CoordinatorPorts, staleMs: number, patienceMs: number) {
    this.#ports = ports;
    this.#staleMs = staleMs;
    this.#patienceMs = Math.max(patienceMs, staleMs + pauseMaxMs);
  }

  /** Takes the lock for `holder` (unique: a txid); its revision, or null after the patience ran out. */
  async acquire(holder: string): Promise<number | null> {
    const ports = this.#ports;
    const deadline = ports.nowMs() + this.#patienceMs;
    /** The held record's revision and when we first saw it (it goes stale unchanged). */
    let seen = null as { readonly revision: number; readonly sinceMs: number } | null;
    for (let round = 0; ; round++) {
      try {
        const record = await ports.readMoveLock();
        if (record?.holder === holder) return record.revision; // our own write whose answer was lost
        if (record === null || record.holder === null) {
          const revision = await ports.writeMoveLock(holder, record?.revision ?? 0);
          if (revision !== null) return revision;
        } else if (seen?.revision !== record.revision) {
          seen = { revision: record.revision, sinceMs: ports.nowMs() };
        } else if (ports.nowMs() - seen.sinceMs >= this.#staleMs) {
          const revision = await ports.writeMoveLock(holder, record.revision);
          if (revision !== null) return revision;
        }
      } catch {
        // The store did not answer: look again (a write that did happen shows as ours).
      }
      if (ports.nowMs() >= deadline) return null;
      await ports.sleep(Math.min(pauseMinMs * 2 ** round, pauseMaxMs));
    }
  }

  /** Re-writes our record at `revision`: the new revision, or null when someone took the lock over. */
  async fence(holder: string, revision: number): Promise<number | null> {
    const ports = this.#ports;
    const deadline = ports.nowMs() + this.#patienceMs;
    for (let round = 0; ; round++) {
      try {
        return await ports.writeMoveLock(holder, revision);
      } catch {
        // Unknown whether it was written: what the record says now decides.
        try {
          const record = await ports.readMoveLock();
          if (record === null || record.holder !== holder) return null;
          if (record.revision !== revision) return record.revision;
        } catch {
          // Still unreachable: repeat until the patience runs out.
        }
      }
      if (ports.nowMs() >= deadline) return null;
      await ports.sleep(Math.min(pauseMinMs * 2 ** round, pauseMaxMs));
    }
  }

  /** Frees the lock if it is still ours at `revision`; a failure leaves it to go stale. */
  async release(revision: number): Promise<void> {
    try {
      await this.#ports.writeMoveLock(null, revision);
    } catch {
      // Others take it over after staleMs.
    }
  }
}
