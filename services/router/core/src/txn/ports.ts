/**
 * Everything the coordinator needs from the world (@antler/ops txn.ts): calls to shards, the
 * durable decision record, time and randomness. The coordinator itself is pure; the router server
 * implements these over NATS and its KV buckets, tests over in-memory shards.
 */
import type { Command, Ctx, Result, TxDecision } from "@antler/ops";

/**
 * A shard could not be reached (no leader within the caller's retries, timeouts). The request may
 * or may not have been carried out: callers only repeat idempotent commands after it.
 */
export class ShardUnavailableError extends Error {
  override name = "ShardUnavailableError";
}

/** What the coordinator reports about its work (counters, logs); never affects the outcome. */
export type CoordinatorEvent =
  /** A coordinated request got its answer (`status` as sent to the client). */
  | { readonly kind: "coordinated"; readonly command: Command["kind"]; readonly status: number; readonly attempts: number }
  /** A prepare found an inode held by another transaction: the attempt is retried. */
  | { readonly kind: "conflict"; readonly txid: string }
  /** A "commit" of an earlier attempt was found and carried out (its coordinator died, or the client retried). */
  | { readonly kind: "recovered"; readonly txid: string }
  /** Something stayed unreachable (or broke): the client got EAGAIN. */
  | { readonly kind: "failed"; readonly command: Command["kind"]; readonly detail: string }
  /** A participant could not be told the outcome in time; its resolver will apply the stored decision. */
  | { readonly kind: "participant-unreached"; readonly txid: string; readonly shard: number; readonly phase: "commit" | "abort"; readonly detail: string };

/** The directory-move lock as stored: who holds it (null: free), at which revision. */
export interface MoveLockRecord {
  readonly holder: string | null;
  readonly revision: number;
}

export interface CoordinatorPorts {
  /**
   * Sends `cmd` with `ctx` to the shard owning the command's slot (routeOf: txprepare/txcommit/
   * txabort carry `slot`; txinspect and plain commands route by their inode) and answers its
   * result. MOVED is handled inside (the map is refreshed and the call repeated); a shard without
   * a leader is retried for a while. Rejects with ShardUnavailableError when the shard stays
   * unreachable.
   */
  call(cmd: Command, ctx: Ctx): Promise<Result>;
  /**
   * Writes `decision` under txDecisionKey(decision.txid) only if no decision is stored yet, and
   * answers the stored one: `decision` itself, or whatever someone else wrote first (a
   * participant's "abort"). Rejects when the store cannot be reached.
   */
  decide(decision: TxDecision): Promise<TxDecision>;
  /** The stored decision of `txid`, or null. Rejects when the store cannot be reached. */
  readDecision(txid: string): Promise<TxDecision | null>;
  /** Every participant acknowledged: the decision may be removed (the store may keep it a while). */
  forgetDecision(txid: string): Promise<void>;
  /**
   * The directory-move lock record (move-lock.ts: key moveLockKey in the decision bucket, read
   * from the stream leader), or null when it was never written. Rejects when the store cannot be
   * reached.
   */
  readMoveLock(): Promise<MoveLockRecord | null>;
  /**
   * Writes `holder` (null: free) to the directory-move lock record only if the record is still at
   * `revision` (0: only if there is none): the new revision, or null when it changed meanwhile.
   * Rejects when the store cannot be reached (the write may or may not have happened).
   */
  writeMoveLock(holder: string | null, revision: number): Promise<number | null>;
  /** The shard owning `slot` in the current shard map. */
  shardOfSlot(slot: number): number;
  /** Some slot `shard` owns (tx commands are routed by a slot of their shard). */
  slotOfShard(shard: number): number;
  /** The slot of a new directory `name` under `parent` (@antler/slots Placement.directorySlot). */
  slotOfNewDirectory(parent: number, name: string): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
  /** Monotonic milliseconds. */
  nowMs(): number;
  /** Told about conflicts, recoveries and answers (optional). */
  event?(event: CoordinatorEvent): void;
}
