/**
 * The quorum journal's replicas in memory, for the simulation (quorum-sim.ts): a SimJournalServer
 * is one nats-server holding one R1 stream, a SimReplica is one process's connection to it and
 * implements QuorumReplica exactly as JournalReplica does over the wire.
 *
 * What the fake keeps of JetStream (quorum-replica.ts relies on each):
 * - slots are write-once: a publish names the expected last sequence and is refused otherwise;
 *   `Nats-Expected-Last-Msg-Id` is checked against the id of the last stored record as the server
 *   remembers it (in memory; after a restart only if stored within the duplicate window);
 * - `Nats-Msg-Id` de-duplication within the duplicate window, checked after the expected last
 *   sequence and before the expected last id, as nats-server 2.15 does (a duplicate is
 *   acknowledged with the sequence of the first copy and stores nothing; the order is pinned by
 *   the contract suite, quorum-replica-contract.ts);
 * - purge below a sequence keeps the last sequence; delete + add with `first_seq` (recreate); a
 *   server that lost its disk has no stream (reads fail, a view reports it missing, ensure (a new journal) and a replacement create one);
 * - streams have names (streamNameFor, as JournalReplica derives them): a delete names the stream
 *   it deletes and finds nothing once that one is gone; a create is refused while another stream
 *   holds the subject, and succeeds again for the same name and first sequence; a view names the
 *   stream it read, and its second request (the last record's id) asks that stream; a view of a
 *   server without the stream fails with ReplicaMissingError; every restart is a new server run.
 *   Not modelled: nats-server's unserialised overlap check (two differently named concurrent
 *   creates both succeeding) — the journal's names make those creates the same one;
 * - publishes on one connection arrive in the order sent (other requests may overtake each other);
 * - what is several requests over the wire is several here, with other processes' requests in
 *   between: a view is stream info then a direct get of the last record, a recreate is a delete
 *   then an add (which fails if the stream exists again, e.g. created meanwhile by a view).
 *
 * Faults, drawn from the run's random stream: per-request delays with spikes (so requests of
 * different processes interleave and time out while still arriving later), lost answers (the
 * request took effect, the client times out), a crashed server (the client notices at once and
 * fails calls in flight; requests on the wire are dropped or, as the NATS client's reconnect
 * buffer does, delivered when the server returns), a paused server (requests wait, the client
 * times out) and disk loss. A crashed process's requests already sent still arrive.
 */
import type { SimLoop, SimProcess } from "./quorum-sim-loop.ts";
import type { SimRandom } from "./quorum-sim-prng.ts";
import {
  ReplicaMissingError, ReplicaUnavailableError, streamNameFor, type PublishOutcome, type QuorumReplica, type ReplicaEntry, type ReplicaView,
} from "./quorum-replica.ts";

/** The log's name in the simulation (stream names are derived from it). */
const simLog = "sim";

/** How hostile the network is at the moment (the simulation turns faults off to check liveness). */
export interface SimNetConditions {
  /** Normal one-way delay is uniform in 0..baseDelayMaxMs. */
  baseDelayMaxMs: number;
  /** Probability that a message is delayed by up to spikeMaxMs instead. */
  spikeRate: number;
  spikeMaxMs: number;
  /** Probability that an answer (or a store notification) is lost. */
  lossRate: number;
  /** When a server crashes: probability that a request on the wire is delivered when it returns. */
  bufferRate: number;
}

/** A record as stored: its data, the writer's id, and when it was stored (for the duplicate window). */
export interface StoredRecord {
  readonly seq: number;
  readonly msgId: string;
  readonly data: Uint8Array;
  readonly storedAtMs: number;
}

class StreamMissing extends Error {
  override name = "StreamMissing";
}

type PublishAck = { readonly kind: "ack"; readonly seq: number } | { readonly kind: "refused" };

/** The network between the processes and the three servers: delays, losses, ordering. */
export class SimJournalNet {
  readonly loop: SimLoop;
  readonly random: SimRandom;
  conditions: SimNetConditions;

  constructor(loop: SimLoop, random: SimRandom, conditions: SimNetConditions) {
    this.loop = loop;
    this.random = random;
    this.conditions = conditions;
  }

  delayMs(): number {
    const c = this.conditions;
    if (this.random.chance(c.spikeRate)) return this.random.int(0, c.spikeMaxMs);
    return this.random.int(0, c.baseDelayMaxMs);
  }

  lost(): boolean {
    return this.random.chance(this.conditions.lossRate);
  }
}

export type ServerState = "up" | "crashed" | "paused";

