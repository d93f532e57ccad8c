/**
 * Hybrid logical clock stamps (ARCHITECTURE §4). Every log entry carries one; every mutable field
 * and directory entry remembers the stamp of its last write, so deltas from several sites can
 * later be merged last-writer-wins. The physical part comes from the `nowMs` the shell passes in;
 * the logical counter keeps stamps strictly increasing when the clock stalls or steps back.
 */

export interface Stamp {
  /** Milliseconds of the wall clock of the writer (never less than any stamp seen before). */
  readonly wallMs: number;
  /** Tie breaker among stamps with the same wallMs. */
  readonly logical: number;
  /** Site (or writer) that made the stamp; the last tie breaker. */
  readonly origin: number;
}

export const zeroStamp: Stamp = { wallMs: 0, logical: 0, origin: 0 };

export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return 0;
}

export function maxStamp(a: Stamp, b: Stamp): Stamp {
  return compareStamps(a, b) >= 0 ? a : b;
}

/** The stamp after `last` for a write made at `nowMs` by `origin`. */
export function nextStamp(last: Stamp, nowMs: number, origin: number): Stamp {
  const wallMs = Math.max(last.wallMs, Math.floor(nowMs));
  const logical = wallMs === last.wallMs ? last.logical + 1 : 0;
  return { wallMs, logical, origin };
}

/** MooseFS times are whole seconds: the second a stamp was made in. */
export function secondsOf(stamp: Stamp): number {
  return Math.floor(stamp.wallMs / 1000);
}
