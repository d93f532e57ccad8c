/**
 * The leader/follower logic of one shard replica, synchronous and free of I/O (the shape of
 * style §2.4): the shell feeds it inputs (client commands, log answers, lease changes) and carries
 * out the actions it returns. The simulator's shell is shard-node.ts; the real shard server should
 * run this same driver (follow-up), so what the simulation checks is what production runs.
 *
 * The rules it implements:
 * - Execute, then make durable, then reply: `execute` applies a command to the in-memory state at
 *   once; its entry joins the *next* batch. At most one append is in flight; everything executed
 *   meanwhile waits and goes out as one append when it is acknowledged (group commit).
 * - Every append names the sequence it expects to be last (fencing). A refusal means another
 *   writer got in: the in-memory state is ahead of the log and may be wrong, so the replica steps
 *   down and rebuilds from the log.
 * - A reply, read or write, is released only when the batch it joined is acknowledged. A batch
 *   without entries (only reads) still needs a round trip: a read barrier that checks that the log
 *   still ends where this leader thinks. Without it, a deposed leader that has not yet noticed
 *   would answer reads from a state that other writers have moved past.
 * - A new leader first catches up with the log, then appends an epoch marker (fenced like every
 *   append) before it serves: afterwards no writer with an older view can append any more. If the
 *   log already holds a record of a newer epoch, the lease was lost meanwhile: it steps down
 *   instead, so the epochs in the log never go back (checkLog relies on it).
 * - An append whose answer was lost is retried with the same message id and expected sequence:
 *   the log's deduplication makes the retry return the first attempt's sequence.
 */
import { assert } from "@antler/base";
import { decodeMessage, encodeMessage, Status, type Attr, type Command, type Ctx, type Result } from "@antler/ops";

/** The answer needs attributes of other shards' nodes (shard-core api.ts RemoteAttrs). */
export interface RemoteAttrs {
  readonly inodes: readonly number[];
  complete(attrs: ReadonlyMap<number, Attr | null>): Result;
}

/** A cross-shard transaction prepared on this shard and not decided yet (the resolver's input). */
export interface PreparedTransaction {
  readonly txid: string;
  readonly preparedAtMs: number;
  readonly clientRequestId: string;
}

/** What the driver needs of the metadata state machine (shard-core's MetadataStateMachine). */
export interface StateMachine {
  execute(
    cmd: Command,
    ctx: Ctx,
    nowMs: number,
  ): { readonly result: Result; readonly entry: object | null; readonly forward?: "coordinator"; readonly remote?: RemoteAttrs };
  /** Cross-shard transactions prepared here and undecided (sharded clusters only). */
  preparedTransactions?(): readonly PreparedTransaction[];
  apply(entry: object): void;
  maintain(nowMs: number): object | null;
  encodeEntry(entry: never): Uint8Array;
  decodeEntry(bytes: Uint8Array): object;
  /** The whole state as bytes (snapshots); the simulation compares replicas with it. */
  exportState?(): Uint8Array;
}

export type Role = "follower" | "catching-up" | "leader";

/** Where an execution sits in the shard's history (resolved to a log position by the checkers). */
export type HistoryRef =
  /** The `index`-th entry of the batch sent with message id `batchId`. */
  | { readonly batchId: string; readonly index: number }
  /** Everything up to and including log sequence `seq` (a leader's starting point). */
  | { readonly seq: number };

export interface Execution<R> {
  readonly request: R;
  readonly cmd: Command;
  readonly ctx: Ctx;
  readonly result: Result;
  /** Writes: the entry's place. Reads and failures: the last write they observed. */
  readonly ref: HistoryRef;
  readonly wrote: boolean;
  /** A read whose answer the shell completes with other shards' attributes before replying. */
  readonly remote?: RemoteAttrs;
  /** The shell's mark of when it executed (sharded runs: the global log position then). */
  readonly stamp?: number;
}