/** One nats-server with the journal's stream (one per replica index). */
export class SimJournalServer {
  readonly index: number;
  readonly #net: SimJournalNet;
  readonly #duplicateWindowMs: number;
  #state: ServerState = "up";
  #crashes = 0;
  // The stream: its name (undefined when there is none) and the first sequence it was created with.
  #stream: string | undefined;
  #createdFirst = 1;
  /** Restarts so far: a server's id is new at every start. */
  #runs = 0;
  /** The broken variant "fixed-name-delete" (quorum-sim.ts): a delete takes whatever stream there is. */
  readonly #deleteIgnoresName: boolean;
  #first = 1;
  #last = 0;
  #records = new Map<number, StoredRecord>();
  #dedupe = new Map<string, { readonly seq: number; readonly atMs: number }>();
  #lastMsgId: string | undefined;
  /** Requests that arrived while paused, or sat in reconnect buffers while crashed. */
  #waiting: (() => void)[] = [];
  /** Calls in flight, failed at once when the server crashes (the client sees the socket close). */
  readonly inFlight = new Set<() => void>();
  readonly #subscribers = new Set<() => void>();
  /** Called after every change of the stream (the simulation's checkers). */
  onChange: (server: SimJournalServer, what: string) => void = () => {};

  constructor(index: number, net: SimJournalNet, duplicateWindowMs: number, options: { readonly deleteIgnoresName?: boolean } = {}) {
    this.index = index;
    this.#net = net;
    this.#duplicateWindowMs = duplicateWindowMs;
    this.#deleteIgnoresName = options.deleteIgnoresName ?? false;
  }

  get state(): ServerState {
    return this.#state;
  }

  /** The server's id in this run (nats-server's server_id, new at every start). */
  get runId(): string {
    return `server-${this.index}-run-${this.#runs}`;
  }

  /** Every crash breaks every connection to the server. */
  get crashes(): number {
    return this.#crashes;
  }

  get exists(): boolean {
    return this.#stream !== undefined;
  }

  /** The stream's name (undefined: none). */
  get stream(): string | undefined {
    return this.#stream;
  }

  get first(): number {
    return this.#first;
  }

  get last(): number {
    return this.#last;
  }

  record(seq: number): StoredRecord | undefined {
    return this.#records.get(seq);
  }

