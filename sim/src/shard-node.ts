/**
 * One simulated shard replica: the shell around ShardDriver (shard-driver.ts), playing the part of
 * the real shard server. It carries out the driver's actions against the fake JetStream, holds
 * the leader lease (a KV key renewed by compare-and-set, with an epoch that grows on every
 * takeover), answers metadata requests from the network, and can crash (losing everything in
 * memory) and restart (rebuilding from the log).
 *
 * The lease decisions are the shard core's `Election`, the same code the shard server runs: the
 * shell feeds it the key's values from a KV watch (plus a read at start and after every CAS that
 * failed or got no answer, as the server's ElectionRunner does), the answers to its
 * compare-and-set writes and a tick every `tickMs` of the node's monotonic clock, and carries out
 * what it returns. As in the server (shard-process.ts), every append and every reply of a leader
 * first checks that its lease has time left (the lease guard), and any end of leadership (lease
 * lost or run out, a fenced append, a log it cannot reach) ends the process; the supervisor
 * restarts it as a standby that replays the log. Clocks drift and processes pause, so two
 * replicas can briefly both believe they lead: safety comes from the log's fencing.
 */
import { limits } from "@antler/base";
import {
  decodeMessage, encodeMessage, Status, txDecisionKey, type Attr, type Command, type Ctx, type LeaseObservation, type LeaseRecord, type Result, type TxDecision,
} from "@antler/ops";
import { Election, isEarlierIncarnation, leaseHolderId, type ElectionAction } from "@antler/shard-core";
import type { NodeClock } from "./clock.ts";
import { decodeDecision, encodeDecision } from "@antler/router-core";
import type { FakeJetStream, KvEntry, KvWatch, KvWriteAnswer } from "./jetstream.ts";
import type { EventLoop } from "./loop.ts";
import type { Network } from "./network.ts";
import { ShardDriver, type DriverAction, type DriverFaults, type Execution, type StateMachine } from "./shard-driver.ts";

/** Messages between gateways, shard replicas and the coordinator (NATS request/reply in the real system). */
export type MetaMessage =
  | { readonly kind: "meta-request"; readonly token: number; readonly cmd: Command; readonly ctx: Ctx }
  | { readonly kind: "meta-reply"; readonly token: number; readonly result: Result; readonly execId: string }
  /**
   * A request a shard passed on to the coordinator (Execution.forward): unchanged, with the reply
   * address of the original requester (`replyTo`, `token`), who gets the coordinator's answer.
   */
  | { readonly kind: "coord-request"; readonly token: number; readonly cmd: Command; readonly ctx: Ctx; readonly replyTo: string };

/** What a replica of a sharded cluster needs to know about the rest of it. */
export interface ShardCluster {
  readonly shardId: number;
  /** Any slot this shard owns (the resolver's tx commands name one). */
  readonly slot: number;
  /** The nodes forwarded requests go to: every router subscribed to the coordinator subject now. */
  readonly coordinators: () => readonly string[];
  /** The replicas of the shard owning `inode` (where a GETATTR for it goes). */
  replicasOfInode(inode: number): readonly string[];
  /** The KV bucket of transaction decisions. */
  readonly decisionBucket: string;
  readonly resolveAfterMs: number;
  readonly resolveIntervalMs: number;
}

export interface ShardTiming {
  /** A leader serves at most this long after sending its last successful renewal. */
  readonly leaseMs: number;
  /** A standby that saw the lease key unchanged for this long claims it. */
  readonly takeoverMs: number;
  readonly renewMs: number;
  /** The election's tick. */
  readonly tickMs: number;
  readonly leaseOpTimeoutMs: number;
  readonly pollMs: number;
  readonly requestTimeoutMs: number;
  readonly appendRetriesMax: number;
  /** The supervisor restarts a replica that exited after this long. */
  readonly restartDelayMs: number;
}

/** The shard server's own lease timing (libs/base limits). */
export const defaultShardTiming: ShardTiming = {
  leaseMs: limits.shardLeaseExpiryMs - limits.shardLeaseSelfFenceMarginMs,
  takeoverMs: limits.shardLeaseExpiryMs,
  renewMs: limits.shardLeaseRenewMs,
  tickMs: limits.shardLeaseTickMs,
  leaseOpTimeoutMs: limits.shardLeaseOpTimeoutMs,
  pollMs: 100,
  requestTimeoutMs: 300,
  appendRetriesMax: 30,
  restartDelayMs: 200,
};

