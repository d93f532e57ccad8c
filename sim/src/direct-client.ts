/**
 * A client that sends metadata commands straight to the shard replicas, as a gateway does after
 * it has decoded a packet: the fastest way to put the shard logic under load, without the MooseFS
 * codec and the gateway core in the loop (client.ts puts them in).
 *
 * Like the gateway, it retries an unanswered request with the same request id, and it accepts
 * the first reply to any attempt.
 */
import type { Command, Ctx, Result } from "@antler/ops";
import type { ClientOp, History } from "./history.ts";
import type { EventLoop, Timer } from "./loop.ts";
import type { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { MetaMessage } from "./shard-node.ts";
import { Knowledge, nextCaller, nextCommand, type OperationKind } from "./workload.ts";

export interface ClientTiming {
  readonly attemptTimeoutMs: number;
  readonly attemptsMax: number;
  readonly thinkMaxMs: number;
}

export const defaultClientTiming: ClientTiming = { attemptTimeoutMs: 500, attemptsMax: 200, thinkMaxMs: 20 };

export class DirectClient {
  readonly id: string;
  readonly #loop: EventLoop;
  readonly #network: Network<MetaMessage>;
  readonly #prng: Prng;
  readonly #replicas: readonly string[];
  readonly #route: ((cmd: Command) => readonly string[]) | undefined;
  readonly #history: History;
  readonly #timing: ClientTiming;
  readonly #weights: Readonly<Record<OperationKind, number>> | undefined;
  readonly #sessionId: number;
  readonly #knowledge = new Knowledge();
  #requestCounter = 0;
  #nextToken = 1;
  /** The operation in flight and the tokens of its attempts. */
  #current: { op: ClientOp; tokens: Set<number>; timer: Timer | null } | null = null;
  #remaining = 0;

  constructor(options: {
    readonly id: string;
    readonly sessionId: number;
    readonly loop: EventLoop;
    readonly network: Network<MetaMessage>;
    readonly prng: Prng;
    readonly replicas: readonly string[];
    /** Sharded clusters: the replicas of the shard a command goes to; else `replicas`. */
    readonly route?: (cmd: Command) => readonly string[];
    readonly history: History;
    readonly timing?: ClientTiming;
    /** The operation mix (workload.ts operationWeights when omitted). */
    readonly weights?: Readonly<Record<OperationKind, number>>;
  }) {
    this.id = options.id;
    this.#sessionId = options.sessionId;
    this.#loop = options.loop;
    this.#network = options.network;
    this.#prng = options.prng;
    this.#replicas = options.replicas;
    this.#route = options.route;
    this.#history = options.history;
    this.#timing = options.timing ?? defaultClientTiming;
    this.#weights = options.weights;
    options.network.register(this.id, (_from, message) => this.#receive(message));
  }

  /** True while an operation waits for its reply. */
  get busy(): boolean {
    return this.#current !== null;
  }

  get remaining(): number {
    return this.#remaining;
  }

  /** One line for failure reports. */
  describe(): string {
    const current = this.#current;
    const op = current === null ? "idle" : `waiting for ${current.op.requestId} (${current.op.cmd.kind}, ${current.op.attempts} attempts, since ${current.op.invokedMs}ms)`;
    return `${this.id}: ${op}, ${this.#remaining} operations to go`;
  }

  /** Issues no new operations; the one in flight carries on. */
  stop(): void {
    this.#remaining = 0;
  }

  /** Issues `count` operations one after another. */
  start(count: number): void {
    this.#remaining = count;
    this.#loop.after(this.#prng.int(0, this.#timing.thinkMaxMs), `${this.id} think`, () => this.#issue());
  }

  #issue(): void {
    if (this.#remaining === 0 || this.#current !== null) return;
    this.#remaining--;
    const cmd: Command = nextCommand(this.#prng, this.#knowledge, this.#weights);
    const caller = nextCaller(this.#prng);
    const requestId = `${this.id}.${this.#requestCounter++}`;
    const ctx: Ctx = { sessionId: this.#sessionId, uid: caller.uid, gids: caller.gids, sesflags: 0, rootInode: 1, requestId };
    const op: ClientOp = { client: this.id, requestId, cmd, ctx, invokedMs: this.#loop.nowMs, attempts: 0 };
    this.#history.ops.push(op);
    this.#current = { op, tokens: new Set(), timer: null };
    this.#attempt();
  }

  #attempt(): void {
    const current = this.#current!;
    if (current.op.attempts >= this.#timing.attemptsMax) {
      // Give up: the outcome stays unknown, as for a client whose mount timed out.
      this.#history.note(`${this.id} gave up on ${current.op.requestId} (${current.op.cmd.kind})`);
      this.#current = null;
      this.#next();
      return;
    }
    current.op.attempts++;
    const token = this.#nextToken++;
    current.tokens.add(token);
    // NATS delivers the request to whichever replica subscribes as leader.
    for (const replica of this.#route?.(current.op.cmd) ?? this.#replicas) {
      this.#network.send(this.id, replica, { kind: "meta-request", token, cmd: current.op.cmd, ctx: current.op.ctx });
    }
    current.timer = this.#loop.after(this.#timing.attemptTimeoutMs, `${this.id} attempt timeout`, () => this.#attempt());
  }

  #receive(message: MetaMessage): void {
    const current = this.#current;
    if (message.kind !== "meta-reply" || current === null || !current.tokens.has(message.token)) return;
    current.timer?.cancel();
    current.op.respondedMs = this.#loop.nowMs;
    current.op.result = message.result;
    current.op.execId = message.execId;
    this.#knowledge.learn(current.op.cmd, message.result as Result);
    this.#current = null;
    this.#next();
  }

  #next(): void {
    this.#loop.after(this.#prng.int(0, this.#timing.thinkMaxMs), `${this.id} think`, () => this.#issue());
  }
}
