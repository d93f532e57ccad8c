/**
 * Following a shard log as it grows (a hot standby): an ordered consumer from a start sequence
 * that keeps delivering new records until stopped. The ordered consumer recreates itself after a
 * reconnect or a missed message, starting after the last record it delivered, so records arrive
 * once and in order; a jump in the sequence (records purged before this follower read them) ends
 * the follow with an error, because the follower's state could no longer match the log.
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { assert } from "@antler/base";
import { LogUnavailableError, type LogRecord } from "./log-stream.ts";

export interface LogFollower {
  /** The sequence of the last record delivered (fromSeq - 1 before the first). */
  lastSeq(): number;
  /**
   * Settles when the follow ends: resolves after stop(), rejects when the log has a gap, the
   * consumer fails, or `onRecord` throws (its error).
   */
  readonly done: Promise<void>;
  /** Stops delivering; resolves once `onRecord` will not be called again. */
  stop(): Promise<void>;
}

export interface FollowOptions {
  /** Records the consumer buffers ahead of `onRecord`. */
  readonly bufferRecords?: number;
}

export async function followLog(nc: NatsConnection, stream: string, fromSeq: number, onRecord: (record: LogRecord) => void, options: FollowOptions = {}): Promise<LogFollower> {
  assert(Number.isInteger(fromSeq) && fromSeq >= 1, "log sequences start at 1");
  let messages;
  try {
    const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: fromSeq });
    messages = await consumer.consume({ max_messages: options.bufferRecords ?? 1024 });
  } catch (err) {
    throw new LogUnavailableError(`follow of ${stream} from ${fromSeq} failed`, { cause: err });
  }
  let next = fromSeq;
  let stopping = false;
  const done = (async () => {
    try {
      for await (const msg of messages) {
        if (stopping) break;
        if (msg.seq !== next) throw new LogUnavailableError(`log ${stream} has a gap: expected ${next}, got ${msg.seq}`);
        onRecord({ seq: msg.seq, data: msg.data });
        next++;
      }
    } finally {
      messages.stop();
    }
    if (!stopping) throw new LogUnavailableError(`follow of ${stream} ended at ${next - 1}`);
  })();
  // Callers may look at `done` late; an unobserved rejection must not crash the process first.
  done.catch(() => {});
  return {
    lastSeq: () => next - 1,
    done,
    async stop() {
      stopping = true;
      messages.stop();
      await done.catch(() => {});
    },
  };
}
