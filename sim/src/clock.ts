/**
 * A node's own clock (after TigerBeetle's TimeSim): it runs at a slightly wrong rate and starts at
 * an arbitrary offset, so two nodes never agree exactly on how long a lease has lasted. Node
 * logic must only ever compare readings of its own clock.
 */
import type { EventLoop, Timer } from "./loop.ts";

export class NodeClock {
  readonly #loop: EventLoop;
  #offsetMs: number;
  /** Local milliseconds per simulated millisecond, e.g. 1.02 runs 2% fast. */
  readonly #rate: number;

  constructor(loop: EventLoop, offsetMs: number, rate: number) {
    this.#loop = loop;
    this.#offsetMs = offsetMs;
    this.#rate = rate;
  }

  nowMs(): number {
    return Math.floor(this.#offsetMs + this.#loop.nowMs * this.#rate);
  }

  /** The clock is stepped (NTP correction, VM migration): later readings move by `deltaMs`. */
  jump(deltaMs: number): void {
    this.#offsetMs += deltaMs;
  }

  /** Runs `run` when this clock has advanced by `localMs`. */
  after(localMs: number, label: string, run: () => void): Timer {
    return this.#loop.after(Math.max(0, Math.round(localMs / this.#rate)), label, run);
  }
}
