/**
 * The leader's chunk housekeeping loop: every limits.chunkHousekeepingIntervalMs it reads the live
 * chunkservers from the registry, hands them to the machine (observeChunkservers), and runs one
 * rate-limited housekeepChunks pass whose entry and chunk work are carried like any other
 * (chunk-work.ts).
 *
 * One pass at a time: the next is scheduled when the previous one has handed off its work, so a
 * slow registry delays passes instead of stacking them. A pass whose registry read fails is
 * skipped (decisions about copies need to know which servers are live); the outage is logged once.
 * Nothing runs while the server is not serving, and stop() ends the loop for good.
 */
import type { Logger } from "@antler/telemetry";
import type { ChunkserverDirectory } from "./chunk-directory.ts";
import type { ChunkWorkRunner } from "./chunk-work.ts";
import type { ChunkStateMachine } from "./state-machine.ts";

export interface ChunkHousekeepingOptions<E> {
  readonly sm: ChunkStateMachine<E>;
  readonly runner: ChunkWorkRunner<E>;
  readonly directory: ChunkserverDirectory;
  readonly intervalMs: number;
  readonly serving: () => boolean;
  readonly nowMs: () => number;
  readonly logger: Logger;
}

export interface ChunkHousekeeping {
  /** Passes completed (observe + housekeep handed off), for tests and status. */
  readonly passes: number;
  stop(): void;
}

export function startChunkHousekeeping<E>(options: ChunkHousekeepingOptions<E>): ChunkHousekeeping {
  const { sm, runner, directory, intervalMs, serving, nowMs, logger } = options;
  let stopped = false;
  let failing = false;
  let passes = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void pass().finally(schedule), intervalMs);
  };

  const pass = async (): Promise<void> => {
    if (stopped || !serving()) return;
    let views;
    try {
      views = await directory.views();
    } catch (err) {
      if (!failing) logger.warn("chunkserver registry unreadable; chunk housekeeping paused", { err });
      failing = true;
      return;
    }
    if (failing) logger.info("chunkserver registry readable again; chunk housekeeping resumed");
    failing = false;
    // The read took a while: the server may have stopped meanwhile.
    if (stopped || !serving()) return;
    try {
      sm.observeChunkservers(views);
      runner.carry(sm.housekeepChunks(nowMs()), null);
      passes++;
    } catch (err) {
      logger.error("chunk housekeeping threw", { err });
    }
  };

  schedule();
  return {
    get passes() {
      return passes;
    },
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
