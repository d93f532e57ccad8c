/**
 * Messages between the shard's serving thread and its snapshot worker (snapshot-worker.ts).
 * The worker keeps a second replica of the state machine that applies exactly the records the
 * log acknowledged, in order, and exports and stores snapshots from there over its own NATS
 * connection, so neither the export, nor the checksum, nor the upload runs on the serving thread.
 */
import type { SnapshotInfo } from "@antler/io-nats";

/** What the worker needs to build its replica; structured-clonable (workerData). */
export interface ReplicaInit {
  readonly shardId: number;
  readonly metaId: bigint;
  /** The root directory's initial times (cluster creation, seconds); absent = 0. */
  readonly createdSeconds?: number;
  readonly slots: readonly number[];
}

/** Where the worker stores snapshots. */
export interface SnapshotTarget {
  readonly natsUrl: string;
  /** Default: the `antler-snapshots` bucket. */
  readonly bucket?: string;
  readonly replicas?: number;
  /** Bucket size limit (tests use it to make a put fail). */
  readonly maxBytes?: number;
  readonly retained?: number;
  /** The state machine's snapshot format version, stored with each snapshot. */
  readonly formatVersion: number;
}

export interface WorkerData {
  /** URL of a module exporting `createReplica(init: ReplicaInit)` (a ReplicaModule). */
  readonly replicaModule: string;
  readonly init: ReplicaInit;
  readonly target: SnapshotTarget;
}

export type ToWorker =
  /** The starting state: a snapshot covering the log up to `lastSeq`, or null for the empty state (lastSeq 0). */
  | { readonly type: "load"; readonly bytes: Uint8Array | null; readonly lastSeq: number }
  /** One acknowledged log record (a batch of entries); sequences arrive gap-free. */
  | { readonly type: "record"; readonly seq: number; readonly data: Uint8Array }
  /** Export the state as of the records posted so far and store it. */
  | { readonly type: "snapshot"; readonly id: number };

export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "stored"; readonly id: number; readonly info: SnapshotInfo; readonly exportStartedAtMs: number; readonly exportMs: number; readonly putMs: number }
  /** This snapshot could not be stored (the replica is fine; a later one may succeed). */
  | { readonly type: "storeFailed"; readonly id: number; readonly message: string }
  /** The replica cannot go on (a record failed to apply, a gap): no more snapshots from it. */
  | { readonly type: "failed"; readonly message: string };
