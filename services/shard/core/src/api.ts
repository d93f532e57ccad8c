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
import type { Attr, ChunkOpCommand, Command, Ctx, Result } from "@antler/ops";
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
  /**
   * Present when the command needs chunkservers before it can answer (WRITE_CHUNK creating,
   * bumping or copying a chunk; TRUNCATE inside a chunk; chunk reports asking for deletions).
   * Then `result` is NOT the answer for the client: the shell makes `entry` durable, sends each
   * command to its chunkserver (through the gateway holding the link), waits for all of them
   * (limits.chunkOpTimeoutMs each) and calls finishChunkWork with the outcomes; that returns the
   * real answer (and its own entry to make durable before answering).
   * Fire-and-forget work (deletions of unknown copies) has `awaited: false`: the shell sends the
   * commands and answers `result` at once; it still reports outcomes through finishChunkWork.
   * While awaited work is pending, a retry of the same request (same requestId) gets
   * { status: EAGAIN } and no work: a shell that can should instead hold such a retry and answer it
   * with the first attempt's final result.
   */
  readonly chunkWork?: ChunkWork;
  /**
   * Present when this shard cannot answer the command alone (it spans shards: @antler/ops
   * txn.ts): the shell passes the unchanged request to the coordinator (coordinatorSubject, same
   * reply inbox and headers) and answers nothing itself. `result` and `entry` are then
   * { status: OK } and null.
   */
  readonly forward?: "coordinator";
  /**
   * Present when the answer names nodes of other shards whose attributes only their shards know
   * (LOOKUP of a remote entry, READDIR with attributes, ".." of a directory whose parent is
   * remote). The shell asks each inode's shard for GETATTR with the request's ctx (through the
   * routers) and answers `complete(attrs)` instead of `result` (a missing inode: null; the
   * completion decides what that means, e.g. ENOENT for a lookup, the entry left out of a
   * readdir). `entry` is null for these (they are reads).
   */
  readonly remote?: RemoteAttrs;
}

export interface RemoteAttrs {
  readonly inodes: readonly number[];
  complete(attrs: ReadonlyMap<number, Attr | null>): Result;
}

/** One chunkserver command a shard decided; see ChunkOpCommand in @antler/ops. */
export interface ChunkCommand {
  readonly csid: number;
  readonly command: ChunkOpCommand;
}

export interface ChunkWork {
  /** Identifies the work in finishChunkWork; unique per machine instance, never reused. */
  readonly workId: number;
  readonly commands: readonly ChunkCommand[];
  readonly awaited: boolean;
}

/** The outcome of one ChunkCommand: the chunkserver's status (0 = OK), CSNOTPRESENT if unreachable. */
export interface ChunkCommandOutcome {
  readonly csid: number;
  readonly chunkId: bigint;
  readonly status: number;
}

/** What the leader knows about a live chunkserver (from the registry; soft state, never logged). */
export interface ChunkserverView {
  readonly csid: number;
  readonly labelMask: number;
  /** Bytes free for new chunks; a server with too little is not chosen for new copies. */
  readonly availSpace: bigint;
  readonly totalSpace: bigint;
  /** "registered" servers take new chunks; "maintenance" keep their copies counted but get no new ones. */
  readonly state: "registered" | "maintenance";
}

export interface MetadataStateMachine {
  execute(cmd: Command, ctx: Ctx, nowMs: number): Execution;
  apply(entry: LogEntry): void;
  /**
   * Time-driven work (trash expiry, old tombstones); an entry to append, or null. Like
   * execute(), the entry is already applied to this machine when it is returned.
   */
  maintain(nowMs: number): LogEntry | null;
  /**
   * Completes a ChunkWork: records which copies now exist at which version (an entry to make
   * durable) and gives the final answer to the command that started it. Unknown or already
   * finished workIds give { result: EINVAL, entry: null }. Only the leader has pending work; a
   * new leader starts with none (locks and half-made chunks it inherits are resolved by their
   * timeouts and by housekeeping).
   */
  finishChunkWork(workId: number, outcomes: readonly ChunkCommandOutcome[], nowMs: number): Execution;
  /**
   * Leader-only, rate-limited chunk housekeeping (limits.chunkHousekeepingCommandsPerPass):
   * replicate chunks below goal, delete copies above goal, of wrong version, or of chunks no
   * file uses any more, bump versions as mfsmaster does. The entry (if any) is already applied;
   * the work is never awaited by a client.
   */
  housekeepChunks(nowMs: number): Execution;
  /** The live chunkservers as the leader sees them now (replaces the previous view). */
  observeChunkservers(servers: readonly ChunkserverView[]): void;
  encodeEntry(entry: LogEntry): Uint8Array;
  /** Throws LogDecodeError for bytes that are not a log entry of a known version. */
  decodeEntry(bytes: Uint8Array): LogEntry;
  /** A full, self-contained copy of the state (for snapshots) and its inverse. */
  exportState(): Uint8Array;
  /** Replaces the whole state; throws LogDecodeError for bytes that are not a snapshot. */
  importState(bytes: Uint8Array): void;
  /**
   * Cross-shard transactions prepared here and not yet decided (the leader's resolver asks the
   * decision bucket about the old ones: @antler/ops txn.ts). preparedAtMs is the prepare
   * entry's wall-clock stamp.
   */
  preparedTransactions(): readonly PreparedTransaction[];
  /** Counts for status output. */
  stats(): { readonly inodes: number; readonly dirs: number; readonly files: number };
}

export interface PreparedTransaction {
  readonly txid: string;
  readonly preparedAtMs: number;
  readonly clientRequestId: string;
}