export type DriverAction<R> =
  | {
      readonly kind: "append";
      readonly token: number;
      readonly data: Uint8Array;
      /** undefined only in the deliberately broken "unfenced" variant. */
      readonly expectedLastSeq: number | undefined;
      readonly msgId: string;
      /** The batch's entries in order: the execution that made each, null for maintenance. */
      readonly writes: readonly (Execution<R> | null)[];
    }
  /** Read barrier: ask the log for its last sequence; answer with onLastSeq. */
  | { readonly kind: "last-seq"; readonly token: number }
  /** Read the log from `fromSeq` to its end; answer with onRead. */
  | { readonly kind: "read"; readonly token: number; readonly fromSeq: number }
  | { readonly kind: "reply"; readonly execution: Execution<R> }
  /** The command spans shards: the shell passes the unchanged request to the coordinator. */
  | { readonly kind: "forward"; readonly request: R; readonly cmd: Command; readonly ctx: Ctx }
  /** A prepared transaction locks what the command touches (TXLOCKED): the shell executes it again later. */
  | { readonly kind: "locked"; readonly request: R; readonly cmd: Command; readonly ctx: Ctx }
  /** The replica stopped leading (fenced, stale, or told to): the shell must stop claiming the lease. */
  | { readonly kind: "stepped-down"; readonly reason: string }
  /** The replica serves as leader from now on. */
  | { readonly kind: "serving"; readonly epoch: number; readonly seq: number };

/** Deliberately broken variants, to prove the checkers catch what they claim to (sweep tests). */
export interface DriverFaults {
  /** Release replies as soon as they are executed, before the log has them. */
  readonly replyBeforeAck?: boolean;
  /** Append without an expected sequence: a deposed leader's appends land. */
  readonly unfenced?: boolean;
  /**
   * Release reads at once when nothing is in flight (no read barrier), trusting the lease guard:
   * not a broken variant any more since the shell guards every reply with the lease, which has a
   * margin before any standby may claim (sweep.test.ts shows it passes the hostile swarm).
   */
  readonly noReadBarrier?: boolean;
  /** A new leader takes the log's end as its position without applying what it had not read. */
  readonly serveBeforeCatchUp?: boolean;
}

export interface DriverOptions {
  readonly node: string;
  /** Distinguishes this process from earlier runs of the same node: message ids must never repeat. */
  readonly incarnation: number;
  readonly createStateMachine: () => StateMachine;
  /** Appends retried this often (answer lost) before the replica gives up and rebuilds. */
  readonly appendRetriesMax: number;
  readonly faults?: DriverFaults;
  /** Marks each execution (Execution.stamp) when it is made. */
  readonly stamp?: () => number;
}

/** The log record: one batch. `node`/`epoch` identify the writer (for fencing checks and debugging). */
export interface LogRecordBody {
  readonly node: string;
  readonly epoch: number;
  readonly entries: readonly Uint8Array[];
}

export function encodeRecord(body: LogRecordBody): Uint8Array {
  return encodeMessage({ v: 1, node: body.node, epoch: body.epoch, entries: body.entries });
}

export function decodeRecord(bytes: Uint8Array): LogRecordBody {
  const value = decodeMessage(bytes) as { v?: unknown; node?: unknown; epoch?: unknown; entries?: unknown };
  if (value.v !== 1 || typeof value.node !== "string" || typeof value.epoch !== "number" || !Array.isArray(value.entries)) {
    throw new Error("malformed shard log record");
  }
  for (const entry of value.entries) if (!(entry instanceof Uint8Array)) throw new Error("malformed shard log record entry");
  return { node: value.node, epoch: value.epoch, entries: value.entries as Uint8Array[] };
}

interface Batch<R> {
  readonly msgId: string;
  readonly entries: Uint8Array[];
  readonly writes: (Execution<R> | null)[];
  /** Executions whose replies wait for this batch. */
  readonly executions: Execution<R>[];
  /** Set once sent: the expected last sequence, kept for retries. */
  expectedLastSeq?: number | undefined;
  data?: Uint8Array;
  retries: number;
}

