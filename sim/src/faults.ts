/**
 * The random faults of a run's safety phase, drawn from their own stream so that they do not
 * shift the workload. They hit the current leader more often than the others (that is where they
 * hurt): crashes and restarts, partitions (from everything; from JetStream while clients still
 * reach the replica; from the lease KV only, or from the log only), stop-the-world pauses, clock
 * steps, JetStream outages, gateway crashes.
 */
import type { FakeJetStream } from "./jetstream.ts";
import type { History } from "./history.ts";
import type { EventLoop } from "./loop.ts";
import type { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { SimGateway } from "./gateway.ts";
import type { MetaMessage, ShardNode } from "./shard-node.ts";
import type { SimCoordinatorLease } from "./coordinator-lease.ts";
import type { CoordinatorNode } from "./coordinator-node.ts";

export interface FaultCounts {
  crashes: number;
  partitions: number;
  pauses: number;
  outages: number;
}

export interface FaultTargets {
  readonly loop: EventLoop;
  readonly prng: Prng;
  readonly replicas: readonly ShardNode[];
  readonly gateways: readonly SimGateway[];
  /** Every other node a partitioned replica is cut from. */
  readonly clientIds: readonly string[];
  readonly network: Network<MetaMessage>;
  readonly js: FakeJetStream;
  readonly history: History;
  /**
   * Sharded clusters: the routers that can coordinate crash, stall and hand the coordinator lease
   * over too (at random points of their 2PC), with the lease they share.
   */
  readonly coordinators?: { readonly nodes: readonly CoordinatorNode[]; readonly lease: SimCoordinatorLease };
}

export class FaultInjector {
  readonly counts: FaultCounts = { crashes: 0, partitions: 0, pauses: 0, outages: 0 };
  readonly #t: FaultTargets;
  readonly #meanIntervalMs: number;
  readonly #clockJumpMaxMs: number;
  /** Replicas partitioned now, and from whom (healing one partition must keep the others). */
  readonly #cut = new Map<string, readonly string[]>();
  #active = false;

  /** Clock steps go up to `clockJumpMaxMs` forward (and up to 3 s back). */
  constructor(targets: FaultTargets, meanIntervalMs: number, clockJumpMaxMs: number) {
    this.#t = targets;
    this.#meanIntervalMs = meanIntervalMs;
    this.#clockJumpMaxMs = clockJumpMaxMs;
  }

  start(): void {
    this.#active = true;
    this.#schedule();
  }

  /** No new faults; partitions are healed (faults already under way finish on their own). */
  stop(): void {
    this.#active = false;
    this.#cut.clear();
    this.#t.network.heal();
  }

  #schedule(): void {
    if (!Number.isFinite(this.#meanIntervalMs)) return;
    const { loop, prng } = this.#t;
    loop.after(prng.exponentialMs(this.#meanIntervalMs) + 1, "fault", () => {
      if (!this.#active) return;
      this.#inject();
      this.#schedule();
    });
  }

  #inject(): void {
    const { loop, prng, replicas, gateways, network, js, history } = this.#t;
    const kind = prng.weighted({
      crash: 3,
      partition: 2,
      "nats-cut": 2,
      "kv-cut": 1.5,
      "log-cut": 1,
      pause: 4,
      outage: 0.5,
      "clock-jump": 1,
      "gateway-crash": gateways.length > 0 ? 1 : 0,
      "coordinator-crash": this.#t.coordinators !== undefined ? 2 : 0,
      "coordinator-pause": this.#t.coordinators !== undefined ? 2 : 0,
      "coordinator-handover": (this.#t.coordinators?.nodes.length ?? 0) > 1 ? 1 : 0,
    });
    // Of several shards' leaders (a sharded cluster has a coordinator), any one.
    const leaders = replicas.filter((r) => r.alive && r.driver?.role === "leader");
    const leader = this.#t.coordinators === undefined || leaders.length <= 1 ? leaders[0] : prng.pick(leaders);
    const replica = leader !== undefined && prng.chance(0.6) ? leader : prng.pick(replicas);
    switch (kind) {
      case "crash":
        if (!replica.alive) return;
        this.counts.crashes++;
        history.note(`fault: ${replica.id} crashes`);
        replica.crash();
        loop.after(prng.int(50, 3_000), "restart", () => {
          if (replica.alive) return;
          history.note(`${replica.id} restarts`);
          replica.start();
        });
        return;
      case "partition":
      case "nats-cut":
      case "kv-cut":
      case "log-cut": {
        // "nats-cut": its NATS server lost the route to the stream and KV leaders; "kv-cut" and
        // "log-cut": only to one of them (the lease cannot be renewed while the log still takes
        // appends, or the other way round).
        if (this.#cut.has(replica.id)) return;
        this.counts.partitions++;
        const everyone = ["nats", ...replicas.map((r) => r.id).filter((id) => id !== replica.id), ...this.#t.clientIds, ...gateways.map((g) => g.id), ...(this.#t.coordinators?.nodes.map((c) => c.id) ?? [])];
        const cuts = {
          partition: { peers: everyone, what: "partitioned" },
          "nats-cut": { peers: ["nats"], what: "cut from JetStream" },
          "kv-cut": { peers: ["nats-kv"], what: "cut from the lease KV" },
          "log-cut": { peers: ["nats-log"], what: "cut from the log stream" },
        } as const;
        const { peers, what } = cuts[kind];
        history.note(`fault: ${replica.id} ${what}`);
        this.#cut.set(replica.id, peers);
        network.partition([replica.id], peers);
        loop.after(prng.int(100, 3_000), "heal", () => {
          if (!this.#cut.delete(replica.id)) return;
          network.heal();
          for (const [other, otherPeers] of this.#cut) network.partition([other], otherPeers);
          history.note(`${replica.id} partition healed`);
        });
        return;
      }
      case "pause": {
        this.counts.pauses++;
        const lengthMs = prng.int(200, 4_000);
        history.note(`fault: ${replica.id} pauses for ${lengthMs}ms`);
        replica.pause(lengthMs);
        return;
      }
      case "clock-jump": {
        const deltaMs = prng.int(-3_000, this.#clockJumpMaxMs);
        history.note(`fault: ${replica.id}'s clock jumps by ${deltaMs}ms`);
        replica.jumpClock(deltaMs);
        return;
      }
      case "outage": {
        this.counts.outages++;
        const lengthMs = prng.int(500, 4_000);
        history.note(`fault: JetStream unavailable for ${lengthMs}ms`);
        js.outage(loop.nowMs + lengthMs);
        return;
      }
      case "coordinator-crash": {
        const { nodes, lease } = this.#t.coordinators!;
        const coordinator = prng.pick(nodes);
        if (!coordinator.alive) return;
        this.counts.crashes++;
        history.note(`fault: ${coordinator.id} crashes (${coordinator.running} requests in flight)`);
        coordinator.crash();
        lease.crashed(coordinator);
        loop.after(prng.int(50, 3_000), "coordinator restart", () => {
          if (coordinator.alive) return;
          history.note(`${coordinator.id} restarts`);
          coordinator.start();
          lease.restarted();
        });
        return;
      }
      case "coordinator-pause": {
        const { nodes, lease } = this.#t.coordinators!;
        const coordinator = prng.pick(nodes);
        if (!coordinator.alive) return;
        this.counts.pauses++;
        const lengthMs = prng.int(200, 4_000);
        history.note(`fault: ${coordinator.id} pauses for ${lengthMs}ms`);
        coordinator.pause(lengthMs);
        lease.paused(coordinator, lengthMs);
        return;
      }
      case "coordinator-handover":
        this.#t.coordinators!.lease.handover();
        return;
      case "gateway-crash": {
        const gateway = prng.pick(gateways);
        if (!gateway.alive) return;
        this.counts.crashes++;
        history.note(`fault: ${gateway.id} crashes`);
        gateway.crash();
        loop.after(prng.int(50, 2_000), "gateway restart", () => {
          history.note(`${gateway.id} restarts`);
          gateway.restart();
        });
        return;
      }
    }
  }
}
