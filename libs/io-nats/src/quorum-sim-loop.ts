/**
 * Simulated time for the quorum-journal simulation (quorum-sim.ts): one queue of events run in
 * (time, scheduling order). The journal code under test is ordinary async code; after each event
 * the loop lets every promise reaction it caused run (one macrotask turn drains the microtask
 * queue) before the next event, so the interleaving — and the whole run — is a function of the
 * seed alone. No real timer is involved; simulated time jumps from event to event.
 *
 * A SimProcess is one program using the journal (a writer, a reader): its timers, sleeps and
 * answers stop for good when it crashes, as a killed process's would.
 */
import type { JournalTimers } from "./quorum-log-stream.ts";

interface QueuedEvent {
  readonly atMs: number;
  readonly order: number;
  readonly run: () => void;
  cancelled: boolean;
}

export interface SimTimer {
  cancel(): void;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SimLoop {
  #nowMs = 0;
  #order = 0;
  #heap: QueuedEvent[] = [];
  #executed = 0;

  get nowMs(): number {
    return this.#nowMs;
  }

  get executed(): number {
    return this.#executed;
  }

  after(delayMs: number, run: () => void): SimTimer {
    const event: QueuedEvent = { atMs: this.#nowMs + Math.max(0, delayMs), order: this.#order++, run, cancelled: false };
    this.#push(event);
    return { cancel: () => void (event.cancelled = true) };
  }

  /**
   * Runs events until `until()` holds after one, or simulated time would pass `deadlineMs` (the
   * clock then stands at the deadline). Returns whether `until()` held.
   */
  async run(deadlineMs: number, until: () => boolean = () => false): Promise<boolean> {
    await turn();
    for (;;) {
      if (until()) return true;
      const next = this.#heap[0];
      if (next === undefined || next.atMs > deadlineMs) {
        this.#nowMs = Math.max(this.#nowMs, deadlineMs);
        return until();
      }
      this.#pop();
      if (next.cancelled) continue;
      this.#nowMs = next.atMs;
      this.#executed++;
      next.run();
      await turn();
    }
  }

  #push(event: QueuedEvent): void {
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && earlier(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && earlier(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}

function earlier(a: QueuedEvent, b: QueuedEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}

/** One simulated program: everything it schedules dies with it. */
export class SimProcess {
  readonly name: string;
  readonly loop: SimLoop;
  #dead = false;
  readonly timers: JournalTimers;

  constructor(name: string, loop: SimLoop) {
    this.name = name;
    this.loop = loop;
    const once = (run: () => void, ms: number): SimTimer => loop.after(ms, () => {
      if (!this.#dead) run();
    });
    const every = (run: () => void, ms: number): SimTimer => {
      let current: SimTimer | undefined;
      let stopped = false;
      const tick = (): void => {
        if (stopped || this.#dead) return;
        current = loop.after(ms, tick);
        run();
      };
      current = loop.after(ms, tick);
      return { cancel: () => { stopped = true; current?.cancel(); } };
    };
    this.timers = {
      setTimeout: once,
      clearTimeout: (handle) => (handle as SimTimer | undefined)?.cancel(),
      setInterval: every,
      clearInterval: (handle) => (handle as SimTimer | undefined)?.cancel(),
    };
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Kill -9: nothing of this process runs again; requests it already sent still arrive. */
  crash(): void {
    this.#dead = true;
  }

  /** Resolves after `ms` of simulated time; never, if the process dies first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.setTimeout(resolve, ms));
  }
}
