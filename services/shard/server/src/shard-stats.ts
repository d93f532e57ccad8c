/**
 * The shard leader's live figures for `antler status` (@antler/ops ShardStats): answered on
 * shardStatsSubject(shardId) while this replica leads (the shard server subscribes through the
 * lease-guarded connection and unsubscribes when it stops serving).
 *
 * Requests per second come from a ring of per-second counters covering limits.shardStatsWindowMs:
 * constant memory, and the figure is the average over the seconds that have fully passed in the
 * window (the current, partial second is left out so a fresh second does not halve the rate).
 */
import { limits } from "@antler/base";
import type { NatsConnection, Subscription } from "@antler/io-nats";
import { encodeMessage, shardStatsSubject, type ShardStats } from "@antler/ops";
import type { Logger } from "@antler/telemetry";

export class RequestRate {
  readonly #seconds: number;
  /** counts[i] = requests in second `stamps[i]` (epoch seconds); a stale stamp means zero. */
  readonly #counts: number[];
  readonly #stamps: number[];

  constructor(windowMs: number = limits.shardStatsWindowMs) {
    this.#seconds = Math.max(1, Math.round(windowMs / 1000));
    // One more slot than the window: the current second is being filled while the window is read.
    this.#counts = new Array<number>(this.#seconds + 1).fill(0);
    this.#stamps = new Array<number>(this.#seconds + 1).fill(-1);
  }

  record(nowMs: number, count = 1): void {
    const second = Math.floor(nowMs / 1000);
    const i = second % this.#counts.length;
    if (this.#stamps[i] !== second) {
      this.#stamps[i] = second;
      this.#counts[i] = 0;
    }
    this.#counts[i]! += count;
  }

  /** Requests per second over the full seconds of the window ending before `nowMs`'s second. */
  perSecond(nowMs: number): number {
    const current = Math.floor(nowMs / 1000);
    let total = 0;
    for (let back = 1; back <= this.#seconds; back++) {
      const second = current - back;
      const i = ((second % this.#counts.length) + this.#counts.length) % this.#counts.length;
      if (this.#stamps[i] === second) total += this.#counts[i]!;
    }
    return total / this.#seconds;
  }
}

export interface ShardStatsResponderOptions {
  readonly nc: NatsConnection;
  readonly shardId: number;
  readonly logger: Logger;
  /** The figures now; called per request. */
  readonly collect: () => ShardStats;
}

/** Answers every request on the shard's stats subject with `collect()`; unsubscribe to stop. */
export function serveShardStats(options: ShardStatsResponderOptions): Subscription {
  const { nc, shardId, logger, collect } = options;
  return nc.subscribe(shardStatsSubject(shardId), {
    callback: (err, msg) => {
      if (err !== null) {
        logger.warn("shard stats subscription failed", { err });
        return;
      }
      if (msg.reply === undefined || msg.reply === "") return;
      try {
        msg.respond(encodeMessage(collect()));
      } catch (err) {
        logger.warn("shard stats reply failed", { err });
      }
    },
  });
}