/** A request as the driver carries it: who asked, and their token. */
export interface MetaRequestRef {
  readonly from: string;
  readonly token: number;
}

/** What the checkers learn from a replica as it runs. */
export interface ShardObserver {
  appendSent(node: string, msgId: string, writes: readonly (Execution<MetaRequestRef> | null)[]): void;
  replied(node: string, execId: string, execution: Execution<MetaRequestRef>): void;
  serving(node: string, epoch: number, seq: number): void;
  steppedDown(node: string, reason: string): void;
  /** Something worth a line in a failure report. */
  note(text: string): void;
  /** The resolver carried out the stored (or its own) decision of a transaction left prepared. */
  resolved?(node: string, txid: string, decision: "commit" | "abort"): void;
}

export interface ShardNodeOptions {
  readonly id: string;
  /** The replica's slot name in lease holder ids (leaseReplicaName): stable across restarts. */
  readonly replicaName: string;
  readonly stream: string;
  readonly leaseBucket: string;
  readonly leaseKey: string;
  readonly loop: EventLoop;
  readonly js: FakeJetStream;
  readonly network: Network<MetaMessage>;
  readonly clock: NodeClock;
  readonly timing: ShardTiming;
  readonly createStateMachine: () => StateMachine;
  readonly observer: ShardObserver;
  readonly faults?: DriverFaults;
  /** Set in a sharded cluster: forwarding, remote attributes, lock waits and the resolver. */
  readonly cluster?: ShardCluster;
  /** Marks executions (Execution.stamp): the checkers' global position at execution time. */
  readonly stamp?: () => number;
}

/** A GETATTR this replica sent to another shard for a remote read, waiting for its answer. */
interface RemoteCall {
  readonly done: (attr: Attr | null) => void;
}

/** The system's ctx for the resolver's own tx commands. */
const systemCtx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
/** The request ref of commands the replica makes itself (no one to answer). */
const internalRequest: MetaRequestRef = { from: "", token: 0 };

export class ShardNode {
  readonly id: string;
  readonly #o: ShardNodeOptions;
  #incarnation = 0;
  #alive = false;
  #driver: ShardDriver<MetaRequestRef> | null = null;
  #election: Election | null = null;
  #watch: KvWatch | null = null;
  #casInFlight = false;
  #execCounter = 0;
  /** A stop-the-world pause (GC, VM freeze): nothing runs in this process until then. */
  #pausedUntilMs = 0;
  readonly #remoteCalls = new Map<number, RemoteCall>();
  #nextRemoteToken = 1;
  /** Transactions the resolver is resolving now (one resolution per txid at a time). */
  readonly #resolving = new Set<string>();
  /** txid → when this replica's resolver first saw it prepared (its own clock, as tx-resolver.ts). */
  readonly #firstSeen = new Map<string, number>();

