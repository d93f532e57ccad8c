/**
 * Errors of the shard core. Operating errors of clients are Results with a MooseFS status; these
 * classes are for the log: an entry that does not fit the state it is applied to (a diverged
 * replica, a corrupt or foreign log) and bytes that are not a log entry or snapshot at all.
 */

/** Applying a log entry found a state that differs from the one the entry was made against. */
export class ReplayMismatchError extends Error {
  override name = "ReplayMismatchError";
}

/** Bytes that do not decode to a valid log entry or state snapshot. */
export class LogDecodeError extends Error {
  override name = "LogDecodeError";
}

export function mismatch(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ReplayMismatchError(message);
}
