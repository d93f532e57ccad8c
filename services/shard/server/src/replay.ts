/**
 * Rebuilding the state from the shard log: every record is a batch of entries, applied in order
 * with the same `apply` the leader used live. A record or entry that does not decode, or an entry
 * whose recorded outcome does not match (apply throws), stops the replay: serving from a state
 * that differs from the log would be silent corruption.
 */
import type { LogStream } from "@antler/io-nats";
import { decodeBatch } from "./log-batch.ts";
import type { ShardStateMachine } from "./state-machine.ts";

export interface ReplayResult {
  /** Log records (batches) read. */
  readonly records: number;
  /** State-machine entries applied. */
  readonly entries: number;
  /** Sequence of the last record applied (0 for an empty log): the next append expects it. */
  readonly lastSeq: number;
  readonly durationMs: number;
}

export class ReplayError extends Error {
  override name = "ReplayError";
}

/**
 * Applies every record from `fromSeq` on; `onRecord` sees each record after it was applied (the
 * snapshot replica follows the same records).
 */
export async function replayLog<E>(log: LogStream, sm: ShardStateMachine<E>, fromSeq = 1, onRecord?: (seq: number, data: Uint8Array) => void): Promise<ReplayResult> {
  const started = performance.now();
  let records = 0;
  let entries = 0;
  const lastSeq = await log.readAll(fromSeq, (record) => {
    entries += applyLogRecord(sm, record.seq, record.data);
    records++;
    onRecord?.(record.seq, record.data);
  });
  return { records, entries, lastSeq, durationMs: performance.now() - started };
}

/**
 * Applies one log record (a batch of entries) and returns how many entries it held. Replay and a
 * standby following the log use it alike.
 * @throws ReplayError when the record does not decode or an entry does not apply.
 */
export function applyLogRecord<E>(sm: ShardStateMachine<E>, seq: number, data: Uint8Array): number {
  let batch: Uint8Array[];
  try {
    batch = decodeBatch(data);
  } catch (err) {
    throw new ReplayError(`log record ${seq} is not a batch`, { cause: err });
  }
  for (let i = 0; i < batch.length; i++) {
    try {
      sm.apply(sm.decodeEntry(batch[i]!));
    } catch (err) {
      throw new ReplayError(`entry ${i} of log record ${seq} failed to apply`, { cause: err });
    }
  }
  return batch.length;
}
