/**
 * One replica of a quorum journal (ADR 0007): an R1 JetStream stream on one NATS server, holding
 * exactly one subject, so stream sequence = journal position. Every slot is written at most once:
 * a publish carries `Nats-Expected-Last-Sequence`, so slot k can only be filled when the stream
 * ends at k - 1 and never overwritten. The journal's safety argument rests on that alone.
 *
 * Each record carries its writer's `Nats-Msg-Id`, which identifies it across replicas (a record
 * copied to another replica keeps it). This class only speaks to its own server; the quorum
 * logic lives in quorum-log-stream.ts.
 *
 * Stream names (ADR 0007, "Replacing a replica"). The replica is the one stream of the log that
 * holds its subject on that server; its name is `<log>_<token>`, the token a hash of why it was
 * created (streamNameFor). Replacing a replica deletes the stream that was judged, by name, and
 * creates its successor. JetStream's delete has no precondition, so a delete that reaches the
 * server late (a stalled writer, a slow server) would remove whatever stream holds the name then —
 * with one fixed name, a replacement already refilled with one of only two copies of acknowledged
 * records (found by the simulation, seed 3787). Successors have new names, so a late delete finds
 * nothing. The names are derived, not random, because nats-server 2.15 does not serialise the
 * subject-overlap check of concurrent creates: two processes creating differently named streams
 * for one subject at once can both succeed (measured: 13 of 30 pairs). Creates of one name are
 * atomic (the same configuration succeeds for both, a different one fails for the second), so
 * processes that decide the same thing at once create the same stream. Should two streams hold
 * the subject anyway, the replica reads as missing and is replaced like one (ReplicaMissingError).
 * A stream named exactly `<log>` (created before names carried tokens) is used as it is.
 */
