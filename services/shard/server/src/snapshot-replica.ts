/**
 * The serving thread's handle on the snapshot worker (snapshot-worker.ts). `record` is called for
 * every acknowledged log record, in order (after replay, then live after each append);
 * `snapshot` resolves once the worker stored the replica's whole state as of the last record
 * posted before it. Posting is cheap (a copy of the record, transferred); everything expensive —
 * export, checksum, upload — happens in the worker.
 */
import { Worker } from "node:worker_threads";
import { SnapshotStoreError, type SnapshotInfo } from "@antler/io-nats";
import type { FromWorker, ReplicaInit, SnapshotTarget, ToWorker, WorkerData } from "./snapshot-protocol.ts";
import type { SnapshottableStateMachine } from "./state-machine.ts";

/** A module the worker loads to build its replica (core-replica.ts for the real state machine). */
export interface ReplicaModule {
  createReplica(init: ReplicaInit): Promise<SnapshottableStateMachine<unknown>> | SnapshottableStateMachine<unknown>;
}

export interface StoredSnapshot {
  /** `info.lastSeq` is the last log sequence the snapshot contains. */
  readonly info: SnapshotInfo;
  /** When the export began, as performance.timeOrigin + now() (comparable across threads). */
  readonly exportStartedAtMs: number;
  readonly exportMs: number;
  readonly putMs: number;
}

/** What the snapshotter needs from a replica (WorkerReplica; tests may fake it). */
export interface SnapshotReplica {
  load(bytes: Uint8Array | null, lastSeq: number): void;
  record(seq: number, data: Uint8Array): void;
  /** Exports the state as of the last record posted and stores it; resolves once the put is acknowledged. */
  snapshot(): Promise<StoredSnapshot>;
  /** Set once the replica cannot produce snapshots any more. */
  readonly failure: Error | null;
  close(): Promise<void>;
}

export class ReplicaFailedError extends Error {
  override name = "ReplicaFailedError";
}

/**
 * A copy in a fresh ArrayBuffer, safe to transfer. Not `slice()`: on a Node Buffer (what NATS
 * hands out) slice is a view into the shared pool, and transferring that would detach the pool.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** `bytes` itself when it owns its whole, plain ArrayBuffer; else a copy. */
export function ownBuffer(bytes: Uint8Array): Uint8Array {
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype && bytes.buffer instanceof ArrayBuffer;
  return plain && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : copyBytes(bytes);
}

export class WorkerReplica implements SnapshotReplica {
  readonly #worker: Worker;
  readonly #snapshots = new Map<number, { resolve: (stored: StoredSnapshot) => void; reject: (err: Error) => void }>();
  #nextId = 1;
  #failure: Error | null = null;
  #closed = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** Starts the worker and waits until its replica exists. */
  static async start(replicaModule: URL, init: ReplicaInit, target: SnapshotTarget): Promise<WorkerReplica> {
    const workerData: WorkerData = { replicaModule: replicaModule.href, init, target };
    const worker = new Worker(new URL("./snapshot-worker.ts", import.meta.url), { workerData });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type !== "ready") return;
        worker.off("error", reject);
        resolve();
      };
      worker.once("message", onMessage);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new ReplicaFailedError(`snapshot worker exited with ${code} while starting`)));
    });
    const replica = new WorkerReplica(worker);
    worker.removeAllListeners("exit");
    worker.on("message", (message: FromWorker) => replica.#onMessage(message));
    worker.on("error", (err) => replica.#fail(err));
    worker.on("exit", (code) => replica.#fail(new ReplicaFailedError(`snapshot worker exited with ${code}`)));
    // The worker must not keep the process alive on its own.
    worker.unref();
    return replica;
  }

  get failure(): Error | null {
    return this.#failure;
  }

  load(bytes: Uint8Array | null, lastSeq: number): void {
    const owned = bytes === null ? null : ownBuffer(bytes);
    this.#post({ type: "load", bytes: owned, lastSeq }, owned === null ? [] : [owned.buffer as ArrayBuffer]);
  }

  record(seq: number, data: Uint8Array): void {
    // Always a copy: the caller's buffer may be shared (a NATS read buffer) or still in use.
    const copy = copyBytes(data);
    this.#post({ type: "record", seq, data: copy }, [copy.buffer as ArrayBuffer]);
  }

  snapshot(): Promise<StoredSnapshot> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#snapshots.set(id, { resolve, reject });
      this.#post({ type: "snapshot", id });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new ReplicaFailedError("snapshot worker closed"));
    await this.#worker.terminate();
  }

  #post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.#failure !== null) return;
    this.#worker.postMessage(message, transfer);
  }

  #onMessage(message: FromWorker): void {
    if (message.type === "stored" || message.type === "storeFailed") {
      const pending = this.#snapshots.get(message.id);
      this.#snapshots.delete(message.id);
      if (message.type === "stored") pending?.resolve({ info: message.info, exportStartedAtMs: message.exportStartedAtMs, exportMs: message.exportMs, putMs: message.putMs });
      else pending?.reject(new SnapshotStoreError(message.message));
    } else if (message.type === "failed") {
      this.#fail(new ReplicaFailedError(`snapshot replica failed: ${message.message}`));
    }
  }

  #fail(err: Error): void {
    if (this.#failure !== null) return;
    this.#failure = err;
    for (const pending of this.#snapshots.values()) pending.reject(err);
    this.#snapshots.clear();
  }
}