export class ShardDriver<R> {
  readonly #options: DriverOptions;
  #sm: StateMachine;
  #role: Role = "follower";
  #epoch = 0;
  /** Last log sequence applied to the state (followers) or known durable (leader). */
  #logSeq = 0;
  /** The highest epoch among the records read: the log's epochs never go back. */
  #logEpoch = 0;
  /** The in-memory state has executions the log may not have (a leader's optimism). */
  #tainted = false;
  #nextToken = 1;
  #readToken = 0;
  #appendToken = 0;
  #barrierToken = 0;
  #batchCounter = 0;
  #pending: Batch<R>;
  #inFlight: Batch<R> | null = null;
  /** The last write executed (for the history refs of later reads). */
  #lastWrite: HistoryRef = { seq: 0 };

  constructor(options: DriverOptions) {
    this.#options = options;
    this.#sm = options.createStateMachine();
    this.#pending = this.#newBatch();
  }

  get role(): Role {
    return this.#role;
  }
  get epoch(): number {
    return this.#epoch;
  }
  get logSeq(): number {
    return this.#logSeq;
  }
  /** The state machine (for checkers; never mutate it from outside). */
  get stateMachine(): StateMachine {
    return this.#sm;
  }
  /** What the leader waits for: an append, a read barrier, or nothing. */
  get inFlight(): "append" | "barrier" | null {
    if (this.#inFlight === null) return null;
    return this.#appendToken !== 0 || this.#inFlight.entries.length > 0 ? "append" : "barrier";
  }
  get waitingReplies(): number {
    return this.#pending.executions.length + (this.#inFlight?.executions.length ?? 0);
  }

  /** One line for failure reports. */
  describe(): string {
    const inFlight = this.#inFlight === null ? "none" : `${this.#inFlight.msgId} (${this.#inFlight.entries.length} entries, ${this.#inFlight.retries} retries)`;
    return (
      `${this.#role} epoch ${this.#epoch} at seq ${this.#logSeq}; in flight: ${inFlight}; ` +
      `pending: ${this.#pending.entries.length} entries, ${this.#pending.executions.length} replies; ` +
      `tokens append ${this.#appendToken} barrier ${this.#barrierToken} read ${this.#readToken}`
    );
  }

  /** Followers call this periodically to tail the log; also used to catch up. */
  poll(): DriverAction<R>[] {
    if (this.#role === "leader" || this.#readToken !== 0) return [];
    return [this.#read()];
  }

  /** The shell won the lease for `epoch`: catch up with the log, then append the epoch marker. */
  lead(epoch: number): DriverAction<R>[] {
    assert(epoch > this.#epoch || this.#role === "follower", "epochs only grow");
    const actions = this.#role === "leader" ? this.stepDown("new epoch") : [];
    this.#epoch = epoch;
    this.#role = "catching-up";
    if (this.#readToken === 0) actions.push(this.#read());
    return actions;
  }

  /** Stop leading (lease lost or given up). Waiting replies are dropped: clients retry. */
  stepDown(reason: string): DriverAction<R>[] {
    if (this.#role === "follower") return [];
    this.#role = "follower";
    this.#pending = this.#newBatch();
    this.#inFlight = null;
    this.#appendToken = 0;
    this.#barrierToken = 0;
    if (this.#tainted) this.#rebuild();
    return [{ kind: "stepped-down", reason }];
  }

  /** A client command. Not leading: null (the request was not for us; NATS would not deliver it). */
  execute(request: R, cmd: Command, ctx: Ctx, nowMs: number): DriverAction<R>[] | null {
    if (this.#role !== "leader") return null;
    const { result, entry, forward, remote } = this.#sm.execute(cmd, ctx, nowMs);
    if (forward !== undefined) return [{ kind: "forward", request, cmd, ctx }];
    if (result.status === Status.TXLOCKED) return [{ kind: "locked", request, cmd, ctx }];
    let ref: HistoryRef;
    if (entry !== null) {
      this.#pending.entries.push(this.#sm.encodeEntry(entry as never));
      ref = { batchId: this.#pending.msgId, index: this.#pending.entries.length - 1 };
      this.#lastWrite = ref;
      this.#tainted = true;
    } else {
      ref = this.#lastWrite;
    }
    const stamp = this.#options.stamp?.();
    const execution: Execution<R> = {
      request, cmd, ctx, result, ref, wrote: entry !== null,
      ...(remote !== undefined ? { remote } : {}),
      ...(stamp !== undefined ? { stamp } : {}),
    };
    if (entry !== null) this.#pending.writes.push(execution);
    const faults = this.#options.faults ?? {};
    if (faults.replyBeforeAck) {
      return [{ kind: "reply", execution }, ...this.#flush()];
    }
    this.#pending.executions.push(execution);
    return this.#flush();
  }

  /** Time-driven work of the state machine (trash expiry): runs on the leader only. */
  tick(nowMs: number): DriverAction<R>[] {
    if (this.#role !== "leader") return [];
    const entry = this.#sm.maintain(nowMs);
    if (entry === null) return [];
    this.#pending.entries.push(this.#sm.encodeEntry(entry as never));
    this.#pending.writes.push(null);
    this.#lastWrite = { batchId: this.#pending.msgId, index: this.#pending.entries.length - 1 };
    this.#tainted = true;
    return this.#flush();
  }

  onAppend(token: number, answer: { readonly kind: "ok"; readonly seq: number } | { readonly kind: "fenced" } | { readonly kind: "timeout" }): DriverAction<R>[] {
    if (token !== this.#appendToken) return [];
    const batch = this.#inFlight;
    assert(batch !== null && batch.data !== undefined, "append answer without a batch in flight");
    this.#appendToken = 0;
    switch (answer.kind) {
      case "timeout":
        if (batch.retries >= this.#options.appendRetriesMax) return this.stepDown("append unanswered");
        batch.retries++;
        return [this.#sendAppend(batch)];
      case "fenced":
        if (this.#role === "catching-up") {
          // Someone appended after our read (a deposed leader still flushing): read on, try again.
          this.#inFlight = null;
          return [this.#read()];
        }
        return this.stepDown("append fenced: another writer appended");
      case "ok": {
        this.#inFlight = null;
        assert(
          this.#options.faults?.unfenced || answer.seq === (batch.expectedLastSeq ?? 0) + 1,
          `append stored at ${answer.seq}, expected ${(batch.expectedLastSeq ?? 0) + 1}`,
        );
        this.#logSeq = answer.seq;
        if (this.#role === "catching-up") {
          // The epoch marker is in: nobody with an older view can append any more.
          this.#role = "leader";
          this.#lastWrite = { seq: answer.seq };
          return [{ kind: "serving", epoch: this.#epoch, seq: answer.seq }, ...this.#flush()];
        }
        const actions: DriverAction<R>[] = batch.executions.map((execution) => ({ kind: "reply" as const, execution }));
        if (this.#pending.entries.length === 0 && this.#pending.executions.length === 0) this.#tainted = false;
        return [...actions, ...this.#flush()];
      }
    }
  }

  onLastSeq(token: number, answer: { readonly kind: "ok"; readonly lastSeq: number } | { readonly kind: "timeout" }): DriverAction<R>[] {
    if (token !== this.#barrierToken) return [];
    const batch = this.#inFlight;
    assert(batch !== null, "barrier answer without a batch in flight");
    this.#barrierToken = 0;
    if (answer.kind === "timeout") {
      if (batch.retries >= this.#options.appendRetriesMax) return this.stepDown("read barrier unanswered");
      batch.retries++;
      return [this.#sendBarrier()];
    }
    if (answer.lastSeq !== this.#logSeq) return this.stepDown(`read barrier: log at ${answer.lastSeq}, leader at ${this.#logSeq}`);
    this.#inFlight = null;
    const actions: DriverAction<R>[] = batch.executions.map((execution) => ({ kind: "reply" as const, execution }));
    return [...actions, ...this.#flush()];
  }

  onRead(token: number, answer: { readonly kind: "ok"; readonly records: readonly { readonly seq: number; readonly data: Uint8Array }[]; readonly lastSeq: number } | { readonly kind: "timeout" }): DriverAction<R>[] {
    if (token !== this.#readToken) return [];
    this.#readToken = 0;
    if (answer.kind === "timeout") return this.#role === "catching-up" ? [this.#read()] : [];
    if (this.#role === "catching-up" && this.#options.faults?.serveBeforeCatchUp && answer.lastSeq > this.#logSeq) {
      // Broken on purpose: "the end of the log is known, the rest will be read later".
      this.#logSeq = answer.lastSeq;
      this.#tainted = true;
    }
    for (const record of answer.records) {
      if (record.seq <= this.#logSeq) continue;
      assert(record.seq === this.#logSeq + 1, `log gap: have ${this.#logSeq}, got ${record.seq}`);
      const body = decodeRecord(record.data);
      for (const bytes of body.entries) this.#sm.apply(this.#sm.decodeEntry(bytes));
      this.#logSeq = record.seq;
      this.#logEpoch = Math.max(this.#logEpoch, body.epoch);
    }
    if (this.#role !== "catching-up") return [];
    // A newer leader has written: our lease is stale even if we have not heard so yet. Appending
    // now would succeed (the expected sequence matches) but put an older epoch after a newer one.
    if (this.#logEpoch > this.#epoch) return this.stepDown(`the log has epoch ${this.#logEpoch}, ours is ${this.#epoch}`);
    if (this.#logSeq < answer.lastSeq) return [this.#read()];
    // Caught up as of the read; the marker append proves nobody appended since.
    const marker = this.#newBatch();
    this.#inFlight = marker;
    return [this.#sendAppend(marker)];
  }

  #flush(): DriverAction<R>[] {
    if (this.#role !== "leader" || this.#inFlight !== null) return [];
    const batch = this.#pending;
    if (batch.entries.length > 0) {
      this.#pending = this.#newBatch();
      this.#inFlight = batch;
      return [this.#sendAppend(batch)];
    }
    if (batch.executions.length > 0) {
      this.#pending = this.#newBatch();
      if (this.#options.faults?.noReadBarrier) return batch.executions.map((execution) => ({ kind: "reply" as const, execution }));
      this.#inFlight = batch;
      return [this.#sendBarrier()];
    }
    return [];
  }

  #sendAppend(batch: Batch<R>): DriverAction<R> {
    if (batch.data === undefined) {
      batch.expectedLastSeq = this.#options.faults?.unfenced ? undefined : this.#logSeq;
      batch.data = encodeRecord({ node: this.#options.node, epoch: this.#epoch, entries: batch.entries });
    }
    this.#appendToken = this.#nextToken++;
    return {
      kind: "append",
      token: this.#appendToken,
      data: batch.data,
      expectedLastSeq: batch.expectedLastSeq,
      msgId: batch.msgId,
      writes: batch.writes,
    };
  }

  #sendBarrier(): DriverAction<R> {
    this.#barrierToken = this.#nextToken++;
    return { kind: "last-seq", token: this.#barrierToken };
  }

  #read(): DriverAction<R> {
    this.#readToken = this.#nextToken++;
    return { kind: "read", token: this.#readToken, fromSeq: this.#logSeq + 1 };
  }

  #newBatch(): Batch<R> {
    const msgId = `${this.#options.node}.${this.#options.incarnation}.${this.#batchCounter++}`;
    return { msgId, entries: [], writes: [], executions: [], retries: 0 };
  }

  /** Forget the in-memory state: it may hold executions the log never got. Replay from the start. */
  #rebuild(): void {
    this.#sm = this.#options.createStateMachine();
    this.#logSeq = 0;
    this.#logEpoch = 0;
    this.#tainted = false;
    this.#readToken = 0;
    this.#lastWrite = { seq: 0 };
  }
}
