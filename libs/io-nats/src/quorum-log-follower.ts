/**
 * Following a quorum journal as it grows (a hot standby in quorum mode; the JetStream equivalent
 * is log-follower.ts, whose ordered consumer cannot span three servers). Only agreed records are
 * delivered (each read applies the journal's recovery rule), once and in order. A read is
 * triggered whenever any journal server stores a record of the log, and by a poll as a safety
 * net; while a majority is unreachable the follower keeps trying (a standby must outlive a NATS
 * server loss). Records truncated before this follower read them end the follow with
 * LogTruncatedError, because the follower's state could no longer match the log.
 */
import { assert } from "@antler/base";
import type { Logger } from "@antler/telemetry";
import type { LogFollower } from "./log-follower.ts";
import { LogUnavailableError, type LogRecord } from "./log-stream.ts";
import { LogTruncatedError, realJournalTimers, type JournalTimers, type QuorumLogStream } from "./quorum-log-stream.ts";

export interface QuorumFollowOptions {
  /** Read at least this often even without a store event. */
  readonly pollMs?: number;
  readonly logger?: Logger;
  /** Defaults to real timers; the simulation passes its fake clock's. */
  readonly timers?: JournalTimers;
}

const defaultPollMs = 200;

export function followQuorumLog(log: QuorumLogStream, fromSeq: number, onRecord: (record: LogRecord) => void, options: QuorumFollowOptions = {}): LogFollower {
  assert(Number.isInteger(fromSeq) && fromSeq >= 1, "log sequences start at 1");
  const pollMs = options.pollMs ?? defaultPollMs;
  const timers = options.timers ?? realJournalTimers;
  let next = fromSeq;
  let stopped = false;
  let pending = false;
  let wake: (() => void) | undefined;
  const nudge = (): void => {
    pending = true;
    wake?.();
  };
  const stopAppendEvents = log.onAppend(nudge);
  const done = (async () => {
    try {
      while (!stopped) {
        pending = false;
        try {
          await log.readAll(next, (record) => {
            if (stopped) return;
            onRecord(record);
            next = record.seq + 1;
          });
        } catch (err) {
          if (err instanceof LogTruncatedError || !(err instanceof LogUnavailableError)) throw err;
          options.logger?.warn("journal follow: log unreachable, retrying", { log: log.name, next, err });
        }
        if (stopped || pending) continue;
        await new Promise<void>((resolve) => {
          const timer = timers.setTimeout(resolve, pollMs);
          wake = () => {
            timers.clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      stopAppendEvents();
    }
  })();
  // The owner learns of a failure through `done`; a follow nobody awaits must not crash the process.
  done.catch(() => {});
  return {
    lastSeq: () => next - 1,
    done,
    async stop() {
      stopped = true;
      wake?.();
      await done.catch(() => {});
    },
  };
}
