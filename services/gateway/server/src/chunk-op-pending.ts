/**
 * The chunk operations one chunkserver link has sent and not yet seen answered.
 *
 * A chunkserver keeps no request ids: it answers each MATOCS_* with the chunk id and the reply
 * type, in whatever order its job queue finishes them (protocol §4.3). Several operations on one
 * chunk can be out at once (a delete and a create, two set-versions), and the chunkserver answers
 * operations on one chunk in the order it received them, so each (op, chunk id) has a FIFO and a
 * reply settles the oldest.
 *
 * An operation not answered within its timeout is settled CSNOTPRESENT but keeps its place in the
 * FIFO as a tombstone, so its late reply is consumed by it instead of being taken for the answer
 * of a newer operation on the same chunk. A tombstone no reply ever came for is dropped after one
 * more timeout, so a chunkserver that silently skips an operation costs a mismatch window, not a
 * permanent shift. When the link goes, everything pending settles CSNOTPRESENT (`failAll`).
 */
import { Status } from "@antler/ops";

/** The operation as the reply names it: a ChunkOp of @antler/mfs-wire, or "replicate". */
export type ChunkOpKey = "create" | "delete" | "duplicate" | "set-version" | "truncate" | "duptrunc" | "replicate";

interface Pending {
  settle: ((status: number) => void) | null;
  timer: ReturnType<typeof setTimeout>;
}

export class PendingChunkOps {
  readonly #timeoutMs: number;
  readonly #queues = new Map<string, Pending[]>();
  #waiting = 0;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Operations still waiting for their answer (tombstones not counted). */
  get waiting(): number {
    return this.#waiting;
  }

  /** Registers an operation about to be sent; resolves with its status (never rejects). */
  add(op: ChunkOpKey, chunkId: bigint, timeoutMs = this.#timeoutMs): Promise<number> {
    const key = keyOf(op, chunkId);
    return new Promise<number>((resolve) => {
      const queue = this.#queues.get(key) ?? [];
      this.#queues.set(key, queue);
      const pending: Pending = {
        settle: (status) => {
          pending.settle = null;
          this.#waiting--;
          resolve(status);
        },
        timer: setTimeout(() => {
          pending.settle?.(Status.CSNOTPRESENT);
          // Keep the place for the late reply, but not forever.
          pending.timer = setTimeout(() => this.#remove(key, pending), timeoutMs);
          pending.timer.unref?.();
        }, timeoutMs),
      };
      this.#waiting++;
      queue.push(pending);
    });
  }

  /** A reply arrived: settles the oldest operation of that kind on that chunk; false if none was out. */
  settle(op: ChunkOpKey, chunkId: bigint, status: number): boolean {
    const key = keyOf(op, chunkId);
    const queue = this.#queues.get(key);
    const pending = queue?.shift();
    if (queue === undefined || pending === undefined) return false;
    if (queue.length === 0) this.#queues.delete(key);
    clearTimeout(pending.timer);
    pending.settle?.(status);
    return true;
  }

  /** The link is gone: no reply will come for anything that is out. */
  failAll(status: number = Status.CSNOTPRESENT): void {
    const queues = [...this.#queues.values()];
    this.#queues.clear();
    for (const queue of queues) {
      for (const pending of queue) {
        clearTimeout(pending.timer);
        pending.settle?.(status);
      }
    }
  }

  #remove(key: string, pending: Pending): void {
    const queue = this.#queues.get(key);
    if (queue === undefined) return;
    const index = queue.indexOf(pending);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(key);
  }
}

function keyOf(op: ChunkOpKey, chunkId: bigint): string {
  return `${op}:${chunkId}`;
}