import { createHash } from "node:crypto";
import {
  DiscardPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, RetentionPolicy, StorageType,
  type JetStreamClient, type JetStreamManager, type StreamConfig,
} from "@nats-io/jetstream";
import { headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import { limits } from "@antler/base";

/** A stored record as the quorum logic sees it. */
export interface ReplicaEntry {
  readonly seq: number;
  readonly data: Uint8Array;
  /** The writer's id of this record; identical on every replica holding it. */
  readonly msgId: string;
}

/** What a replica holds: records first..last (none when first > last). */
export interface ReplicaView {
  /** The stream this view was read from; a replacement names it (QuorumReplica.recreate). */
  readonly stream: string;
  readonly first: number;
  readonly last: number;
  /** Id of the record at `last`; undefined when the replica holds no record (empty or purged). */
  readonly lastId: string | undefined;
}

/** The outcome of a fenced publish to one replica. */
export type PublishOutcome =
  | { readonly kind: "stored" }
  /** The slot was taken by a record with id `holderId` (undefined: the slot is not `seq`, see `last`). */
  | { readonly kind: "taken"; readonly holderId: string | undefined };

/** The replica's server could not be reached or answered with an unexpected error. */
export class ReplicaUnavailableError extends Error {
  override name = "ReplicaUnavailableError";
}

/**
 * The server answered, but no single stream of the log holds its subject: none (a lost disk, a
 * replacement that deleted and has not created yet) or several (concurrent creates, see the top of
 * this file). Only a replacement brings the replica back (QuorumReplica.recreate with `streams`).
 */
export class ReplicaMissingError extends ReplicaUnavailableError {
  override name = "ReplicaMissingError";
  readonly streams: readonly string[];

  constructor(replica: string, streams: readonly string[]) {
    super(streams.length === 0 ? `${replica} holds no stream of its log` : `${replica}: several streams hold the log's subject (${streams.join(", ")})`);
    this.streams = streams;
  }
}

export interface ReplicaStreamSpec {
  readonly name: string;
  readonly subject: string;
  /** Records kept per replica (-1 = unlimited; the log truncates explicitly). */
  readonly maxMsgs?: number;
  readonly maxMsgSize?: number;
}

const msgIdHeader = "Nats-Msg-Id";

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** nats-server's "wrong last msg ID" (JSStreamWrongLastMsgIDErrF); the client names no constant for it. */
const wrongLastMsgIdCode = 10070;

/** The server refused a publish because the stream does not end where the publish expected. */
function isRefusedExpectation(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown ||
      err.code === wrongLastMsgIdCode);
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * What the quorum logic needs from one replica (JournalReplica on a real server; the simulation's
 * in-memory replica in quorum-sim-replica.ts). Every call may fail with ReplicaUnavailableError
 * (server unreachable, answer lost or late): the call may or may not have taken effect.
 */
export interface QuorumReplica {
  readonly index: number;
  readonly name: string;
  /**
   * How often the connection to the server was lost so far. A server that restarted (perhaps
   * without its disk) is one such loss: what it acknowledged before may no longer be there.
   */
  readonly disconnects: number;
  /** Creates the replica's first stream unless one exists (a new journal). */
  ensure(): Promise<void>;
  /** What the replica holds; ReplicaMissingError when no single stream holds the subject. */
  view(): Promise<ReplicaView>;
  entryAt(seq: number): Promise<ReplicaEntry | null>;
  read(from: number, to: number, batchSize: number, onEntry: (entry: ReplicaEntry) => void): Promise<void>;
  publish(data: Uint8Array, expectedLast: number, msgId: string, previousId?: string): Promise<PublishOutcome>;
  onPublish(onStored: () => void): () => void;
  purgeBefore(firstKept: number): Promise<void>;
  /**
   * Deletes the streams `judged` names (the one a view was read from, or those a
   * ReplicaMissingError reported; only those: see the top of this file) and creates their
   * successor, empty, whose next record is `firstSeq`. Fails when another stream holds the subject
   * by then (someone else replaced the replica differently): judge again.
   */
  recreate(judged: readonly string[], firstSeq: number): Promise<void>;
}

/** Why a stream of a log is created; its name follows from it (see the top of this file). */
export type StreamOrigin =
  /** Opening a journal none of whose servers holds it yet: everyone opening agrees on one. */
  | { readonly kind: "open"; readonly serverRun: string }
  /** Replacing the streams a judgement was read from: everyone replacing them agrees on one. */
  | { readonly kind: "replace"; readonly judged: readonly string[]; readonly serverRun: string };

/** Hex characters of a stream's token (64 bits). */
const streamTokenChars = 16;

/**
 * The name of the stream created for `origin`. A replacement's name depends on the streams it
 * replaces (a chain of successors never repeats a name); a replacement of a missing stream, and a
 * first stream, on the server run (nats-server draws a new server id at every start, and a server
 * that lost its disk has restarted).
 */
export function streamNameFor(log: string, origin: StreamOrigin): string {
  const why = origin.kind === "open" ? `open@${origin.serverRun}` : origin.judged.length > 0 ? `after:${[...origin.judged].sort().join(",")}` : `missing@${origin.serverRun}`;
  return `${log}_${createHash("sha256").update(why).digest("hex").slice(0, streamTokenChars)}`;
}

/** Whether `stream` is one of log `log`'s streams (a token-named one, or the untokened first kind). */
export function isStreamOfLog(stream: string, log: string): boolean {
  return stream === log || (stream.startsWith(`${log}_`) && /^[0-9a-f]+$/.test(stream.slice(log.length + 1)));
}

export class JournalReplica implements QuorumReplica {
  /** Position of this replica in the journal (0, 1, 2), for logs. */
  readonly index: number;
  readonly #nc: NatsConnection;
  readonly #spec: ReplicaStreamSpec;
  readonly #timeoutMs: number;
  #jsm: JetStreamManager | undefined;
  readonly #js: JetStreamClient;
  /**
   * False from the moment the client reports the connection lost until it is back. A server killed
   * with SIGKILL is seen at once (the socket closes): calls then fail immediately instead of
   * waiting for their timeout, which is what keeps the journal's stall far below a second.
   */
  #connected = true;
  #disconnects = 0;
  /** The stream holding the subject as last seen (reads address it by name); found again after any failure. */
  #stream: string | undefined;
  readonly #onDisconnect = new Set<(err: Error) => void>();

  constructor(index: number, nc: NatsConnection, spec: ReplicaStreamSpec, timeoutMs: number) {
    this.index = index;
    this.#nc = nc;
    this.#spec = spec;
    this.#timeoutMs = timeoutMs;
    this.#js = jetstream(nc, { timeout: timeoutMs });
    void this.#watchConnection();
  }

  async #watchConnection(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === "disconnect") {
        this.#connected = false;
        this.#disconnects++;
        const err = new ReplicaUnavailableError(`${this.name}: connection to its server lost`);
        for (const fail of this.#onDisconnect) fail(err);
        this.#onDisconnect.clear();
      } else if (status.type === "reconnect") {
        this.#connected = true;
      }
    }
  }

  /** `work`, failed early when the connection is or gets lost before it settles. */
  #whileConnected<T>(work: () => Promise<T>): Promise<T> {
    if (!this.#connected || this.#nc.isClosed()) return Promise.reject(new ReplicaUnavailableError(`${this.name}: not connected to its server`));
    return new Promise<T>((resolve, reject) => {
      this.#onDisconnect.add(reject);
      work().then(resolve, reject).finally(() => this.#onDisconnect.delete(reject));
    });
  }

  get name(): string {
    return `${this.#spec.name}@${this.index}`;
  }

  get disconnects(): number {
    return this.#disconnects;
  }

  /** Where the server announces each stored record, headers only (see #config). */
  get #tickSubject(): string {
    return `antler.journal.stored.${this.#spec.name}`;
  }

  #config(name: string, firstSeq?: number): Partial<StreamConfig> & { name: string } {
    return {
      name,
      subjects: [this.#spec.subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: 1,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_msgs: this.#spec.maxMsgs ?? -1,
      max_bytes: -1,
      max_msg_size: this.#spec.maxMsgSize ?? limits.shardLogRecordBytesMax,
      duplicate_window: nanos(limits.shardLogDuplicateWindowMs),
      allow_direct: true,
      // Followers are told of new records by their headers alone (onPublish): a subscription on
      // the record subject itself would carry every record's bytes from all three servers.
      republish: { src: this.#spec.subject, dest: this.#tickSubject, headers_only: true },
      ...(firstSeq !== undefined && firstSeq > 1 ? { first_seq: firstSeq } : {}),
    };
  }

  async #manager(): Promise<JetStreamManager> {
    // jetstreamManager() asks the server for account info, so it is created lazily: a replica
    // whose server is down at start must not keep the journal from opening.
    this.#jsm ??= await jetstreamManager(this.#nc, { timeout: this.#timeoutMs, checkAPI: false });
    return this.#jsm;
  }

  async #call<T>(what: string, body: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
    try {
      return await this.#whileConnected(async () => body(await this.#manager()));
    } catch (err) {
      // Whatever failed, the stream may have been replaced: find it again next time.
      this.#stream = undefined;
      if (err instanceof ReplicaUnavailableError) throw err;
      throw new ReplicaUnavailableError(`${what} on ${this.name} failed: ${describe(err)}`, { cause: err });
    }
  }

  /** This server's current run: a restarted server (perhaps without its disk) has a new id. */
  get #serverRun(): string {
    return this.#nc.info?.server_id ?? "unknown";
  }

  /** The streams of this log holding its subject (normally one); a foreign stream holding it is an error. */
  async #streamsHolding(jsm: JetStreamManager): Promise<string[]> {
    const names: string[] = [];
    for await (const name of jsm.streams.names(this.#spec.subject)) {
      if (!isStreamOfLog(name, this.#spec.name)) {
        throw new ReplicaUnavailableError(`subject ${this.#spec.subject} on ${this.name} is held by stream ${name}, not by a stream of this log`);
      }
      names.push(name);
    }
    return names;
  }

  /** The one stream holding the subject (cached for reads); ReplicaMissingError when there is not exactly one. */
  async #theStream(jsm: JetStreamManager): Promise<string> {
    const streams = await this.#streamsHolding(jsm);
    if (streams.length !== 1) throw new ReplicaMissingError(this.name, streams);
    this.#stream = streams[0]!;
    return this.#stream;
  }

  /**
   * Runs `body` on the stream holding the subject: the one last seen, and if that fails because
   * it was replaced meanwhile (by another process's recreate), on the one found now — so a call
   * behaves as if it named the subject, whichever stream holds it.
   */
  async #onStream<T>(jsm: JetStreamManager, body: (stream: string) => Promise<T>): Promise<T> {
    const cached = this.#stream;
    if (cached !== undefined) {
      try {
        return await body(cached);
      } catch (err) {
        if (err instanceof ReplicaUnavailableError) throw err;
        if ((await this.#theStream(jsm)) === cached) throw err;
      }
    }
    return body(this.#stream ?? (await this.#theStream(jsm)));
  }

  async #create(jsm: JetStreamManager, origin: StreamOrigin, firstSeq?: number): Promise<void> {
    const name = streamNameFor(this.#spec.name, origin);
    // Refused when another stream holds the subject; succeeds again for the same name and
    // configuration (another process deciding the same at the same time).
    await jsm.streams.add(this.#config(name, firstSeq));
    this.#stream = name;
  }

  /** Creates the replica's first stream unless one exists. */
  async ensure(): Promise<void> {
    await this.#call("create", async (jsm) => {
      if ((await this.#streamsHolding(jsm)).length > 0) return;
      try {
        await this.#create(jsm, { kind: "open", serverRun: this.#serverRun });
      } catch (err) {
        // Created by someone else meanwhile (under another name: a replacement).
        if ((await this.#streamsHolding(jsm)).length === 0) throw err;
      }
    });
  }

  /** What the replica holds now; ReplicaMissingError when no single stream holds the subject (never created here). */
  async view(): Promise<ReplicaView> {
    return this.#call("view", async (jsm) => {
      const stream = await this.#theStream(jsm);
      // Both questions name the stream, so the view is of one stream even if it is replaced meanwhile.
      const info = await jsm.streams.info(stream);
      const { first_seq: first, last_seq: last, messages } = info.state;
      if (messages === 0) return { stream, first: last + 1, last, lastId: undefined };
      const lastId = await this.#idAt(jsm, stream, last);
      return { stream, first, last, lastId };
    });
  }

  async #idAt(jsm: JetStreamManager, stream: string, seq: number): Promise<string | undefined> {
    const msg = await jsm.direct.getMessage(stream, { seq });
    if (msg === null || msg.seq !== seq) return undefined;
    return msg.header?.get(msgIdHeader) || undefined;
  }

  /** The record at `seq`, or null when the replica does not hold it. */
  async entryAt(seq: number): Promise<ReplicaEntry | null> {
    return this.#call(`read ${seq}`, async (jsm) => {
      const msg = await this.#onStream(jsm, (stream) => jsm.direct.getMessage(stream, { seq }));
      if (msg === null || msg.seq !== seq) return null;
      return { seq, data: msg.data, msgId: msg.header?.get(msgIdHeader) ?? "" };
    });
  }

  /** Calls `onEntry` for records from..to in order; rejects on a gap (truncated, or the replica moved). */
  async read(from: number, to: number, batchSize: number, onEntry: (entry: ReplicaEntry) => void): Promise<void> {
    let next = from;
    while (next <= to) {
      const batch = Math.min(batchSize, to - next + 1);
      await this.#call(`read ${next}..${next + batch - 1}`, (jsm) => this.#onStream(jsm, async (stream) => {
        const iterator = await jsm.direct.getBatch(stream, { seq: next, batch });
        const before = next;
        try {
          for await (const msg of iterator) {
            if (msg.seq !== next) throw new ReplicaUnavailableError(`${this.name} has a gap: expected ${next}, got ${msg.seq}`);
            try {
              onEntry({ seq: msg.seq, data: msg.data, msgId: msg.header?.get(msgIdHeader) ?? "" });
            } catch (err) {
              throw new ReplicaUnavailableError(`the reader of ${this.name} failed at ${msg.seq}`, { cause: err });
            }
            next++;
            if (next > to) break;
          }
        } catch (err) {
          // Only a batch that failed before delivering anything is tried on a replacement stream:
          // a failure after some records, or the caller's own, ends the read as it is.
          if (next === before && !(err instanceof ReplicaUnavailableError)) throw err;
          throw new ReplicaUnavailableError(`read of ${this.name} stopped at ${next}: ${describe(err)}`, { cause: err });
        }
        if (next === before) throw new ReplicaUnavailableError(`${this.name} returned nothing at ${next}`);
      }));
    }
  }

  /**
   * Stores `data` at `expectedLast + 1` if the replica ends at `expectedLast` — and, when
   * `previousId` is given, if its last record is that one. When the slot is taken, reports the id
   * of the record that holds it (so a retry of our own record is recognised); when the replica
   * ends elsewhere or was refused for its last record, `holderId` is undefined.
   *
   * `previousId` is for publishes sent while the previous one is still in flight (pipelining): if
   * that one was refused because another record took its slot, this one must not land after that
   * record. The server keeps the last id in memory and rebuilds it at start only within the
   * duplicate window, so it is not used for a first publish after a pause.
   */
  async publish(data: Uint8Array, expectedLast: number, msgId: string, previousId?: string): Promise<PublishOutcome> {
    const seq = expectedLast + 1;
    try {
      const h = headers();
      h.set(msgIdHeader, msgId);
      // No stream name is expected: whichever stream of this log holds the subject is the replica
      // (a replacement included), and the sequence expectations are what fence the publish.
      const ack = await this.#whileConnected(() => this.#js.publish(this.#spec.subject, data, {
        expect: { lastSequence: expectedLast, ...(previousId !== undefined ? { lastMsgID: previousId } : {}) },
        headers: h,
        timeout: this.#timeoutMs,
        retries: 0,
      }));
      if (!isStreamOfLog(ack.stream, this.#spec.name)) throw new ReplicaUnavailableError(`append to ${this.name} was stored by stream ${ack.stream}, not by a stream of this log`);
      if (ack.seq === seq) return { kind: "stored" };
      // A duplicate id stored elsewhere: the slot we asked for is not ours.
      return { kind: "taken", holderId: undefined };
    } catch (err) {
      if (!isRefusedExpectation(err)) throw new ReplicaUnavailableError(`append to ${this.name} at ${seq} failed: ${describe(err)}`, { cause: err });
    }
    const holder = await this.entryAt(seq);
    return { kind: "taken", holderId: holder?.msgId };
  }

  /**
   * Calls `onStored` whenever the server stores a record in the replica (announced without its
   * bytes); returns the unsubscribe.
   */
  onPublish(onStored: () => void): () => void {
    if (this.#nc.isClosed()) return () => {};
    const subscription = this.#nc.subscribe(this.#tickSubject, { callback: () => onStored() });
    return () => subscription.unsubscribe();
  }

  /** Drops every record below `firstKept`; the last sequence is kept. */
  async purgeBefore(firstKept: number): Promise<void> {
    await this.#call(`purge below ${firstKept}`, (jsm) => this.#onStream(jsm, (stream) => jsm.streams.purge(stream, { seq: firstKept })));
  }

  /**
   * Replaces the streams `judged` names by their successor, empty, whose next record is
   * `firstSeq`: the only way to drop a record that is not part of the agreed log (JetStream
   * cannot overwrite a slot), or to bring back a missing replica.
   */
  async recreate(judged: readonly string[], firstSeq: number): Promise<void> {
    await this.#call(`recreate from ${firstSeq}`, async (jsm) => {
      this.#stream = undefined;
      for (const stream of judged) {
        try {
          await jsm.streams.delete(stream);
        } catch (err) {
          if (!isStreamNotFound(err)) throw err;
        }
      }
      await this.#create(jsm, { kind: "replace", judged, serverRun: this.#serverRun }, firstSeq);
    });
  }
}