  /** Every record held, in order. */
  records(): StoredRecord[] {
    return [...this.#records.values()].sort((a, b) => a.seq - b.seq);
  }

  // --- faults --------------------------------------------------------------------------------------

  crash(): void {
    if (this.#state === "crashed") return;
    this.#state = "crashed";
    this.#crashes++;
    for (const fail of [...this.inFlight]) fail();
    this.inFlight.clear();
  }

  pause(): void {
    if (this.#state === "up") this.#state = "paused";
  }

  /** Back up (after a crash or a pause); requests held for it are processed in order. */
  resume(): void {
    if (this.#state === "crashed") {
      this.#runs++;
      // The server rebuilds its de-duplication state (and the last id) from the records still within the window.
      const now = this.#net.loop.nowMs;
      this.#dedupe = new Map([...this.#records.values()].filter((r) => now - r.storedAtMs < this.#duplicateWindowMs).map((r) => [r.msgId, { seq: r.seq, atMs: r.storedAtMs }]));
      const last = this.#records.get(this.#last);
      this.#lastMsgId = last !== undefined && now - last.storedAtMs < this.#duplicateWindowMs ? last.msgId : undefined;
    }
    this.#state = "up";
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const work of waiting) work();
  }

  /** The server's disk is gone: it comes back without the stream. Only while crashed. */
  loseDisk(): void {
    this.#wipe();
    this.onChange(this, "disk lost");
  }

  /** No stream, no records: what a lost disk and a deleted stream leave. */
  #wipe(): void {
    this.#stream = undefined;
    this.#records.clear();
    this.#dedupe.clear();
    this.#lastMsgId = undefined;
    this.#first = 1;
    this.#last = 0;
  }

  /** A request arrives: processed now, when the server resumes, or never. */
  arrive(work: () => void): void {
    if (this.#state === "up") work();
    else if (this.#state === "paused") this.#waiting.push(work);
    else if (this.#net.random.chance(this.#net.conditions.bufferRate)) this.#waiting.push(work);
  }

  subscribe(onStored: () => void): () => void {
    this.#subscribers.add(onStored);
    return () => this.#subscribers.delete(onStored);
  }

  // --- the stream's operations (run on arrival) --------------------------------------------------

  #create(name: string, firstSeq: number): void {
    this.#stream = name;
    this.#createdFirst = firstSeq;
    this.#records.clear();
    this.#dedupe.clear();
    this.#lastMsgId = undefined;
    this.#first = firstSeq;
    this.#last = firstSeq - 1;
    this.onChange(this, `created ${name} from ${firstSeq}`);
  }

  /** Creates a stream named `name` when there is none. */
  ensure(name: string): void {
    if (this.#stream === undefined) this.#create(name, 1);
  }

  /** Stream info of the stream holding the subject; null when there is none. */
  info(): { readonly stream: string; readonly first: number; readonly last: number; readonly messages: number } | null {
    if (this.#stream === undefined) return null;
    return { stream: this.#stream, first: this.#records.size === 0 ? this.#last + 1 : this.#first, last: this.#last, messages: this.#records.size };
  }

  /** Direct get; `stream` names the stream asked (undefined: the one holding the subject). */
  entryAt(seq: number, stream?: string): ReplicaEntry | null {
    if (this.#stream === undefined || (stream !== undefined && stream !== this.#stream)) throw new StreamMissing("stream not found");
    const record = this.#records.get(seq);
    return record === undefined ? null : { seq, data: record.data, msgId: record.msgId };
  }

  /** Direct get batch: up to `count` records from the first one at or after `from`. */
  batch(from: number, count: number): ReplicaEntry[] {
    if (this.#stream === undefined) throw new StreamMissing("stream not found");
    const out: ReplicaEntry[] = [];
    for (let seq = Math.max(from, this.#first); seq <= this.#last && out.length < count; seq++) {
      const record = this.#records.get(seq);
      if (record !== undefined) out.push({ seq, data: record.data, msgId: record.msgId });
    }
    return out;
  }

  publish(data: Uint8Array, expectedLast: number, msgId: string, previousId: string | undefined): PublishAck {
    // No stream: nobody answers on the subject (no responders), an error for the client.
    if (this.#stream === undefined) throw new StreamMissing("no responders");
    const now = this.#net.loop.nowMs;
    if (this.#last !== expectedLast) return { kind: "refused" };
    const duplicate = this.#dedupe.get(msgId);
    if (duplicate !== undefined && now - duplicate.atMs < this.#duplicateWindowMs) return { kind: "ack", seq: duplicate.seq };
    if (previousId !== undefined && previousId !== this.#lastMsgId) return { kind: "refused" };
    const seq = this.#last + 1;
    this.#records.set(seq, { seq, msgId, data, storedAtMs: now });
    this.#last = seq;
    if (this.#records.size === 1) this.#first = seq;
    this.#lastMsgId = msgId;
    this.#dedupe.set(msgId, { seq, atMs: now });
    this.onChange(this, `stored ${seq} ${msgId}`);
    for (const notify of this.#subscribers) notify();
    return { kind: "ack", seq };
  }

  purgeBefore(firstKept: number): void {
    if (this.#stream === undefined) throw new StreamMissing("stream not found");
    for (const seq of [...this.#records.keys()]) if (seq < firstKept) this.#records.delete(seq);
    if (firstKept > this.#last + 1) this.#last = firstKept - 1;
    this.#first = Math.max(this.#first, firstKept);
    this.onChange(this, `purged below ${firstKept}`);
  }

  /** Deletes stream `name` if it exists. `by`: who sent the request and when (for the trace: deletes that arrive late matter). */
  deleteStream(name: string, by: string): void {
    if (this.#stream !== name && !(this.#deleteIgnoresName && this.#stream !== undefined)) {
      this.onChange(this, `delete of ${name} found no such stream (${by})`);
      throw new StreamMissing("stream not found");
    }
    const deleted = this.#stream;
    this.#wipe();
    this.onChange(this, `deleted ${deleted} (${by})`);
  }

  /** Creates stream `name`; refused while another stream holds the subject, a no-op if it is this one, alike. */
  addStream(name: string, firstSeq: number): void {
    if (this.#stream === name && this.#createdFirst === firstSeq) return;
    if (this.#stream === name) throw new Error("stream name already in use with a different configuration");
    if (this.#stream !== undefined) throw new Error("subjects overlap with an existing stream");
    this.#create(name, firstSeq);
  }
}

/** One process's connection to one server: QuorumReplica as JournalReplica implements it. */
export class SimReplica implements QuorumReplica {
  readonly index: number;
  readonly #server: SimJournalServer;
  readonly #process: SimProcess;
  readonly #net: SimJournalNet;
  readonly #timeoutMs: number;
  /** Publishes on one connection arrive in order. */
  #lastPublishArrivalMs = 0;

  constructor(server: SimJournalServer, process: SimProcess, net: SimJournalNet, timeoutMs: number) {
    this.index = server.index;
    this.#server = server;
    this.#process = process;
    this.#net = net;
    this.#timeoutMs = timeoutMs;
  }

  get name(): string {
    return `sim@${this.index}`;
  }

  get disconnects(): number {
    return this.#server.crashes;
  }

  /** Sends `operation` to the server; it runs there on arrival, its answer may come back. */
  #call<T>(what: string, operation: (server: SimJournalServer) => T, ordered = false): Promise<T> {
    const process = this.#process;
    // A dead process sends nothing and hears nothing.
    if (process.dead) return new Promise<T>(() => {});
    const server = this.#server;
    if (server.state === "crashed") return Promise.reject(new ReplicaUnavailableError(`${this.name}: not connected to its server`));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (deliver: () => void): void => {
        if (settled || process.dead) return;
        settled = true;
        process.timers.clearTimeout(timeout);
        server.inFlight.delete(onLost);
        deliver();
      };
      const onLost = (): void => settle(() => reject(new ReplicaUnavailableError(`${this.name}: connection to its server lost (${what})`)));
      const timeout = process.timers.setTimeout(() => settle(() => reject(new ReplicaUnavailableError(`${what} on ${this.name} timed out`))), this.#timeoutMs);
      server.inFlight.add(onLost);
      const loop = this.#net.loop;
      let arrivalMs = loop.nowMs + this.#net.delayMs();
      if (ordered) {
        arrivalMs = Math.max(arrivalMs, this.#lastPublishArrivalMs);
        this.#lastPublishArrivalMs = arrivalMs;
      }
      loop.after(arrivalMs - loop.nowMs, () => server.arrive(() => {
        let answer: () => void;
        try {
          const result = operation(server);
          answer = () => resolve(result);
        } catch (err) {
          answer = () => reject(new ReplicaUnavailableError(`${what} on ${this.name} failed: ${err instanceof Error ? err.message : String(err)}`));
        }
        if (this.#net.lost()) return;
        loop.after(this.#net.delayMs(), () => {
          if (server.state !== "crashed") settle(answer);
        });
      }));
    });
  }

  async ensure(): Promise<void> {
    const name = streamNameFor(simLog, { kind: "open", serverRun: this.#server.runId });
    await this.#call("create", (s) => s.ensure(name));
  }

  async view(): Promise<ReplicaView> {
    const info = await this.#call("view", (s) => s.info());
    if (info === null) throw new ReplicaMissingError(this.name, []);
    if (info.messages === 0) return { stream: info.stream, first: info.last + 1, last: info.last, lastId: undefined };
    const last = await this.#call(`read ${info.last}`, (s) => s.entryAt(info.last, info.stream));
    return { stream: info.stream, first: info.first, last: info.last, lastId: last?.msgId };
  }

  entryAt(seq: number): Promise<ReplicaEntry | null> {
    return this.#call(`read ${seq}`, (s) => s.entryAt(seq));
  }

  async read(from: number, to: number, batchSize: number, onEntry: (entry: ReplicaEntry) => void): Promise<void> {
    let next = from;
    while (next <= to) {
      const count = Math.min(batchSize, to - next + 1);
      const entries = await this.#call(`read ${next}..${next + count - 1}`, (s) => s.batch(next, count));
      if (entries.length === 0) throw new ReplicaUnavailableError(`${this.name} returned nothing at ${next}`);
      for (const entry of entries) {
        if (entry.seq !== next) throw new ReplicaUnavailableError(`${this.name} has a gap: expected ${next}, got ${entry.seq}`);
        onEntry(entry);
        next++;
        if (next > to) break;
      }
    }
  }

  async publish(data: Uint8Array, expectedLast: number, msgId: string, previousId?: string): Promise<PublishOutcome> {
    const seq = expectedLast + 1;
    const ack = await this.#call(`append ${seq}`, (s) => s.publish(data, expectedLast, msgId, previousId), true);
    if (ack.kind === "ack") return ack.seq === seq ? { kind: "stored" } : { kind: "taken", holderId: undefined };
    const holder = await this.entryAt(seq);
    return { kind: "taken", holderId: holder?.msgId };
  }

  onPublish(onStored: () => void): () => void {
    const process = this.#process;
    return this.#server.subscribe(() => {
      if (this.#net.lost()) return;
      this.#net.loop.after(this.#net.delayMs(), () => {
        if (!process.dead) onStored();
      });
    });
  }

  async purgeBefore(firstKept: number): Promise<void> {
    await this.#call(`purge below ${firstKept}`, (s) => s.purgeBefore(firstKept));
  }

  async recreate(judged: readonly string[], firstSeq: number): Promise<void> {
    for (const stream of judged) {
      try {
        const by = `by ${this.#process.name}, sent at ${this.#net.loop.nowMs} ms`;
        await this.#call(`delete`, (s) => s.deleteStream(stream, by));
      } catch (err) {
        if (!(err instanceof ReplicaUnavailableError && err.message.includes("stream not found"))) throw err;
      }
    }
    // Named as the client knows the server when it sends (its connection's server id).
    const name = streamNameFor(simLog, { kind: "replace", judged, serverRun: this.#server.runId });
    await this.#call(`recreate from ${firstSeq}`, (s) => s.addStream(name, firstSeq));
  }
}
