/**
 * The simulation's one event queue. Events run in (time, sequence) order: ties at the same
 * millisecond run in the order they were scheduled, so a run is a pure function of its seed.
 * Nothing here uses real timers or promises; time advances only by popping the next event.
 */
import { assert } from "@antler/base";

export interface ScheduledEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

/** A handle to cancel an event that has not run yet (e.g. a timeout whose answer came). */
export interface Timer {
  cancel(): void;
}

export class EventLoop {
  #nowMs = 0;
  #nextSeq = 0;
  #heap: ScheduledEvent[] = [];
  #executed = 0;

  get nowMs(): number {
    return this.#nowMs;
  }

  /** Events run so far (the "step" count of a run). */
  get executed(): number {
    return this.#executed;
  }

  get pending(): number {
    return this.#heap.length;
  }

  /** Runs `run` after `delayMs` of simulated time (0 = after everything already due now). */
  after(delayMs: number, label: string, run: () => void): Timer {
    assert(Number.isFinite(delayMs) && delayMs >= 0, `bad delay ${delayMs} for ${label}`);
    return this.at(this.#nowMs + delayMs, label, run);
  }

  at(atMs: number, label: string, run: () => void): Timer {
    assert(atMs >= this.#nowMs, `event ${label} scheduled in the past`);
    const event: ScheduledEvent = { atMs, seq: this.#nextSeq++, label, run, cancelled: false };
    this.#push(event);
    return {
      cancel: () => {
        event.cancelled = true;
      },
    };
  }

  /** Runs the next event; false when the queue is empty. */
  step(): boolean {
    while (this.#heap.length > 0) {
      const event = this.#pop();
      if (event.cancelled) continue;
      this.#nowMs = event.atMs;
      this.#executed++;
      event.run();
      return true;
    }
    return false;
  }

  /** Runs events until the queue is empty, `until()` holds, or time passes `deadlineMs`. */
  run(options: { readonly until?: () => boolean; readonly deadlineMs?: number; readonly maxEvents?: number } = {}): void {
    const deadline = options.deadlineMs ?? Infinity;
    const maxEvents = options.maxEvents ?? Infinity;
    let ran = 0;
    while (ran < maxEvents) {
      if (options.until?.()) return;
      const next = this.#peekLive();
      if (next === undefined || next.atMs > deadline) {
        if (Number.isFinite(deadline) && deadline > this.#nowMs) this.#nowMs = deadline;
        return;
      }
      this.step();
      ran++;
    }
  }

  #peekLive(): ScheduledEvent | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    return this.#heap[0];
  }

  #push(event: ScheduledEvent): void {
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): ScheduledEvent {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
