/**
 * One simulated shard replica: the shell around ShardDriver (shard-driver.ts), playing the part of
 * the real shard server. It carries out the driver's actions against the fake JetStream, holds
 * the leader lease (a KV key renewed by compare-and-set, with an epoch that grows on every
 * takeover), answers metadata requests from the network, and can crash (losing everything in
 * memory) and restart (rebuilding from the log).
 *
 * The lease rules, as ARCHITECTURE §4 puts them: the holder renews every `renewMs`; a standby
 * that has seen the same revision for `leaseMs` on its own clock takes over with the next epoch;
 * a holder that could not renew for `leaseMs` stops leading. Clocks drift, so two replicas can
 * briefly both believe they lead: safety comes from the log's fencing, never from the lease.
 */
import { decodeMessage, encodeMessage, type Command, type Ctx, type Result } from "@antler/ops";
import type { NodeClock } from "./clock.ts";
import type { FakeJetStream } from "./jetstream.ts";
import type { EventLoop } from "./loop.ts";
import type { Network } from "./network.ts";
import { ShardDriver, type DriverAction, type DriverFaults, type Execution, type StateMachine } from "./shard-driver.ts";

/** Messages between gateways and shard replicas (NATS request/reply in the real system). */
export type MetaMessage =
  | { readonly kind: "meta-request"; readonly token: number; readonly cmd: Command; readonly ctx: Ctx }
  | { readonly kind: "meta-reply"; readonly token: number; readonly result: Result; readonly execId: string };

export interface ShardTiming {
  readonly leaseMs: number;
  readonly renewMs: number;
  readonly pollMs: number;
  readonly requestTimeoutMs: number;
  readonly appendRetriesMax: number;
}

export const defaultShardTiming: ShardTiming = {
  leaseMs: 1_000,
  renewMs: 250,
  pollMs: 100,
  requestTimeoutMs: 300,
  appendRetriesMax: 30,
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
}

export interface ShardNodeOptions {
  readonly id: string;
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
}

interface LeaseValue {
  readonly holder: string;
  readonly epoch: number;
}