  constructor(options: ShardNodeOptions) {
    this.id = options.id;
    this.#o = options;
    options.network.register(options.id, (from, message) => this.#whenAwake(() => this.#receive(from, message)));
  }

  get alive(): boolean {
    return this.#alive;
  }
  get driver(): ShardDriver<MetaRequestRef> | null {
    return this.#driver;
  }
  get incarnation(): number {
    return this.#incarnation;
  }

  /** One line for failure reports. */
  describe(): string {
    if (!this.#alive) return `${this.id}: down`;
    const election = this.#election!;
    const lease = election.role === "leader" ? `lease epoch ${election.epoch}${election.isLeader(this.#leaseClockMs()) ? "" : " (run out)"}` : `lease ${election.role}`;
    return `${this.id} (incarnation ${this.#incarnation}, ${lease}${this.#casInFlight ? ", lease CAS in flight" : ""}): ${this.#driver!.describe()}`;
  }

  /** The node's wall clock now (what its resolver ages prepared transactions by). */
  wallClockMs(): number {
    return this.#o.clock.nowMs();
  }

  /** Whether this process leads by its lease right now (role and time left, by its own clock). */
  get holdsLease(): boolean {
    return this.#alive && this.#election!.isLeader(this.#leaseClockMs());
  }

  start(): void {
    this.#incarnation++;
    this.#alive = true;
    this.#o.network.setDown(this.id, false);
    this.#driver = new ShardDriver<MetaRequestRef>({
      node: this.id,
      incarnation: this.#incarnation,
      createStateMachine: this.#o.createStateMachine,
      appendRetriesMax: this.#o.timing.appendRetriesMax,
      faults: this.#o.faults,
      ...(this.#o.stamp !== undefined ? { stamp: this.#o.stamp } : {}),
    });
    this.#remoteCalls.clear();
    this.#resolving.clear();
    this.#firstSeen.clear();
    this.#casInFlight = false;
    const { leaseMs, takeoverMs, renewMs } = this.#o.timing;
    const holder = leaseHolderId(this.#o.replicaName, String(this.#incarnation));
    this.#election = new Election({ holder, leaseMs, takeoverMs, renewIntervalMs: renewMs, inheritsFrom: (other) => isEarlierIncarnation(holder, other) });
    const incarnation = this.#incarnation;
    const every = (periodMs: number, label: string, run: () => void): void => {
      const step = (): void =>
        this.#whenAwake(() => {
          if (this.#incarnation !== incarnation || !this.#alive) return;
          run();
          this.#o.clock.after(periodMs, label, step);
        });
      this.#o.clock.after(periodMs, label, step);
    };
    this.#startWatch(incarnation);
    every(this.#o.timing.tickMs, `${this.id} lease`, () => this.#lease((election, now) => election.tick(now)));
    every(this.#o.timing.pollMs, `${this.id} poll`, () => {
      const driver = this.#driver!;
      this.#run(driver.role === "leader" ? driver.tick(this.#o.clock.nowMs()) : driver.poll());
    });
    const cluster = this.#o.cluster;
    if (cluster !== undefined) every(cluster.resolveIntervalMs, `${this.id} resolver`, () => this.#resolvePass(cluster, incarnation));
  }

  /**
   * The process freezes for `durationMs` and then carries on as if no time had passed for it:
   * the classic way a leader outlives its lease without noticing. Everything addressed to it
   * waits until it wakes up, in order.
   */
  pause(durationMs: number): void {
    this.#pausedUntilMs = Math.max(this.#pausedUntilMs, this.#o.loop.nowMs + durationMs);
  }

  /** `callback`, deferred while the process is paused. */
  #awake<T>(callback: (value: T) => void): (value: T) => void {
    return (value) => this.#whenAwake(() => callback(value));
  }

  /** Runs `run` now, or when the process wakes up from a pause. */
  #whenAwake(run: () => void): void {
    if (this.#o.loop.nowMs < this.#pausedUntilMs) {
      this.#o.loop.at(this.#pausedUntilMs, `${this.id} wakes up`, () => this.#whenAwake(run));
      return;
    }
    run();
  }

  /** The node's clock is stepped by `deltaMs` (timers already set keep their simulated time). */
  jumpClock(deltaMs: number): void {
    this.#o.clock.jump(deltaMs);
  }

  /** The process dies: memory is gone, in-flight answers are never seen. */
  crash(): void {
    this.#alive = false;
    this.#incarnation++;
    this.#driver = null;
    // A pause ends with the process: its successor starts running at once.
    this.#pausedUntilMs = 0;
    this.#watch?.stop();
    this.#watch = null;
    this.#o.network.setDown(this.id, true);
  }

