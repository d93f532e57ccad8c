/**
 * The shard log as its shells see it: an append-only sequence of opaque records, numbered from 1
 * without gaps, with fenced appends. An append names the sequence it expects to be last; if
 * another writer appended in between (a new leader, a restarted process), the append is refused
 * with FencedError and the caller must stop writing: its view of the log is stale. This is what
 * keeps a deposed leader from ever adding to the log, without relying on clocks.
 *
 * Implemented on JetStream by JetStreamLogStream; the simulator has its own fake.
 */

export interface LogRecord {
  /** 1-based, gap-free position in the log. */
  readonly seq: number;
  readonly data: Uint8Array;
}

export interface LogStream {
  /** The stream's name (for logs and traces). */
  readonly name: string;
  /**
   * Appends `data` if the log's last sequence is `expectedLastSeq` (0 = empty log) and returns
   * the new record's sequence (expectedLastSeq + 1). `msgId` makes a retry of the same append
   * idempotent: within the duplicate window, a second append with the same id returns the first
   * one's sequence without storing anything.
   * @throws FencedError when the last sequence is not `expectedLastSeq`.
   * @throws LogUnavailableError when the log could not be reached (the append may or may not
   *         have been stored: retry with the same msgId).
   */
  append(data: Uint8Array, expectedLastSeq: number, msgId?: string): Promise<number>;
  /** The sequence of the last record, 0 when the log is empty. */
  lastSeq(): Promise<number>;
  /**
   * Calls `onRecord` for every record from `fromSeq` up to the last record that existed when the
   * call started, in order, and returns the sequence of the last record delivered (fromSeq - 1
   * when none). Records appended meanwhile may or may not be delivered.
   */
  readAll(fromSeq: number, onRecord: (record: LogRecord) => void): Promise<number>;
}

/**
 * A log whose prefix can be dropped once a snapshot covers it (ADR 0006). Truncation never
 * changes the last sequence, so fenced appends keep working; the first sequence moves up.
 */
export interface TruncatableLogStream extends LogStream {
  /** The sequence of the first record still held; lastSeq + 1 when the log holds none. */
  firstSeq(): Promise<number>;
  /**
   * Drops every record below `firstKeptSeq` (records at and after it are kept). Idempotent; a
   * value at or below the current first sequence changes nothing.
   */
  truncateBefore(firstKeptSeq: number): Promise<void>;
}

/** The log moved on without us: another writer appended. Stop writing, re-read the log. */
export class FencedError extends Error {
  override name = "FencedError";
  readonly expectedLastSeq: number;
  constructor(stream: string, expectedLastSeq: number, options?: ErrorOptions) {
    super(`append to ${stream} fenced: last sequence is no longer ${expectedLastSeq}`, options);
    this.expectedLastSeq = expectedLastSeq;
  }
}

/** The log could not be reached or answered with an unexpected error. */
export class LogUnavailableError extends Error {
  override name = "LogUnavailableError";
}