export class ShardNode {
  readonly id: string;
  readonly #o: ShardNodeOptions;
  #incarnation = 0;
  #alive = false;
  #driver: ShardDriver<MetaRequestRef> | null = null;
  /** Lease revision while this replica holds it (leads or is catching up to lead). */
  #leaseRevision: number | null = null;
  #leaseEpoch = 0;
  #lastRenewedLocalMs = 0;
  #leaseBusy = false;
  #observedRevision = 0;
  #observedSinceLocalMs = 0;
  #execCounter = 0;
  /** A stop-the-world pause (GC, VM freeze): nothing runs in this process until then. */
  #pausedUntilMs = 0;

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
    const lease = this.#leaseRevision === null ? "no lease" : `lease rev ${this.#leaseRevision} epoch ${this.#leaseEpoch}`;
    return `${this.id} (incarnation ${this.#incarnation}, ${lease}${this.#leaseBusy ? ", lease op in flight" : ""}): ${this.#driver!.describe()}`;
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
    });
    this.#leaseRevision = null;
    this.#leaseBusy = false;
    this.#observedRevision = 0;
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
    every(this.#o.timing.renewMs, `${this.id} lease`, () => this.#leaseTick());
    every(this.#o.timing.pollMs, `${this.id} poll`, () => {
      const driver = this.#driver!;
      this.#run(driver.role === "leader" ? driver.tick(this.#o.clock.nowMs()) : driver.poll());
    });
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
    this.#o.network.setDown(this.id, true);
  }

  #receive(from: string, message: MetaMessage): void {
    if (!this.#alive || message.kind !== "meta-request") return;
    // Requests cross a real wire: encode and decode them as the shard server would.
    const decoded = decodeMessage(encodeMessage({ cmd: message.cmd, ctx: message.ctx })) as { cmd: Command; ctx: Ctx };
    const actions = this.#driver!.execute({ from, token: message.token }, decoded.cmd, decoded.ctx, this.#o.clock.nowMs());
    if (actions !== null) this.#run(actions);
  }

  #run(actions: readonly DriverAction<MetaRequestRef>[]): void {
    const { js, timing, stream } = this.#o;
    const incarnation = this.#incarnation;
    const current = (): ShardDriver<MetaRequestRef> | null => (this.#incarnation === incarnation && this.#alive ? this.#driver : null);
    for (const action of actions) {
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
        case "reply": {
          const execId = `${this.id}.${this.#incarnation}.${this.#execCounter++}`;
          this.#o.observer.replied(this.id, execId, action.execution);
          const { from, token } = action.execution.request;
          this.#o.network.send(this.id, from, { kind: "meta-reply", token, result: action.execution.result, execId });
          break;
        }
        case "stepped-down":
          this.#leaseRevision = null;
          this.#o.observer.steppedDown(this.id, action.reason);
          break;
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

  #leaseTick(): void {
    if (this.#leaseBusy) return;
    const { js, leaseBucket, leaseKey, timing, clock } = this.#o;
    const incarnation = this.#incarnation;
    const live = (): boolean => this.#incarnation === incarnation && this.#alive;
    const startedLocalMs = clock.nowMs();
    this.#leaseBusy = true;
    const done = (): void => {
      if (live()) this.#leaseBusy = false;
    };

    if (this.#leaseRevision !== null) {
      const value = encodeLease({ holder: this.id, epoch: this.#leaseEpoch });
      js.kvUpdate(this.id, leaseBucket, leaseKey, value, this.#leaseRevision, timing.requestTimeoutMs, this.#awake((answer) => {
        done();
        if (!live() || this.#leaseRevision === null) return;
        if (answer.kind === "ok") {
          this.#leaseRevision = answer.revision;
          // Measured from when the renewal was sent: the lease is at least that fresh.
          this.#lastRenewedLocalMs = startedLocalMs;
        } else if (answer.kind === "wrong-last-sequence") {
          this.#confirmLease(startedLocalMs);
        } else if (clock.nowMs() - this.#lastRenewedLocalMs >= timing.leaseMs) {
          this.#loseLease("lease not renewed in time");
        }
      }));
      return;
    }

    js.kvGet(this.id, leaseBucket, leaseKey, timing.requestTimeoutMs, this.#awake((answer) => {
      done();
      if (!live() || answer.kind !== "ok" || this.#leaseRevision !== null) return;
      const entry = answer.entry;
      if (entry === null) {
        this.#claim(1, 0, startedLocalMs);
        return;
      }
      if (entry.revision !== this.#observedRevision) {
        this.#observedRevision = entry.revision;
        this.#observedSinceLocalMs = clock.nowMs();
        return;
      }
      if (clock.nowMs() - this.#observedSinceLocalMs >= timing.leaseMs) {
        this.#claim(decodeLease(entry.value).epoch + 1, entry.revision, startedLocalMs);
      }
    }));
  }

  /**
   * A renewal was refused as stale. That happens when an earlier renewal took effect but its
   * answer was lost, so look: if the key still names this holder and epoch, nobody took over and
   * its revision is ours; otherwise the lease is gone.
   */
  #confirmLease(startedLocalMs: number): void {
    const { js, leaseBucket, leaseKey, timing } = this.#o;
    const incarnation = this.#incarnation;
    const epoch = this.#leaseEpoch;
    this.#leaseBusy = true;
    js.kvGet(this.id, leaseBucket, leaseKey, timing.requestTimeoutMs, this.#awake((answer) => {
      if (this.#incarnation !== incarnation || !this.#alive) return;
      this.#leaseBusy = false;
      if (this.#leaseRevision === null || this.#leaseEpoch !== epoch) return;
      if (answer.kind === "timeout") return; // try again at the next renewal
      const current = answer.entry === null ? null : decodeLease(answer.entry.value);
      if (answer.entry !== null && current?.holder === this.id && current.epoch === epoch) {
        this.#leaseRevision = answer.entry.revision;
        this.#lastRenewedLocalMs = startedLocalMs;
        this.#o.observer.note(`${this.id} found its own lease renewal (its answer was lost)`);
        return;
      }
      this.#loseLease("lease taken over");
    }));
  }

  #claim(epoch: number, revision: number, startedLocalMs: number): void {
    const { js, leaseBucket, leaseKey, timing } = this.#o;
    const incarnation = this.#incarnation;
    this.#leaseBusy = true;
    const write = (done: (answer: import("./jetstream.ts").KvWriteAnswer) => void): void => {
      const value = encodeLease({ holder: this.id, epoch });
      if (revision === 0) js.kvCreate(this.id, leaseBucket, leaseKey, value, timing.requestTimeoutMs, done);
      else js.kvUpdate(this.id, leaseBucket, leaseKey, value, revision, timing.requestTimeoutMs, done);
    };
    write(this.#awake((answer) => {
      if (this.#incarnation !== incarnation || !this.#alive) return;
      this.#leaseBusy = false;
      if (answer.kind !== "ok") return;
      this.#leaseRevision = answer.revision;
      this.#leaseEpoch = epoch;
      this.#lastRenewedLocalMs = startedLocalMs;
      this.#run(this.#driver!.lead(epoch));
    }));
  }

  #loseLease(reason: string): void {
    this.#leaseRevision = null;
    this.#run(this.#driver!.stepDown(reason));
  }
}

function encodeLease(value: LeaseValue): Uint8Array {
  return encodeMessage(value);
}

export function decodeLease(bytes: Uint8Array): LeaseValue {
  const value = decodeMessage(bytes) as Partial<LeaseValue>;
  if (typeof value.holder !== "string" || typeof value.epoch !== "number") throw new Error("malformed lease value");
  return { holder: value.holder, epoch: value.epoch };
}
