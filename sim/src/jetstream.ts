/**
 * A fake JetStream with only the semantics Antler relies on, driven by the simulation's event
 * loop. Every request travels to the "server" after a seeded delay, takes effect there at one
 * instant, and its answer travels back after another delay. The answer can be lost (the caller
 * then sees a timeout although the request took effect, as with real NATS), and the whole
 * service can be unavailable for a while (a JetStream leader election: 4-9 s measured here).
 *
 * Semantics kept (checked against the real nats-server by jetstream-contract.ts):
 * - Streams: sequences start at 1, last sequence 0 when empty. `append` with an expected last
 *   sequence is refused with "wrong last sequence" unless it matches. A message id seen within the
 *   duplicate window returns the original sequence with `duplicate: true` - but the expected
 *   sequence is checked first (as nats-server 2.15 does), so the retry of an append whose ack was
 *   lost is refused as a wrong sequence; the appender then looks at the record after its expected
 *   sequence (`messageAt`) to see whether it is its own.
 * - KV: revisions are per bucket and increase; `create` refuses an existing key (a deleted one is
 *   absent: `get` answers null and `create` succeeds again); `update` is a compare-and-set on the
 *   key's revision. A watch reports the key's current value first and then
 *   its later values, in revision order; a watcher that cannot be reached (partition, outage)
 *   misses nothing but the intermediate values: once it can be reached it gets the newest one.
 *   That is what a KV watch on a bucket keeping one revision per key gives, and all a lease
 *   needs: watchers must never rely on seeing every revision.
 * Every callback runs exactly once: the answer or a timeout, never both.
 */
import { assert } from "@antler/base";
import type { EventLoop } from "./loop.ts";
import type { Prng } from "./prng.ts";

export interface JetStreamFaults {
  /** One-way delay to and from the server, uniform in [min, max] ms. */
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Probability that a request is applied but its answer is lost. */
  readonly answerLossProbability: number;
  /** Probability that a request is lost before it reaches the server. */
  readonly requestLossProbability: number;
  /**
   * Probability that a request takes up to `stallMaxMs` to reach the server (TCP retransmission
   * after a lost segment, a congested route): it still arrives, long after its caller gave up.
   */
  readonly stallProbability?: number;
  readonly stallMaxMs?: number;
}

export const reliableJetStream: JetStreamFaults = {
  delayMinMs: 1,
  delayMaxMs: 3,
  answerLossProbability: 0,
  requestLossProbability: 0,
};

/** nats-server's default duplicate window (2 minutes). */
export const duplicateWindowMs = 120_000;

export interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly msgId: string | undefined;
  readonly storedAtMs: number;
}

export type AppendAnswer =
  | { readonly kind: "ok"; readonly seq: number; readonly duplicate: boolean }
  | { readonly kind: "wrong-last-sequence"; readonly lastSeq: number }
  | { readonly kind: "timeout" };

export type ReadAnswer = { readonly kind: "ok"; readonly messages: readonly StoredMessage[]; readonly lastSeq: number } | { readonly kind: "timeout" };
export type MessageAtAnswer = { readonly kind: "ok"; readonly message: StoredMessage | null } | { readonly kind: "timeout" };
export type LastSeqAnswer = { readonly kind: "ok"; readonly lastSeq: number } | { readonly kind: "timeout" };

export interface KvEntry {
  readonly value: Uint8Array;
  readonly revision: number;
}
export type KvWriteAnswer =
  | { readonly kind: "ok"; readonly revision: number }
  | { readonly kind: "wrong-last-sequence" }
  | { readonly kind: "timeout" };
export type KvGetAnswer = { readonly kind: "ok"; readonly entry: KvEntry | null } | { readonly kind: "timeout" };

/** A running KV watch. */
export interface KvWatch {
  stop(): void;
}

/** The two services a client reaches separately (a partition can cut one and not the other). */
export type JetStreamService = "stream" | "kv";

/**
 * How a client reaches a service now: "reachable"; "disconnected" (its connection to the NATS
 * server is down: the client library buffers what it publishes and sends it once reconnected);
 * "unrouted" (its server has no route to the service: requests are lost).
 */
export type Reach = "reachable" | "disconnected" | "unrouted";

export interface JetStreamClients {
  reach(client: string, service: JetStreamService): Reach;
  /** Changes when the client process restarts: a dead process's buffered requests are never sent. */
  generation(client: string): number;
}

/** How often a buffered request checks whether its client has reconnected. */
const reconnectPollMs = 20;

