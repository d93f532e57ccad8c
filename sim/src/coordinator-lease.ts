/**
 * The coordinator lease as the simulation models it (the router's coordinator-lease.ts and
 * coordinator-service.ts): which coordinator nodes are subscribed to the coordinator subject now.
 * Shards forward to every subscriber — a NATS plain subscription, so while two routers are
 * subscribed both get the request and both coordinate it; the design says the transactions' safety
 * never rests on this lease (create-only decisions, participants' locks, the durable move lock),
 * and this is where the simulation holds it to that.
 *
 * Timing as the router's (limits.coordinatorLease*): a holder that crashed, or stalls longer than
 * takeoverMs, is replaced by a live router after takeoverMs; a stalled holder stays subscribed
 * until it wakes and misses its next renewal (renewMs later), coordinating what reached it
 * meanwhile; a holder that stops releases the key, and another router claims it at its next
 * renewal while the old one finishes what it had started.
 */
import { limits } from "@antler/base";
import type { CoordinatorNode } from "./coordinator-node.ts";
import type { History } from "./history.ts";
import type { EventLoop } from "./loop.ts";
import type { Prng } from "./prng.ts";

export class SimCoordinatorLease {
  readonly #loop: EventLoop;
  readonly #prng: Prng;
  readonly #history: History;
  readonly #nodes: readonly CoordinatorNode[];
  #holder: CoordinatorNode | null;
  readonly #subscribed = new Set<string>();
  #claimPending = false;
  /** Times two routers were subscribed at once (a stalled holder and its successor). */
  overlaps = 0;

  constructor(loop: EventLoop, prng: Prng, history: History, nodes: readonly CoordinatorNode[]) {
    this.#loop = loop;
    this.#prng = prng;
    this.#history = history;
    this.#nodes = nodes;
    this.#holder = nodes[0]!;
    this.#subscribed.add(nodes[0]!.id);
  }

  /** Where a shard's forwarded request goes. */
  subscribers(): readonly string[] {
    return [...this.#subscribed];
  }

  describe(): string {
    return `coordinator lease: ${this.#holder?.id ?? "free"}, subscribed ${[...this.#subscribed].join(", ") || "none"}`;
  }

  /** A node died: its subscription dies with its connection; another router claims its lease later. */
  crashed(node: CoordinatorNode): void {
    this.#subscribed.delete(node.id);
    if (this.#holder !== node) return;
    this.#holder = null;
    this.#claimAfter(limits.coordinatorLeaseTakeoverMs);
  }

  /** A node restarted: like any router, it claims a lease nobody holds after takeoverMs. */
  restarted(): void {
    if (this.#holder === null) this.#claimAfter(limits.coordinatorLeaseTakeoverMs);
  }

  /** A node stalls for `lengthMs` (GC, SIGSTOP, an overloaded machine). */
  paused(node: CoordinatorNode, lengthMs: number): void {
    if (this.#holder !== node || lengthMs <= limits.coordinatorLeaseTakeoverMs) return;
    this.#loop.after(limits.coordinatorLeaseTakeoverMs, "coordinator lease takeover", () => {
      if (this.#holder !== node) return;
      const successor = this.#claimant(node);
      if (successor === undefined) return;
      this.#holder = successor;
      this.#subscribed.add(successor.id);
      this.overlaps++;
      this.#history.note(`${successor.id} takes the coordinator lease over from stalled ${node.id} (both subscribed until it wakes)`);
    });
    this.#loop.after(lengthMs + limits.coordinatorLeaseRenewMs, "stalled coordinator notices", () => {
      if (this.#holder === node || !this.#subscribed.has(node.id)) return;
      this.#subscribed.delete(node.id);
      this.#history.note(`${node.id} woke up without the coordinator lease and unsubscribes`);
    });
  }

  /** The holder stops (router shutdown or restart) and releases the key; what it started, it finishes. */
  handover(): void {
    const holder = this.#holder;
    if (holder === null) return;
    const successor = this.#claimant(holder);
    if (successor === undefined) return;
    this.#subscribed.delete(holder.id);
    this.#holder = null;
    this.#history.note(`${holder.id} releases the coordinator lease`);
    this.#loop.after(this.#prng.int(1, limits.coordinatorLeaseRenewMs), "coordinator lease claim", () => {
      if (this.#holder !== null || !successor.alive) {
        this.restarted();
        return;
      }
      this.#holder = successor;
      this.#subscribed.add(successor.id);
      this.#history.note(`${successor.id} claims the released coordinator lease`);
    });
  }

  /** After the faults stop: some live router holds the lease (claimed the normal way). */
  settle(): void {
    if (this.#holder === null || !this.#holder.alive) this.#claimAfter(limits.coordinatorLeaseTakeoverMs);
  }

  #claimant(except: CoordinatorNode): CoordinatorNode | undefined {
    const live = this.#nodes.filter((n) => n !== except && n.alive && !n.stalled);
    return live.length === 0 ? undefined : this.#prng.pick(live);
  }

  #claimAfter(ms: number): void {
    if (this.#claimPending) return;
    this.#claimPending = true;
    this.#loop.after(ms, "coordinator lease claim", () => {
      this.#claimPending = false;
      if (this.#holder !== null && this.#holder.alive) return;
      const live = this.#nodes.filter((n) => n.alive && !n.stalled);
      if (live.length === 0) {
        this.#claimAfter(limits.coordinatorLeaseRenewMs);
        return;
      }
      const claimant = this.#prng.pick(live);
      this.#holder = claimant;
      this.#subscribed.add(claimant.id);
      this.#history.note(`${claimant.id} claims the coordinator lease`);
    });
  }
}
