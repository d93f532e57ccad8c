/**
 * The simulated network between nodes (after TigerBeetle's PacketSimulator). Two kinds of links:
 *
 * - `Network`: datagram-like messages between named nodes, as NATS core request/reply is: each
 *   message is delayed by a seeded amount (so messages reorder), may be lost or duplicated, and
 *   never crosses a partition or reaches a node that is down.
 * - `BytePipe`: one direction of a TCP connection: ordered and lossless while open, but the bytes
 *   arrive in randomly split chunks, so decoders see every possible packet boundary.
 */
import { assert } from "@antler/base";
import type { EventLoop } from "./loop.ts";
import type { Prng } from "./prng.ts";

export interface NetworkFaults {
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
}

export const reliableNetwork: NetworkFaults = { delayMinMs: 1, delayMaxMs: 2, lossProbability: 0, duplicateProbability: 0 };

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  blocked: number;
}

export class Network<M> {
  readonly #loop: EventLoop;
  readonly #prng: Prng;
  #faults: NetworkFaults;
  readonly #handlers = new Map<string, (from: string, message: M) => void>();
  readonly #down = new Set<string>();
  /** Directed links that are cut: "from->to". */
  readonly #cut = new Set<string>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, blocked: 0 };

  constructor(loop: EventLoop, prng: Prng, faults: NetworkFaults = reliableNetwork) {
    this.#loop = loop;
    this.#prng = prng;
    this.#faults = faults;
  }

  setFaults(faults: NetworkFaults): void {
    this.#faults = faults;
  }

  register(node: string, deliver: (from: string, message: M) => void): void {
    assert(!this.#handlers.has(node), `node ${node} registered twice`);
    this.#handlers.set(node, deliver);
  }

  /** A down node neither sends nor receives; messages to it in flight are dropped on arrival. */
  setDown(node: string, down: boolean): void {
    if (down) this.#down.add(node);
    else this.#down.delete(node);
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.#cut.add(`${x}->${y}`);
        this.#cut.add(`${y}->${x}`);
      }
    }
  }

  heal(): void {
    this.#cut.clear();
  }

  connected(from: string, to: string): boolean {
    return !this.#cut.has(`${from}->${to}`) && !this.#down.has(from) && !this.#down.has(to);
  }

  send(from: string, to: string, message: M): void {
    assert(this.#handlers.has(to), `unknown node ${to}`);
    this.stats.sent++;
    if (this.#down.has(from)) return;
    if (this.#prng.chance(this.#faults.lossProbability)) {
      this.stats.lost++;
      return;
    }
    const copies = this.#prng.chance(this.#faults.duplicateProbability) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = this.#prng.int(this.#faults.delayMinMs, this.#faults.delayMaxMs);
      this.#loop.after(delay, `net ${from}->${to}`, () => {
        // Checked on arrival: a partition or crash that starts while the message is in flight
        // catches it, as on a real network.
        if (!this.connected(from, to)) {
          this.stats.blocked++;
          return;
        }
        this.stats.delivered++;
        this.#handlers.get(to)!(from, message);
      });
    }
  }
}

/** One direction of a TCP connection: ordered, lossless while open, split at random points. */
export class BytePipe {
  readonly #loop: EventLoop;
  readonly #prng: Prng;
  readonly #deliver: (bytes: Uint8Array) => void;
  readonly #label: string;
  readonly #delayMinMs: number;
  readonly #delayMaxMs: number;
  #lastArrivalMs = 0;
  #open = true;

  constructor(
    loop: EventLoop,
    prng: Prng,
    label: string,
    deliver: (bytes: Uint8Array) => void,
    delay: { readonly minMs: number; readonly maxMs: number } = { minMs: 0, maxMs: 2 },
  ) {
    this.#loop = loop;
    this.#prng = prng;
    this.#label = label;
    this.#deliver = deliver;
    this.#delayMinMs = delay.minMs;
    this.#delayMaxMs = delay.maxMs;
  }

  get open(): boolean {
    return this.#open;
  }

  write(bytes: Uint8Array): void {
    if (!this.#open || bytes.length === 0) return;
    let offset = 0;
    while (offset < bytes.length) {
      // Mostly whole writes, sometimes a split at a random point (TCP segments, short reads).
      const rest = bytes.length - offset;
      const size = this.#prng.chance(0.7) ? rest : this.#prng.int(1, rest);
      const chunk = bytes.slice(offset, offset + size);
      offset += size;
      const arrival = Math.max(this.#lastArrivalMs, this.#loop.nowMs + this.#prng.int(this.#delayMinMs, this.#delayMaxMs));
      this.#lastArrivalMs = arrival;
      this.#loop.at(arrival, this.#label, () => {
        if (this.#open) this.#deliver(chunk);
      });
    }
  }

  /** Closes the pipe: bytes still in flight are lost (a reset, not a graceful close). */
  close(): void {
    this.#open = false;
  }
}
