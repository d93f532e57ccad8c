/**
 * A node's own clock (after TigerBeetle's TimeSim): it runs at a slightly wrong rate and starts at
 * an arbitrary offset, so two nodes never agree exactly on how long a lease has lasted. Node
 * logic must only ever compare readings of its own clock.
 */
import type { EventLoop, Timer } from "./loop.ts";

export class NodeClock {
  readonly #loop: EventLoop;
  #offsetMs: number;
  /** Forward steps only: the monotonic clock (performance.now) never goes back. */
  #monotonicOffsetMs: number;
  /** Local milliseconds per simulated millisecond, e.g. 1.02 runs 2% fast. */
  readonly #rate: number;

  constructor(loop: EventLoop, offsetMs: number, rate: number) {
    this.#loop = loop;
    this.#offsetMs = offsetMs;
    this.#monotonicOffsetMs = 0;
    this.#rate = rate;
  }

  /** The wall clock (what the state machine stamps). */
  nowMs(): number {
    return Math.floor(this.#offsetMs + this.#loop.nowMs * this.#rate);
  }

  /** The monotonic clock (what leases are timed with): same rate, but never stepped back. */
  monotonicMs(): number {
    return Math.floor(this.#monotonicOffsetMs + this.#loop.nowMs * this.#rate);
  }

  /**
   * The clock is stepped (NTP correction, VM migration): later wall readings move by `deltaMs`;
   * the monotonic clock only moves forward (a suspended VM's monotonic clock jumps ahead).
   */
  jump(deltaMs: number): void {
    this.#offsetMs += deltaMs;
    if (deltaMs > 0) this.#monotonicOffsetMs += deltaMs;
  }

  /** Runs `run` when this clock has advanced by `localMs`. */
  after(localMs: number, label: string, run: () => void): Timer {
    return this.#loop.after(Math.max(0, Math.round(localMs / this.#rate)), label, run);
  }
}