export interface AppendOptions {
  /** Refuse unless the stream's last sequence is this (0 = empty). Omitted: no fencing. */
  readonly expectedLastSeq?: number;
  /** Deduplication key (Nats-Msg-Id). */
  readonly msgId?: string;
  readonly timeoutMs: number;
}

type Timeout = { readonly kind: "timeout" };
const timeout: Timeout = { kind: "timeout" };

class StreamState {
  readonly messages: StoredMessage[] = [];
  readonly msgIds = new Map<string, StoredMessage>();

  get lastSeq(): number {
    return this.messages.length;
  }
}

class BucketState {
  readonly entries = new Map<string, KvEntry>();
  readonly watchers = new Set<Watcher>();
  revision = 0;
}

interface Watcher {
  readonly from: string;
  readonly key: string;
  readonly onEntry: (entry: KvEntry) => void;
  /** The newest revision handed to onEntry. */
  delivered: number;
  /** A delivery (or a retry of one) is scheduled. */
  scheduled: boolean;
  stopped: boolean;
}

/** How often a watch retries delivering to a watcher it cannot reach (the client's reconnect). */
const watchRetryMs = 50;

/** Observes every message stored, in order (the checkers' view of the durable log). */
export type StoreObserver = (stream: string, message: StoredMessage) => void;

export class FakeJetStream {
  readonly #loop: EventLoop;
  readonly #prng: Prng;
  #faults: JetStreamFaults;
  readonly #streams = new Map<string, StreamState>();
  readonly #buckets = new Map<string, BucketState>();
  #unavailableUntilMs = 0;
  readonly #observers: StoreObserver[] = [];
  readonly #clients: JetStreamClients;
  /** Watch deliveries draw their delays here, so that watches do not shift the other streams. */
  readonly #watchPrng: Prng;
  /** Stalls are drawn here, for the same reason. */
  readonly #stallPrng: Prng;
  /** Scenario hook: answers for which this returns true are lost. */
  #dropAnswer: ((label: string) => boolean) | null = null;

  /** `clients`: how each client reaches the services now (partitions, crashed nodes). */
  constructor(
    loop: EventLoop,
    prng: Prng,
    faults: JetStreamFaults = reliableJetStream,
    clients: JetStreamClients = { reach: () => "reachable", generation: () => 0 },
  ) {
    this.#loop = loop;
    this.#prng = prng;
    this.#watchPrng = prng.fork("watch");
    this.#stallPrng = prng.fork("stall");
    this.#faults = faults;
    this.#clients = clients;
  }

  setFaults(faults: JetStreamFaults): void {
    this.#faults = faults;
  }

  /** Scenario hook: lose the answers of the requests `drop` picks (by label, e.g. "js.append S"). */
  dropAnswers(drop: ((label: string) => boolean) | null): void {
    this.#dropAnswer = drop;
  }

  /** Requests arriving before `untilMs` get no answer (a stream/KV leader election). */
  outage(untilMs: number): void {
    this.#unavailableUntilMs = Math.max(this.#unavailableUntilMs, untilMs);
  }

  onStore(observer: StoreObserver): void {
    this.#observers.push(observer);
  }

  // --- Client API (asynchronous through the event loop) ---

  append(from: string, stream: string, data: Uint8Array, options: AppendOptions, done: (answer: AppendAnswer) => void): void {
    this.#request(from, `js.append ${stream}`, options.timeoutMs, () => this.appendNow(stream, data, options), done);
  }

