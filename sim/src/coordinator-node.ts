/**
 * The simulated coordinator: a router holding the coordinator lease, running the real
 * `Coordinator` of @antler/router-core over ports built on the simulated network and the fake
 * JetStream's decision bucket. Shards forward requests to it (`coord-request`); it answers the
 * original requester (the gateway's inbox) directly, as the real one does.
 *
 * Port promises are settled from event-loop callbacks; their continuations run as microtasks, so
 * the sharded runner drains microtasks after every event that settled one (`activity`). A crash
 * drops the Coordinator with everything it was doing: promises of a dead incarnation never settle
 * (the process is gone), and the next incarnation starts from nothing but the decision bucket.
 */
import { limits } from "@antler/base";
import { decodeMessage, encodeMessage, routeOf, Status, txDecisionKey, type Command, type Ctx, type Result } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import {
  Coordinator,
  decodeDecision,
  decodeMoveLock,
  encodeDecision,
  encodeMoveLock,
  moveLockKey,
  ShardUnavailableError,
  type CoordinatorEvent,
  type CoordinatorPorts,
} from "@antler/router-core";
import type { NodeClock } from "./clock.ts";
import type { FakeJetStream } from "./jetstream.ts";
import type { EventLoop } from "./loop.ts";
import type { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { MetaMessage } from "./shard-node.ts";

/** What the checkers learn from the coordinator. */
export interface CoordinatorObserver {
  /** The coordinator answered a forwarded request. */
  coordinated(execId: string, cmd: Command, ctx: Ctx, result: Result): void;
  /** A shard forwarded a client request (the checkers map transactions to client commands). */
  forwarded(cmd: Command, ctx: Ctx): void;
  note(text: string): void;
}

/** Deliberately broken coordinators (variants.ts). */
export interface CoordinatorFaults {
  /**
   * The decision is not made durable: decide() answers success and writes nothing, so txcommit
   * goes out with no record behind it. A coordinator that dies between two commits leaves a
   * participant whose resolver finds no decision, writes "abort", and drops its half.
   */
  readonly commitWithoutDecision?: boolean;
}

export interface CoordinatorNodeOptions {
  readonly id: string;
  readonly loop: EventLoop;
  readonly network: Network<MetaMessage>;
  readonly js: FakeJetStream;
  readonly clock: NodeClock;
  readonly prng: Prng;
  readonly decisionBucket: string;
  readonly shardOfSlot: (slot: number) => number;
  readonly slotOfShard: (shard: number) => number;
  readonly replicasOfShard: (shard: number) => readonly string[];
  readonly directorySlot: (parent: number, name: string) => number;
  readonly observer: CoordinatorObserver;
  readonly faults?: CoordinatorFaults;
  /** One attempt of a shard call waits this long before it is sent again... */
  readonly callAttemptTimeoutMs: number;
  /** ...until this much time has passed in all (then ShardUnavailableError). */
  readonly callPatienceMs: number;
  /** KV requests (decision bucket) wait this long. */
  readonly kvTimeoutMs: number;
}

interface PendingCall {
  readonly settle: (result: Result) => void;
}

export class CoordinatorNode {
  readonly id: string;
  readonly #o: CoordinatorNodeOptions;
  #alive = false;
  #incarnation = 0;
  #coordinator: Coordinator | null = null;
  #pausedUntilMs = 0;
  readonly #calls = new Map<number, PendingCall>();
  #nextToken = 1;
  #execCounter = 0;
  /** Set when a port promise settled: the runner drains microtasks before the next event. */
  activity = false;

  constructor(options: CoordinatorNodeOptions) {
    this.id = options.id;
    this.#o = options;
    options.network.register(options.id, (_from, message) => this.#whenAwake(() => this.#receive(message)));
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Changes with every start and crash (a dead process's buffered requests are never sent). */
  get incarnation(): number {
    return this.#incarnation;
  }

  /** Paused now (a stalled process cannot claim a lease). */
  get stalled(): boolean {
    return this.#alive && this.#o.loop.nowMs < this.#pausedUntilMs;
  }

  /** Requests being coordinated now. */
  get running(): number {
    return this.#coordinator?.running ?? 0;
  }

  describe(): string {
    return `${this.id}: ${this.#alive ? `up (incarnation ${this.#incarnation}, ${this.running} running, ${this.#calls.size} shard calls out)` : "down"}`;
  }

  start(): void {
    if (this.#alive) return;
    this.#alive = true;
    this.#incarnation++;
    this.#o.network.setDown(this.id, false);
    this.#coordinator = new Coordinator(this.#ports(this.#incarnation));
  }

  crash(): void {
    this.#alive = false;
    this.#incarnation++;
    this.#coordinator = null;
    this.#calls.clear();
    this.#pausedUntilMs = 0;
    this.#o.network.setDown(this.id, true);
  }

  pause(durationMs: number): void {
    this.#pausedUntilMs = Math.max(this.#pausedUntilMs, this.#o.loop.nowMs + durationMs);
  }

  #whenAwake(run: () => void): void {
    if (this.#o.loop.nowMs < this.#pausedUntilMs) {
      this.#o.loop.at(this.#pausedUntilMs, `${this.id} wakes up`, () => this.#whenAwake(run));
      return;
    }
    run();
  }

  #receive(message: MetaMessage): void {
    if (!this.#alive) return;
    if (message.kind === "meta-reply") {
      const call = this.#calls.get(message.token);
      if (call === undefined) return;
      this.#calls.delete(message.token);
      call.settle(decodeMessage(encodeMessage(message.result)) as Result);
      return;
    }
    if (message.kind !== "coord-request") return;
    const coordinator = this.#coordinator!;
    const incarnation = this.#incarnation;
    const request = decodeMessage(encodeMessage({ cmd: message.cmd, ctx: message.ctx })) as { cmd: Command; ctx: Ctx };
    this.#o.observer.forwarded(request.cmd, request.ctx);
    this.activity = true;
    void coordinator.coordinate(request).then((result) => {
      this.activity = true;
      this.#whenAwake(() => {
        if (this.#incarnation !== incarnation || !this.#alive) return;
        const execId = `${this.id}.${incarnation}.${this.#execCounter++}`;
        this.#o.observer.coordinated(execId, request.cmd, request.ctx, result);
        this.#o.network.send(this.id, message.replyTo, { kind: "meta-reply", token: message.token, result, execId });
      });
    });
  }

  /** A promise settled by an event-loop callback of this incarnation (never, once it died). */
  #settleLater<T>(incarnation: number, start: (resolve: (value: T) => void, reject: (error: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const live = (): boolean => this.#incarnation === incarnation && this.#alive;
      start(
        (value) => {
          this.#whenAwake(() => {
            if (!live()) return;
            this.activity = true;
            resolve(value);
          });
        },
        (error) => {
          this.#whenAwake(() => {
            if (!live()) return;
            this.activity = true;
            reject(error);
          });
        },
      );
    });
  }

  #ports(incarnation: number): CoordinatorPorts {
    const o = this.#o;
    const kv = <T>(label: string, send: (done: (answer: T | { readonly kind: "timeout" }) => void) => void): Promise<T> =>
      this.#settleLater<T>(incarnation, (resolve, reject) => {
        send((answer) => {
          if ((answer as { kind: string }).kind === "timeout") reject(new Error(`${label}: no answer from the decision bucket`));
          else resolve(answer as T);
        });
      });
    const ports: CoordinatorPorts = {
      call: (cmd, ctx) => this.#call(incarnation, cmd, ctx),
      decide: async (decision) => {
        const key = txDecisionKey(decision.txid);
        if (o.faults?.commitWithoutDecision && decision.decision === "commit") return decision;
        const created = await kv<{ readonly kind: "ok" | "wrong-last-sequence" }>("decide", (done) =>
          o.js.kvCreate(this.id, o.decisionBucket, key, encodeDecision(decision), o.kvTimeoutMs, done),
        );
        o.observer.note(`${this.id} decides ${decision.decision} for ${decision.txid}: ${created.kind === "ok" ? "stored" : "someone was first"}`);
        if (created.kind === "ok") return decision;
        const stored = await ports.readDecision(decision.txid);
        // Deleted between our create and our read: only after every participant acknowledged an
        // earlier outcome, which cannot be ours (we had not decided). Try again.
        if (stored === null) throw new Error(`decision of ${decision.txid} vanished after a create conflict`);
        return stored;
      },
      readDecision: async (txid) => {
        const answer = await kv<{ readonly kind: "ok"; readonly entry: { readonly value: Uint8Array } | null }>("read decision", (done) =>
          o.js.kvGet(this.id, o.decisionBucket, txDecisionKey(txid), o.kvTimeoutMs, done),
        );
        return answer.entry === null ? null : decodeDecision(answer.entry.value);
      },
      // As the router's port (coordinator-decisions.ts): the key is deleted limits.txDecisionRetainMs
      // later, so a client's retry still finds the decision; the pending deletion dies with the process.
      forgetDecision: (txid) => {
        o.loop.after(limits.txDecisionRetainMs, `${this.id} forget ${txid}`, () => {
          if (this.#incarnation !== incarnation || !this.#alive) return;
          o.js.kvDelete(this.id, o.decisionBucket, txDecisionKey(txid), o.kvTimeoutMs, () => {});
        });
        return Promise.resolve();
      },
      readMoveLock: async () => {
        const answer = await kv<{ readonly kind: "ok"; readonly entry: { readonly value: Uint8Array; readonly revision: number } | null }>("read move lock", (done) =>
          o.js.kvGet(this.id, o.decisionBucket, moveLockKey, o.kvTimeoutMs, done),
        );
        return answer.entry === null ? null : { holder: decodeMoveLock(answer.entry.value), revision: answer.entry.revision };
      },
      writeMoveLock: async (holder, revision) => {
        const value = encodeMoveLock(holder);
        const written = await kv<{ readonly kind: "ok"; readonly revision: number } | { readonly kind: "wrong-last-sequence" }>("write move lock", (done) =>
          revision === 0
            ? o.js.kvCreate(this.id, o.decisionBucket, moveLockKey, value, o.kvTimeoutMs, done)
            : o.js.kvUpdate(this.id, o.decisionBucket, moveLockKey, value, revision, o.kvTimeoutMs, done),
        );
        o.observer.note(`${this.id} move lock ${holder ?? "free"} at revision ${revision}: ${written.kind === "ok" ? `revision ${written.revision}` : "someone was first"}`);
        return written.kind === "ok" ? written.revision : null;
      },
      shardOfSlot: (slot) => o.shardOfSlot(slot),
      slotOfShard: (shard) => o.slotOfShard(shard),
      slotOfNewDirectory: (parent, name) => o.directorySlot(parent, name),
      sleep: (ms) => {
        return this.#settleLater<void>(incarnation, (resolve) => {
          o.loop.after(Math.max(0, Math.ceil(ms)), `${this.id} sleep`, () => resolve());
        });
      },
      random: () => o.prng.float(),
      nowMs: () => o.clock.monotonicMs(),
      event: (event: CoordinatorEvent) => {
        if (event.kind !== "coordinated") o.observer.note(`${this.id}: ${JSON.stringify(event)}`);
      },
    };
    return ports;
  }

  /**
   * A request to the shard owning the command's slot, as the router's port does: sent to every
   * replica of that shard (the leader answers), re-sent when an attempt goes unanswered, given up
   * with ShardUnavailableError after callPatienceMs.
   */
  #call(incarnation: number, cmd: Command, ctx: Ctx): Promise<Result> {
    const o = this.#o;
    const route = routeOf(cmd);
    const slot = route === "all" ? 0 : "slot" in route ? route.slot : slotOfInode(route.inode);
    const shard = o.shardOfSlot(slot);
    const wire = decodeMessage(encodeMessage({ cmd, ctx })) as { cmd: Command; ctx: Ctx };
    const deadline = o.loop.nowMs + o.callPatienceMs;
    return this.#settleLater<Result>(incarnation, (resolve, reject) => {
      const attempt = (): void => {
        if (this.#incarnation !== incarnation || !this.#alive) return;
        const token = this.#nextToken++;
        let answered = false;
        this.#calls.set(token, {
          settle: (result) => {
            if (cmd.kind.startsWith("tx")) o.observer.note(`${this.id} <- shard ${shard}: ${cmd.kind} ${ctx.requestId ?? ""} status ${result.status}`);
            answered = true;
            if (result.status === Status.MOVED) {
              o.observer.note(`${this.id}: MOVED from shard ${shard} for ${cmd.kind} (the simulation's map never changes)`);
            }
            resolve(result);
          },
        });
        if (cmd.kind.startsWith("tx") && cmd.kind !== "txinspect") o.observer.note(`${this.id} -> shard ${shard}: ${cmd.kind} ${ctx.requestId ?? ""}`);
        for (const replica of o.replicasOfShard(shard)) o.network.send(this.id, replica, { kind: "meta-request", token, cmd: wire.cmd, ctx: wire.ctx });
        o.loop.after(o.callAttemptTimeoutMs, `${this.id} call timeout`, () => {
          if (answered) return;
          this.#calls.delete(token);
          if (o.loop.nowMs >= deadline) reject(new ShardUnavailableError(`shard ${shard} did not answer ${cmd.kind} within ${o.callPatienceMs}ms`));
          else attempt();
        });
      };
      attempt();
    });
  }
}

/** The coordinator's call timing in the simulation (the router's: limits.txShardCallTimeoutMs in all). */
export const coordinatorCallTiming = { callAttemptTimeoutMs: 500, callPatienceMs: limits.txShardCallTimeoutMs, kvTimeoutMs: 500 } as const;