  /**
   * The process ends itself, as the shard server does when its leadership ends (it exits and
   * never replies again; replies for entries that are not durable must never go out), and the
   * supervisor starts it again as a standby.
   */
  #exit(reason: string): void {
    this.#o.observer.note(`${this.id} exits: ${reason}`);
    this.crash();
    this.#o.loop.after(this.#o.timing.restartDelayMs, `${this.id} supervisor restart`, () => {
      if (this.#alive) return;
      this.#o.observer.note(`${this.id} restarted by its supervisor`);
      this.start();
    });
  }

  /** The clock the lease is timed with: the node's monotonic clock (never stepped back). */
  #leaseClockMs(): number {
    return this.#o.clock.monotonicMs();
  }

  /** The lease guard: a leader appends and replies only while its lease has time left. */
  #leaseAllows(): boolean {
    if (this.#election!.isLeader(this.#leaseClockMs())) return true;
    this.#exit("lease ran out while serving (paused or cut off from the lease store)");
    return false;
  }

  #receive(from: string, message: MetaMessage): void {
    if (!this.#alive) return;
    if (message.kind === "meta-reply") {
      const call = this.#remoteCalls.get(message.token);
      if (call === undefined) return;
      this.#remoteCalls.delete(message.token);
      const result = decodeMessage(encodeMessage(message.result)) as Result;
      call.done(result.status === Status.OK && "attr" in result ? (result as { attr: Attr }).attr : null);
      return;
    }
    if (message.kind !== "meta-request") return;
    // Requests cross a real wire: encode and decode them as the shard server would.
    const decoded = decodeMessage(encodeMessage({ cmd: message.cmd, ctx: message.ctx })) as { cmd: Command; ctx: Ctx };
    this.#execute({ from, token: message.token }, decoded.cmd, decoded.ctx, null);
  }

  /** `lockedSinceMs`: the request met a transaction's lock then and is being executed again. */
  #execute(request: MetaRequestRef, cmd: Command, ctx: Ctx, lockWait: { readonly sinceMs: number; readonly delayMs: number } | null): void {
    const actions = this.#driver!.execute(request, cmd, ctx, this.#o.clock.nowMs());
    if (actions === null) return;
    const only = actions.length === 1 ? actions[0]! : undefined;
    if (only?.kind === "locked") {
      this.#locked(only, lockWait);
      return;
    }
    this.#run(actions);
  }

  /**
   * A command met a prepared transaction's lock. A client's command waits for it (#holdLocked);
   * a transaction command (txprepare) fails TXLOCKED at once, as the design says: the coordinator
   * aborts that attempt and retries it, where holding it could deadlock two transactions that
   * each hold a lock the other's prepare needs.
   */
  #locked(action: Extract<DriverAction<MetaRequestRef>, { kind: "locked" }>, lockWait: { readonly sinceMs: number; readonly delayMs: number } | null = null): void {
    const { request, cmd, ctx } = action;
    if (!cmd.kind.startsWith("tx")) {
      this.#holdLocked(request, cmd, ctx, lockWait);
      return;
    }
    const driver = this.#driver!;
    if (request.from === "" || driver.role !== "leader" || !this.#leaseAllows()) return;
    this.#sendReply({ request, cmd, ctx, result: { status: Status.TXLOCKED } as Result, ref: { seq: driver.logSeq }, wrote: false });
  }

  /**
   * A request that met a prepared transaction's lock is executed again after a growing pause
   * (shard server lock-waits.ts: limits.txLockedRetryMs ×1.5 up to txLockedRetryMaxMs) until it
   * gets through; after limits.txLockedWaitMaxMs in all it is answered EAGAIN.
   */
  #holdLocked(request: MetaRequestRef, cmd: Command, ctx: Ctx, previous: { readonly sinceMs: number; readonly delayMs: number } | null): void {
    const now = this.#o.loop.nowMs;
    const sinceMs = previous?.sinceMs ?? now;
    const delayMs = previous === null ? limits.txLockedRetryMs : Math.min(limits.txLockedRetryMaxMs, Math.ceil(previous.delayMs * 1.5));
    const incarnation = this.#incarnation;
    if (now + delayMs - sinceMs > limits.txLockedWaitMaxMs) {
      if (request.from === "") return;
      const driver = this.#driver!;
      if (driver.role !== "leader" || !this.#leaseAllows()) return;
      const execution: Execution<MetaRequestRef> = { request, cmd, ctx, result: { status: Status.EAGAIN } as Result, ref: { seq: driver.logSeq }, wrote: false };
      this.#sendReply(execution);
      return;
    }
    this.#o.loop.after(delayMs, `${this.id} lock wait`, () =>
      this.#whenAwake(() => {
        if (this.#incarnation !== incarnation || !this.#alive) return;
        this.#execute(request, cmd, ctx, { sinceMs, delayMs });
      }),
    );
  }

  #sendReply(execution: Execution<MetaRequestRef>): void {
    const execId = `${this.id}.${this.#incarnation}.${this.#execCounter++}`;
    this.#o.observer.replied(this.id, execId, execution);
    const { from, token } = execution.request;
    if (from !== "") this.#o.network.send(this.id, from, { kind: "meta-reply", token, result: execution.result, execId });
  }

  /**
   * A read naming nodes of other shards: GETATTR for each (with the client's ctx and a request id
   * of its own, as the shard server's remote-attrs.ts), then the completed answer. An inode whose
   * shard does not answer within limits.remoteAttrAttempts attempts counts as missing.
   */
  #replyRemote(execution: Execution<MetaRequestRef>): void {
    const cluster = this.#o.cluster;
    const remote = execution.remote!;
    const incarnation = this.#incarnation;
    const inodes = [...new Set(remote.inodes)];
    const attrs = new Map<number, Attr | null>();
    const finish = (): void => {
      if (this.#incarnation !== incarnation || !this.#alive || this.#driver?.role !== "leader" || !this.#leaseAllows()) return;
      this.#sendReply({ ...execution, result: remote.complete(attrs) });
    };
    if (cluster === undefined || inodes.length === 0) return finish();
    const { ctx } = execution;
    for (const inode of inodes) {
      const requestId = ctx.requestId === undefined ? undefined : `${ctx.requestId}/attr/${inode}`;
      const subCtx: Ctx = {
        sessionId: ctx.sessionId, uid: ctx.uid, gids: ctx.gids, sesflags: ctx.sesflags, rootInode: ctx.rootInode,
        ...(requestId !== undefined ? { requestId } : {}),
      };
      const attempt = (n: number): void => {
        const token = this.#nextRemoteToken++;
        let answered = false;
        this.#remoteCalls.set(token, {
          done: (attr) => {
            answered = true;
            attrs.set(inode, attr);
            if (attrs.size === inodes.length) finish();
          },
        });
        for (const replica of cluster.replicasOfInode(inode)) {
          this.#o.network.send(this.id, replica, { kind: "meta-request", token, cmd: { kind: "getattr", inode, opened: false }, ctx: subCtx });
        }
        this.#o.loop.after(limits.remoteAttrAttemptTimeoutMs, `${this.id} remote attr timeout`, () =>
          this.#whenAwake(() => {
            if (answered || this.#incarnation !== incarnation || !this.#alive) return;
            this.#remoteCalls.delete(token);
            if (n < limits.remoteAttrAttempts) {
              this.#o.loop.after(limits.remoteAttrRetryPauseMs, `${this.id} remote attr retry`, () => this.#whenAwake(() => attempt(n + 1)));
              return;
            }
            attrs.set(inode, null);
            if (attrs.size === inodes.length) finish();
          }),
        );
      };
      attempt(1);
    }
  }

  /**
   * The resolver (shard server tx-resolver.ts): a transaction prepared here longer than
   * resolveAfterMs ago is resolved from the decision bucket. Commit → apply, abort → drop; absent →
   * write "abort" create-only and, if someone was first, obey what is there.
   */
  #resolvePass(cluster: ShardCluster, incarnation: number): void {
    const driver = this.#driver;
    const sm = driver?.stateMachine;
    if (driver === null || driver.role !== "leader" || sm?.preparedTransactions === undefined) return;
    const now = this.#o.clock.nowMs();
    const current = sm.preparedTransactions();
    const stillPrepared = new Set(current.map((txn) => txn.txid));
    for (const txid of this.#firstSeen.keys()) if (!stillPrepared.has(txid)) this.#firstSeen.delete(txid);
    for (const txn of current) {
      const seen = this.#firstSeen.get(txn.txid) ?? now;
      this.#firstSeen.set(txn.txid, seen);
      if (now - seen < cluster.resolveAfterMs || this.#resolving.has(txn.txid)) continue;
      this.#resolving.add(txn.txid);
      this.#resolve(cluster, incarnation, txn.txid);
    }
  }

  #resolve(cluster: ShardCluster, incarnation: number, txid: string): void {
    const { js, timing } = this.#o;
    const key = txDecisionKey(txid);
    const current = (): boolean => this.#incarnation === incarnation && this.#alive && this.#driver?.role === "leader";
    const done = (): void => {
      this.#resolving.delete(txid);
    };
    const stillPrepared = (): boolean => this.#driver?.stateMachine.preparedTransactions?.().some((t) => t.txid === txid) ?? false;
    const obey = (decision: TxDecision): void => {
      done();
      if (!current() || !stillPrepared()) return;
      if (decision.txid !== txid) {
        this.#o.observer.note(`${this.id} resolver: decision record of ${txid} names ${decision.txid}; left prepared`);
        return;
      }
      this.#o.observer.note(`${this.id} resolves ${txid}: ${decision.decision} (by ${decision.by})`);
      this.#o.observer.resolved?.(this.id, txid, decision.decision);
      const cmd: Command =
        decision.decision === "commit"
          ? { kind: "txcommit", slot: cluster.slot, txid, ...(decision.newInode !== undefined ? { newInode: decision.newInode } : {}) }
          : { kind: "txabort", slot: cluster.slot, txid };
      this.#execute(internalRequest, cmd, systemCtx, null);
    };
    const read = (then: (decision: TxDecision | null) => void): void => {
      js.kvGet(this.id, cluster.decisionBucket, key, timing.leaseOpTimeoutMs, this.#awake((answer) => {
        if (!current()) return done();
        if (answer.kind === "timeout") return done(); // next pass
        then(answer.entry === null ? null : decodeDecision(answer.entry.value));
      }));
    };
    read((decision) => {
      if (decision !== null) return obey(decision);
      if (!stillPrepared()) return done();
      const abort: TxDecision = { decision: "abort", txid, participants: [], by: `shard.${cluster.shardId}` };
      js.kvCreate(this.id, cluster.decisionBucket, key, encodeDecision(abort), timing.leaseOpTimeoutMs, this.#awake((answer) => {
        if (!current()) return done();
        if (answer.kind === "ok") return obey(abort);
        // Lost answer or someone was first: read what is there (an unanswered create may have landed).
        read((stored) => (stored === null ? done() : obey(stored)));
      }));
    });
  }

  #run(actions: readonly DriverAction<MetaRequestRef>[]): void {
    const { js, timing, stream } = this.#o;
    const incarnation = this.#incarnation;
    const current = (): ShardDriver<MetaRequestRef> | null => (this.#incarnation === incarnation && this.#alive ? this.#driver : null);
    for (const action of actions) {
      if (current() === null) return; // exited on an earlier action
      if ((action.kind === "append" || action.kind === "last-seq" || action.kind === "reply") && !this.#leaseAllows()) return;
      switch (action.kind) {
        case "append":
          this.#o.observer.appendSent(this.id, action.msgId, action.writes);
          this.#append(action, (answer) => {
            const driver = current();
            if (driver !== null) this.#run(driver.onAppend(action.token, answer));
          });
          break;
        case "last-seq":
          js.lastSeq(this.id, stream, timing.requestTimeoutMs, this.#awake((answer) => {
            const driver = current();
            if (driver !== null) this.#run(driver.onLastSeq(action.token, answer));
          }));
          break;
        case "read":
          js.read(this.id, stream, action.fromSeq, timing.requestTimeoutMs, this.#awake((answer) => {
            const driver = current();
            if (driver === null) return;
            this.#run(driver.onRead(action.token, answer.kind === "ok" ? { kind: "ok", records: answer.messages, lastSeq: answer.lastSeq } : answer));
          }));
          break;
        case "reply":
          if (action.execution.remote !== undefined) this.#replyRemote(action.execution);
          else this.#sendReply(action.execution);
          break;
        case "forward": {
          const coordinators = this.#o.cluster?.coordinators() ?? [];
          const { from, token } = action.request;
          // Published to the subject: every subscriber gets it, none may (the lease is moving).
          if (from !== "") {
            for (const coordinator of coordinators) {
              this.#o.network.send(this.id, coordinator, { kind: "coord-request", token, cmd: action.cmd, ctx: action.ctx, replyTo: from });
            }
          }
          break;
        }
        case "locked":
          this.#locked(action);
          break;
        case "stepped-down":
          this.#o.observer.steppedDown(this.id, action.reason);
          this.#exit(action.reason);
          return;
        case "serving":
          this.#o.observer.serving(this.id, action.epoch, action.seq);
          break;
      }
    }
  }

  /**
   * An append as the log adapter (io-nats JetStreamLogStream) does it: nats-server checks the
   * expected sequence before the duplicate window, so the retry of an append whose ack was lost
   * comes back as a wrong sequence; it succeeded if the record after the expected sequence
   * carries our message id.
   */
  #append(
    action: Extract<DriverAction<MetaRequestRef>, { kind: "append" }>,
    done: (answer: { readonly kind: "ok"; readonly seq: number } | { readonly kind: "fenced" } | { readonly kind: "timeout" }) => void,
  ): void {
    const { js, timing, stream } = this.#o;
    const expected = action.expectedLastSeq;
    js.append(this.id, stream, action.data, { expectedLastSeq: expected, msgId: action.msgId, timeoutMs: timing.requestTimeoutMs }, this.#awake((answer) => {
      if (answer.kind === "timeout") return done(answer);
      if (answer.kind === "ok") {
        // A duplicate is only ours if it sits exactly where we meant to write.
        if (answer.duplicate && expected !== undefined && answer.seq !== expected + 1) return done({ kind: "fenced" });
        return done({ kind: "ok", seq: answer.seq });
      }
      if (expected === undefined) return done({ kind: "fenced" });
      js.messageAt(this.id, stream, expected + 1, timing.requestTimeoutMs, this.#awake((found) => {
        if (found.kind === "timeout") return done(found);
        const ours = found.message?.msgId === action.msgId;
        if (ours) this.#o.observer.note(`${this.id} found its own append at seq ${expected + 1} (its answer was lost)`);
        done(ours ? { kind: "ok", seq: expected + 1 } : { kind: "fenced" });
      }));
    }));
  }

  /** A watch on the lease key, and one read: a watch reports nothing while the key is absent. */
  #startWatch(incarnation: number): void {
    const { js, leaseBucket, leaseKey } = this.#o;
    this.#watch = js.kvWatch(this.id, leaseBucket, leaseKey, this.#awake((entry: KvEntry) => this.#observe(incarnation, entry)));
    this.#readLease(incarnation);
  }

  /** Reads the lease key (retried until answered: a replica must learn whether it is absent). */
  #readLease(incarnation: number): void {
    const { js, leaseBucket, leaseKey, timing } = this.#o;
    js.kvGet(this.id, leaseBucket, leaseKey, timing.leaseOpTimeoutMs, this.#awake((answer) => {
      if (this.#incarnation !== incarnation || !this.#alive) return;
      if (answer.kind === "ok") this.#observe(incarnation, answer.entry);
      else this.#o.clock.after(timing.renewMs, `${this.id} lease read`, () => this.#whenAwake(() => this.#readLease(incarnation)));
    }));
  }

  #observe(incarnation: number, entry: KvEntry | null): void {
    if (this.#incarnation !== incarnation || !this.#alive) return;
    const observation: LeaseObservation = entry === null ? { revision: 0, record: null } : { revision: entry.revision, record: decodeLease(entry.value) };
    this.#lease((election, now) => election.onObserved(observation, now));
  }

  /** Runs one input through the election (with the node's monotonic clock) and carries out what it decides. */
  #lease(input: (election: Election, nowMs: number) => readonly ElectionAction[]): void {
    const election = this.#election;
    if (!this.#alive || election === null) return;
    const incarnation = this.#incarnation;
    for (const action of input(election, this.#leaseClockMs())) {
      if (this.#incarnation !== incarnation || !this.#alive) return;
      switch (action.kind) {
        case "cas":
          this.#cas(election, action.record, action.expectedRevision);
          break;
        case "become-leader":
          this.#run(this.#driver!.lead(action.epoch));
          break;
        case "step-down":
          this.#o.observer.steppedDown(this.id, action.reason);
          this.#exit(`lease: ${action.reason}`);
          return;
      }
    }
  }

  #cas(election: Election, record: LeaseRecord, expectedRevision: number): void {
    const { js, leaseBucket, leaseKey, timing } = this.#o;
    const value = encodeLease(record);
    const incarnation = this.#incarnation;
    this.#casInFlight = true;
    const done = this.#awake((answer: KvWriteAnswer) => {
      if (this.#election !== election || this.#incarnation !== incarnation || !this.#alive) return; // exited meanwhile
      this.#casInFlight = false;
      if (answer.kind === "timeout") this.#lease((e, now) => e.onCasError(now));
      else this.#lease((e, now) => e.onCasResult(answer.kind === "ok" ? answer.revision : null, now));
      // After a CAS that failed or got no answer, read the key (as ElectionRunner): the election may
      // wait to learn whether its write happened, and the read keeps it right if the watch stalls.
      if (answer.kind !== "ok") this.#readLease(incarnation);
    });
    if (expectedRevision === 0) js.kvCreate(this.id, leaseBucket, leaseKey, value, timing.leaseOpTimeoutMs, done);
    else js.kvUpdate(this.id, leaseBucket, leaseKey, value, expectedRevision, timing.leaseOpTimeoutMs, done);
  }
}

function encodeLease(record: LeaseRecord): Uint8Array {
  return encodeMessage(record);
}

export function decodeLease(bytes: Uint8Array): LeaseRecord {
  const value = decodeMessage(bytes) as Partial<LeaseRecord>;
  if (typeof value.holder !== "string" || typeof value.epoch !== "number" || typeof value.renewals !== "number") throw new Error("malformed lease value");
  return { holder: value.holder, epoch: value.epoch, renewals: value.renewals };
}