  /** Messages from `fromSeq` (inclusive) to the end, as stored when the request arrives. */
  read(from: string, stream: string, fromSeq: number, timeoutMs: number, done: (answer: ReadAnswer) => void): void {
    this.#request(from, `js.read ${stream}`, timeoutMs, () => {
      const state = this.#stream(stream);
      return { kind: "ok" as const, messages: state.messages.slice(Math.max(0, fromSeq - 1)), lastSeq: state.lastSeq };
    }, done);
  }

  /** The message stored at `seq` (a direct get), or null. */
  messageAt(from: string, stream: string, seq: number, timeoutMs: number, done: (answer: MessageAtAnswer) => void): void {
    this.#request(from, `js.get ${stream}`, timeoutMs, () => ({ kind: "ok" as const, message: this.#stream(stream).messages[seq - 1] ?? null }), done);
  }

  /** The stream's last sequence (stream info), e.g. as a read barrier. */
  lastSeq(from: string, stream: string, timeoutMs: number, done: (answer: LastSeqAnswer) => void): void {
    this.#request(from, `js.info ${stream}`, timeoutMs, () => ({ kind: "ok" as const, lastSeq: this.#stream(stream).lastSeq }), done);
  }

  kvCreate(from: string, bucket: string, key: string, value: Uint8Array, timeoutMs: number, done: (answer: KvWriteAnswer) => void): void {
    this.#request(from, `kv.create ${bucket}/${key}`, timeoutMs, () => this.kvWriteNow(bucket, key, value, 0), done);
  }

  kvUpdate(from: string, bucket: string, key: string, value: Uint8Array, revision: number, timeoutMs: number, done: (answer: KvWriteAnswer) => void): void {
    this.#request(from, `kv.update ${bucket}/${key}`, timeoutMs, () => this.kvWriteNow(bucket, key, value, revision), done);
  }

  /** Removes the key (a delete marker: a later get answers null and a create succeeds again). */
  kvDelete(from: string, bucket: string, key: string, timeoutMs: number, done: (answer: { readonly kind: "ok" } | Timeout) => void): void {
    this.#request(from, `kv.delete ${bucket}/${key}`, timeoutMs, () => this.kvDeleteNow(bucket, key), done);
  }

  kvGet(from: string, bucket: string, key: string, timeoutMs: number, done: (answer: KvGetAnswer) => void): void {
    this.#request(from, `kv.get ${bucket}/${key}`, timeoutMs, () => ({ kind: "ok" as const, entry: this.kvPeek(bucket, key) }), done);
  }

  /**
   * Reports the key's current value (if any) and every later one, in revision order, until
   * stopped. Deliveries travel like answers (seeded delay) and wait while the watcher is cut off.
   */
  kvWatch(from: string, bucket: string, key: string, onEntry: (entry: KvEntry) => void): KvWatch {
    const state = this.#bucket(bucket);
    const watcher: Watcher = { from, key, onEntry, delivered: 0, scheduled: false, stopped: false };
    state.watchers.add(watcher);
    this.#pumpWatch(state, watcher);
    return {
      stop: () => {
        watcher.stopped = true;
        state.watchers.delete(watcher);
      },
    };
  }

  // --- Server side: the instant a request takes effect (also the checkers' direct view) ---

  appendNow(stream: string, data: Uint8Array, options: Omit<AppendOptions, "timeoutMs">): Exclude<AppendAnswer, Timeout> {
    const state = this.#stream(stream);
    const now = this.#loop.nowMs;
    if (options.expectedLastSeq !== undefined && options.expectedLastSeq !== state.lastSeq) {
      return { kind: "wrong-last-sequence", lastSeq: state.lastSeq };
    }
    if (options.msgId !== undefined) {
      const previous = state.msgIds.get(options.msgId);
      if (previous !== undefined && now - previous.storedAtMs <= duplicateWindowMs) {
        return { kind: "ok", seq: previous.seq, duplicate: true };
      }
    }
    const message: StoredMessage = { seq: state.lastSeq + 1, data: data.slice(), msgId: options.msgId, storedAtMs: now };
    state.messages.push(message);
    if (options.msgId !== undefined) state.msgIds.set(options.msgId, message);
    for (const observer of this.#observers) observer(stream, message);
    return { kind: "ok", seq: message.seq, duplicate: false };
  }

  /** expectedRevision 0 = create (the key must not exist). */
  kvWriteNow(bucket: string, key: string, value: Uint8Array, expectedRevision: number): Exclude<KvWriteAnswer, Timeout> {
    const state = this.#bucket(bucket);
    const current = state.entries.get(key);
    if ((current?.revision ?? 0) !== expectedRevision) return { kind: "wrong-last-sequence" };
    state.revision++;
    state.entries.set(key, { value: value.slice(), revision: state.revision });
    for (const watcher of state.watchers) if (watcher.key === key) this.#pumpWatch(state, watcher);
    return { kind: "ok", revision: state.revision };
  }

  /**
   * Deleting takes a revision, as the delete marker does in NATS; deleting an absent key is not an
   * error. Watchers are not told (the simulation watches only lease keys, which are never deleted).
   */
  kvDeleteNow(bucket: string, key: string): { readonly kind: "ok" } {
    const state = this.#bucket(bucket);
    state.revision++;
    state.entries.delete(key);
    return { kind: "ok" };
  }

  /** Every key of a bucket now, for checkers (no delay, no faults). */
  kvKeys(bucket: string): string[] {
    return [...this.#bucket(bucket).entries.keys()];
  }

  kvPeek(bucket: string, key: string): KvEntry | null {
    return this.#bucket(bucket).entries.get(key) ?? null;
  }

  /** Everything stored in a stream, for checkers (no delay, no faults). */
  messages(stream: string): readonly StoredMessage[] {
    return this.#stream(stream).messages;
  }

  #stream(name: string): StreamState {
    let state = this.#streams.get(name);
    if (state === undefined) {
      state = new StreamState();
      this.#streams.set(name, state);
    }
    return state;
  }

  #bucket(name: string): BucketState {
    let state = this.#buckets.get(name);
    if (state === undefined) {
      state = new BucketState();
      this.#buckets.set(name, state);
    }
    return state;
  }

  /** Delivers the newest value of the watcher's key to it, once it can be reached. */
  #pumpWatch(state: BucketState, watcher: Watcher): void {
    if (watcher.scheduled || watcher.stopped) return;
    const current = state.entries.get(watcher.key);
    if (current === undefined || current.revision <= watcher.delivered) return;
    watcher.scheduled = true;
    const loop = this.#loop;
    const delay = this.#watchPrng.int(this.#faults.delayMinMs, this.#faults.delayMaxMs);
    loop.after(delay, `kv.watch ${watcher.key} -> ${watcher.from}`, () => {
      watcher.scheduled = false;
      if (watcher.stopped) return;
      if (loop.nowMs < this.#unavailableUntilMs || this.#clients.reach(watcher.from, "kv") !== "reachable") {
        watcher.scheduled = true;
        loop.after(watchRetryMs, `kv.watch ${watcher.key} -> ${watcher.from} retry`, () => {
          watcher.scheduled = false;
          this.#pumpWatch(state, watcher);
        });
        return;
      }
      const newest = state.entries.get(watcher.key)!;
      if (newest.revision <= watcher.delivered) return;
      watcher.delivered = newest.revision;
      watcher.onEntry(newest);
      // Changed again while this delivery travelled: deliver the newer value too.
      this.#pumpWatch(state, watcher);
    });
  }

  /**
   * One request/answer exchange. The effect happens at arrival; the caller gets exactly one
   * callback: the answer if it arrives within timeoutMs, else a timeout at the deadline.
   */
  #request<T>(from: string, label: string, timeoutMs: number, serve: () => T, done: (answer: T | Timeout) => void): void {
    assert(timeoutMs > 0, "a request needs a timeout");
    const faults = this.#faults;
    const loop = this.#loop;
    const deadline = loop.nowMs + timeoutMs;
    let answered = false;
    const finish = (answer: T | Timeout): void => {
      if (answered) return;
      answered = true;
      timer.cancel();
      done(answer);
    };
    const timer = loop.at(deadline, `${label} timeout`, () => finish(timeout));
    const service: JetStreamService = label.startsWith("kv.") ? "kv" : "stream";
    const reachable = (): boolean => this.#clients.reach(from, service) === "reachable";
    const generation = this.#clients.generation(from);
    const travel = (): void => {
      const stalled = this.#stallPrng.chance(faults.stallProbability ?? 0);
      const delay = stalled ? this.#stallPrng.int(this.#faults.delayMaxMs, faults.stallMaxMs ?? 2_000) : this.#delay();
      loop.after(delay, `${label} arrives`, () => {
        if (loop.nowMs < this.#unavailableUntilMs || !reachable()) return;
        const answer = serve();
        if (this.#prng.chance(faults.answerLossProbability) || this.#dropAnswer?.(label) === true) return;
        loop.after(this.#delay(), `${label} answer`, () => {
          if (reachable()) finish(answer);
        });
      });
    };
    // A request published while disconnected waits in the client's reconnect buffer and goes out
    // when the connection is back, even after its caller gave up waiting: the late append that
    // only fencing stops. It dies with its process.
    const whenConnected = (): void => {
      if (this.#clients.generation(from) !== generation) return;
      const reach = this.#clients.reach(from, service);
      if (reach === "disconnected") loop.after(reconnectPollMs, `${label} buffered`, whenConnected);
      else if (reach === "reachable") travel();
    };
    if (this.#prng.chance(faults.requestLossProbability)) return;
    whenConnected();
  }

  #delay(): number {
    return this.#prng.int(this.#faults.delayMinMs, this.#faults.delayMaxMs);
  }
}
