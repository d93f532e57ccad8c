/**
 * The contract between the shard's pure core (the metadata state machine) and its shells: the
 * shard server (JetStream log, NATS), the simulator and the tests.
 *
 * Life of a mutating command on the leader:
 *   1. `execute(cmd, ctx, nowMs)` validates the command against the current state (POSIX rules
 *      and permissions as mfsmaster applies them), turns it into a LogEntry carrying the full
 *      effect (every allocated id and timestamp inside), applies that entry to the in-memory
 *      state, and returns the result together with the entry.
 *   2. The shell appends the entry to the shard log (fenced by expected sequence) and releases
 *      the result to the client only after the append is acknowledged - and only after every
 *      entry appended before it is acknowledged, reads included, so no client ever sees state
 *      that could still be lost.
 *   3. If an append fails, the shell stops serving and rebuilds the state from the log.
 * Replicas and restarts call `apply(entry)` for each log entry in order: the same function the
 * leader used in step 1, so live apply and replay cannot diverge. Applying an entry checks the
 * outcome recorded in it (e.g. the inode it allocated) and throws on a mismatch.
 *
 * Nothing here reads a clock or a random source: time comes in as `nowMs`.
 */
import type { Command, Ctx, Result } from "@antler/ops";
import type { LogEntry } from "./log-entry.ts";

/**
 * One log record: a self-describing, versioned change of state (a union over versions and
 * operations; see log-entry.ts). Shells treat it as opaque and use encodeEntry/decodeEntry.
 */
export type { LogEntry };

export interface Execution {
  readonly result: Result;
  /** The change to make durable before replying; null when nothing changed (reads, failures). */
  readonly entry: LogEntry | null;
}

export interface MetadataStateMachine {
  execute(cmd: Command, ctx: Ctx, nowMs: number): Execution;
  apply(entry: LogEntry): void;
  /**
   * Time-driven work (trash expiry, old tombstones); an entry to append, or null. Like
   * execute(), the entry is already applied to this machine when it is returned.
   */
  maintain(nowMs: number): LogEntry | null;
  encodeEntry(entry: LogEntry): Uint8Array;
  /** Throws LogDecodeError for bytes that are not a log entry of a known version. */
  decodeEntry(bytes: Uint8Array): LogEntry;
  /** A full, self-contained copy of the state (for snapshots) and its inverse. */
  exportState(): Uint8Array;
  /** Replaces the whole state; throws LogDecodeError for bytes that are not a snapshot. */
  importState(bytes: Uint8Array): void;
  /** Counts for status output. */
  stats(): { readonly inodes: number; readonly dirs: number; readonly files: number };
}
