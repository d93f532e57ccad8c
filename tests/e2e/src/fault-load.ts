// The client of the fault test: creates files back to back through a mount, one at a time, and
// records when each create was acknowledged (its open(O_CREAT|O_EXCL) returned) and each one that
// failed. The gaps between consecutive acknowledgements are what a user sees as stalls.

import { open } from "node:fs/promises";
import { join } from "node:path";
import { formatError } from "./transcript.ts";

export interface CreateFailure {
  readonly name: string;
  /** performance.now() when the failure was returned. */
  readonly atMs: number;
  readonly error: string;
}

export interface CreateLoop {
  /** Names acknowledged so far, in order. */
  readonly acknowledged: readonly string[];
  /** performance.now() of each acknowledgement, parallel to `acknowledged`. */
  readonly acknowledgedAtMs: readonly number[];
  readonly failures: readonly CreateFailure[];
  /** performance.now() when the create in flight was issued (undefined between creates). */
  inFlightSinceMs(): number | undefined;
  /**
   * Stops after the create in flight. Resolves false when that create has not returned within
   * `timeoutMs` (a hung mount); the loop then stops by itself whenever it returns.
   */
  stop(timeoutMs: number): Promise<boolean>;
}

/** Creates `<dir>/<prefix>-<n>` for n = 0, 1, 2, ... until stopped. */
export function startCreateLoop(dir: string, prefix: string): CreateLoop {
  const acknowledged: string[] = [];
  const acknowledgedAtMs: number[] = [];
  const failures: CreateFailure[] = [];
  let stopping = false;
  let inFlightSince: number | undefined;
  const loop = (async (): Promise<void> => {
    for (let index = 0; !stopping; index++) {
      const name = `${prefix}-${index}`;
      inFlightSince = performance.now();
      try {
        const handle = await open(join(dir, name), "wx");
        // Acknowledged the moment open() returned: the close is the client's business.
        acknowledged.push(name);
        acknowledgedAtMs.push(performance.now());
        await handle.close().catch(() => {});
      } catch (error) {
        failures.push({ name, atMs: performance.now(), error: formatError(error) });
        // A failing mount must not become a busy loop.
        await new Promise((resolve) => setTimeout(resolve, 10));
      } finally {
        inFlightSince = undefined;
      }
    }
  })();
  return {
    acknowledged,
    acknowledgedAtMs,
    failures,
    inFlightSinceMs: () => inFlightSince,
    stop: async (timeoutMs) => {
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const done = await Promise.race([loop.then(() => true as const), timedOut]);
      clearTimeout(timer);
      return done;
    },
  };
}
