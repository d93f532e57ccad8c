/**
 * A LogStream that survives the loss of any one NATS server without a stall (ADR 0007): the log
 * is kept on three R1 streams, one per independent nats-server (JournalReplica), in the style of
 * HDFS's quorum journal. An append goes to all three at once with the expected last sequence and
 * is acknowledged as soon as two stored it; a replica that missed records is repaired in the
 * background by copying from one that has them.
 *
 * Why it is safe (the argument the code relies on; "agreed" = stored on at least two replicas):
 *
 * - Slots are write-once (JournalReplica: expected-last-sequence publish, no overwrite), so two
 *   different records can never both be on two of the three replicas at one slot: at most one
 *   record per slot is ever agreed, and once agreed it stays agreed (a replica is only ever
 *   recreated when it holds a record that is provably not agreed, and only while the two others
 *   hold the whole agreed log).
 * - I2: a replica receives slot k+1 only from someone who knows its slot k holds the agreed
 *   record (the writer sends k+1 only to replicas that stored its own agreed k, the repair copies
 *   only after comparing ids). So on every replica all records but the last are agreed; only the
 *   last one may be a leftover that never reached a majority.
 * - I3: a replica that holds no record (purged, or recreated with a first sequence) ends at a
 *   slot whose record was agreed (purges and recreations only happen at agreed positions).
 *
 * Recovery rule (every read, and a writer that lost its place): ask all three for their end and
 * the id of their last record; wait for a majority (plus a short grace for the third). Let `top`
 * be the highest end. If two replicas hold the same record at `top` (or an emptied replica ends
 * there), the log ends at `top`. If all three answered and no two agree at `top`, the record there
 * was never acknowledged (it is on one replica only): the log ends at `top - 1`, whose records are
 * agreed by I2. If only two answered and just one holds `top`, the silent third may hold it too,
 * i.e. it may have been acknowledged: its record is copied onto the other answering replica
 * (completion), which makes it agreed and never loses an acknowledged one. Two different records
 * at `top` with the third silent cannot be decided: LogUnavailableError until the third answers.
 * A record acknowledged to a writer is on two replicas, so every majority sees it: never lost.
 *
 * Fencing is exactly JetStream's: an append names the expected last sequence; a writer whose view
 * is stale is refused by a majority (the slot is taken there) and gets FencedError. A retry with
 * the same msgId after a lost acknowledgement finds its own record and succeeds.
 *
 * These claims are checked under faults by a deterministic simulation (quorum-sim.ts: in-memory
 * replicas, simulated time, writer takeovers, lost/late answers, crashes, disk loss).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { assert } from "@antler/base";
import { shardLogStream, shardLogSubject } from "@antler/ops";
import type { Logger } from "@antler/telemetry";
import { FencedError, LogUnavailableError, type LogRecord, type TruncatableLogStream } from "./log-stream.ts";
import { JournalReplica, ReplicaMissingError, type QuorumReplica, type ReplicaEntry, type ReplicaStreamSpec, type ReplicaView } from "./quorum-replica.ts";

/**
 * The timers the journal uses (survey grace and timeout, the repair interval). Real timers by
 * default; the simulation (quorum-sim.ts) passes its fake clock's, so one seed replays one run.
 */
export interface JournalTimers {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A background interval: must not keep the process alive on its own. */
  setInterval(run: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realJournalTimers: JournalTimers = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
  setInterval: (run, ms) => {
    const timer = setInterval(run, ms);
    timer.unref?.();
    return timer;
  },
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval> | undefined),
};

/**
 * Where the three replicas live: the servers' connections (one R1 stream on each), or the replicas
 * themselves (the simulation's in-memory ones; the spec's name is then only the log's name).
 */
export type QuorumReplicaSource = readonly NatsConnection[] | { readonly replicas: readonly QuorumReplica[] };

export interface QuorumLogOptions {
  /** How long one replica's answer (append, read, probe) is awaited. */
  readonly replicaTimeoutMs?: number;
  /** Once a majority answered a survey, how long to wait for the remaining replica. */
  readonly surveyGraceMs?: number;
  /** Records per read request. */
  readonly readBatchSize?: number;
  /** How often a writer checks replicas that fell behind or failed. */
  readonly repairIntervalMs?: number;
  readonly logger?: Logger;
  /** Defaults to realJournalTimers. */
  readonly timers?: JournalTimers;
  /**
   * Simulation only, never set in production: a deliberately broken protocol whose damage the
   * simulation's checkers must catch (proof that they bite). "ack-one": an append is acknowledged
   * once one replica stored it; "highest-end": recovery takes the highest end without agreement;
   * "copy-blind": a repair copies without comparing the target's last record.
   */
  readonly brokenVariant?: QuorumBrokenVariant;
}

export type QuorumBrokenVariant = "ack-one" | "highest-end" | "copy-blind";

/** The records asked for were truncated (behind a snapshot): a reader must restart from one. */
export class LogTruncatedError extends LogUnavailableError {
  override name = "LogTruncatedError";
}

/** A replica as a writer sees it, for tests and measurements. */
export type ReplicaState = "tracking" | "lagging" | "divergent" | "unknown";

const replicaCount = 3;
const majority = 2;
const defaultReplicaTimeoutMs = 2_000;
const defaultSurveyGraceMs = 50;
const defaultReadBatchSize = 1024;
const defaultRepairIntervalMs = 100;
/**
 * Appends in flight to one replica before it is left behind (and repaired later), while two others
 * keep up: a hung server answers nothing until the replica timeout, and the client buffers what is
 * sent meanwhile. (A server that died is noticed at once, by its closed connection.)
 */
const pipelineMax = 16;
/** Records copied to a replica per round trip when repairing it (bounded: records are up to 1 MB). */
const copyBatchMax = 64;
/** How long a replica must stay without its stream before it is given a new one (#replaceMissing). */
const missingConfirmMs = 100;
/** A survey whose completion copies records is repeated at most this often before giving up. */
const agreeAttemptsMax = 4;

/** How one round of publishes of a record ended. */
type RoundOutcome =
  | { readonly kind: "committed" }
  | { readonly kind: "fenced" }
  | { readonly kind: "open"; readonly acks: readonly Ack[]; readonly refusals: number };

/**
 * A replica stored the record; valid while its connection has not been lost since the publish was
 * sent. Why (found by the simulation, quorum-sim.test.ts seed 5006): replica A stored the record,
 * then its server restarted without its disk before the second replica's acknowledgement came; the
 * writer counted A's stale acknowledgement and told its caller "stored" for a record on one replica
 * only, which the next recovery with all three answering dropped. A restarted server always breaks
 * the connection, so an acknowledgement across a break is not counted (the round then goes on with
 * the other replicas, or fails and is retried with the same msg id).
 */
interface Ack {
  readonly replica: number;
  readonly disconnects: number;
}

/** Where the log stands, from one survey. */
interface Agreement {
  /** Sequence of the last agreed record (0 = none). */
  readonly end: number;
  readonly views: readonly (ReplicaView | null)[];
  /** Per replica: the highest sequence up to which it holds agreed records, or -1 (unknown/divergent). */
  readonly agreedTo: readonly number[];
  /** Per replica: true when it holds a record that is not agreed (must be recreated). */
  readonly divergent: readonly boolean[];
}

/** The writer's knowledge of one replica: replaced when the writer re-surveys, updated by publishes and repairs. */
interface Track {
  /** ok: holds agreed records up to `matched`; repairing: being copied to; unknown: must be probed. */
  state: "ok" | "repairing" | "divergent" | "unknown";
  /** Highest sequence known stored and agreed on this replica. */
  matched: number;
  /** Where the replica ends once every publish in flight to it succeeds. */
  tail: number;
  /**
   * Bumped whenever the state is re-established (failure, repair): the outcome of a publish sent
   * before must not change it (a timeout of a publish sent while the server was down would
   * otherwise mark the freshly repaired replica as failed).
   */
  generation: number;
}

/** Opens (creating where missing) the quorum journal of shard `shardId` on three servers. */
export async function openQuorumLogStream(connections: readonly NatsConnection[], shardId: number, options: QuorumLogOptions = {}): Promise<QuorumLogStream> {
  assert(Number.isInteger(shardId) && shardId >= 0, "shard id must be a non-negative integer");
  const log = new QuorumLogStream(connections, { name: shardLogStream(shardId), subject: shardLogSubject(shardId) }, options);
  await log.open();
  return log;
}

export class QuorumLogStream implements TruncatableLogStream {
  readonly name: string;
  readonly #replicas: readonly QuorumReplica[];
  readonly #timers: JournalTimers;
  readonly #broken: QuorumBrokenVariant | undefined;
  readonly #graceMs: number;
  readonly #replicaTimeoutMs: number;
  readonly #readBatchSize: number;
  readonly #repairIntervalMs: number;
  readonly #logger: Logger | undefined;
  readonly #writerId = crypto.randomUUID();
  /** The agreed end as this writer knows it; undefined = unknown, survey before appending. */
  #end: number | undefined;
  /** Msg id of the record at `#end` once this writer appended it (undefined after a survey). */
  #lastId: string | undefined;
  #tracks: Track[] = [];
  /** Serialises appends and the last step of a repair. */
  #lock: Promise<unknown> = Promise.resolve();
  #repairTimer: unknown;
  #repairing = false;
  #closed = false;

  constructor(source: QuorumReplicaSource, spec: ReplicaStreamSpec, options: QuorumLogOptions = {}) {
    this.name = spec.name;
    this.#replicaTimeoutMs = options.replicaTimeoutMs ?? defaultReplicaTimeoutMs;
    this.#graceMs = options.surveyGraceMs ?? defaultSurveyGraceMs;
    this.#readBatchSize = options.readBatchSize ?? defaultReadBatchSize;
    this.#repairIntervalMs = options.repairIntervalMs ?? defaultRepairIntervalMs;
    this.#logger = options.logger;
    this.#timers = options.timers ?? realJournalTimers;
    this.#broken = options.brokenVariant;
    this.#replicas = "replicas" in source ? source.replicas : source.map((nc, i) => new JournalReplica(i, nc, spec, this.#replicaTimeoutMs));
    assert(this.#replicas.length === replicaCount, `a quorum journal needs exactly ${replicaCount} replicas`);
  }

  /**
   * Opens the journal: a majority of replicas must hold it. On a new journal (fewer than two
   * servers hold a stream of it) the missing streams are created; otherwise a missing one is left
   * to the writers' repair, which replaces it safely (see #repairOne) — creating it here could
   * race a replacement in progress.
   */
  async open(): Promise<void> {
    const found = await Promise.allSettled(this.#replicas.map((r) => r.view()));
    if (found.filter((r) => r.status === "fulfilled").length >= majority) return;
    const results = await Promise.allSettled(this.#replicas.map((r) => r.ensure()));
    const created = results.filter((r) => r.status === "fulfilled").length;
    if (created < majority) {
      const reasons = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
      throw new LogUnavailableError(`journal ${this.name}: only ${created} of ${replicaCount} replicas reachable: ${reasons.join("; ")}`);
    }
  }

  /** Stops background repair. The connections belong to the caller. */
  close(): void {
    this.#closed = true;
    if (this.#repairTimer !== undefined) this.#timers.clearInterval(this.#repairTimer);
    this.#repairTimer = undefined;
  }

  /** Calls `onAppend` whenever any server stores a record of this log (a hint to read; no data). */
  onAppend(onAppend: () => void): () => void {
    const stops = this.#replicas.map((replica) => replica.onPublish(onAppend));
    return () => stops.forEach((stop) => stop());
  }

  /** Each replica's state as this writer sees it (all "unknown" before the first append). */
  replicaStates(): ReplicaState[] {
    return this.#replicas.map((_, i) => {
      const track = this.#tracks[i];
      if (track === undefined || this.#end === undefined) return "unknown";
      if (track.state === "divergent") return "divergent";
      if (track.state === "unknown") return "unknown";
      return track.state === "ok" && track.matched === this.#end ? "tracking" : "lagging";
    });
  }

  // --- reading -------------------------------------------------------------------------------------

  async lastSeq(): Promise<number> {
    return (await this.#agree()).end;
  }

  /** The last agreed record, or null when the log is empty (or holds no record after truncation). */
  async readLast(): Promise<LogRecord | null> {
    const agreement = await this.#agree();
    if (agreement.end === 0) return null;
    let last: LogRecord | null = null;
    try {
      await this.#readAgreed(agreement, agreement.end, (record) => (last = record));
    } catch (err) {
      // A log truncated up to its end has no last record left to show.
      if (agreement.views.every((view) => view === null || view.first > agreement.end)) return null;
      throw err;
    }
    return last;
  }

  async firstSeq(): Promise<number> {
    const agreement = await this.#agree();
    let first = Number.POSITIVE_INFINITY;
    agreement.views.forEach((view, i) => {
      if (view !== null && agreement.agreedTo[i] === agreement.end) first = Math.min(first, view.first);
    });
    return Number.isFinite(first) ? first : agreement.end + 1;
  }

  async readAll(fromSeq: number, onRecord: (record: LogRecord) => void): Promise<number> {
    assert(Number.isInteger(fromSeq) && fromSeq >= 1, "log sequences start at 1");
    const agreement = await this.#agree();
    if (agreement.end < fromSeq) return fromSeq - 1;
    await this.#readAgreed(agreement, fromSeq, onRecord);
    return agreement.end;
  }

  /** Delivers the agreed records from `fromSeq` to the agreed end, switching replicas on failure. */
  async #readAgreed(agreement: Agreement, fromSeq: number, onRecord: (record: LogRecord) => void): Promise<void> {
    const end = agreement.end;
    let next = fromSeq;
    const failed = new Set<number>();
    while (next <= end) {
      // Any replica that holds agreed records from `next` on will do; prefer the one reaching furthest.
      const candidates = agreement.views
        .map((view, i) => ({ i, view, upTo: Math.min(agreement.agreedTo[i] ?? -1, end) }))
        .filter((c) => c.view !== null && !failed.has(c.i) && c.view.first <= next && c.upTo >= next)
        .sort((a, b) => b.upTo - a.upTo);
      const chosen = candidates[0];
      if (chosen === undefined) {
        const truncated = agreement.views.every((view) => view === null || view.first > next);
        if (truncated) throw new LogTruncatedError(`log ${this.name} has a gap: record ${next} is no longer held (truncated)`);
        throw new LogUnavailableError(`log ${this.name}: no reachable replica holds record ${next} (last ${end})`);
      }
      // The caller's own failure must end the read as it is, not count as a replica's failure.
      let callerFailure: { readonly err: unknown } | undefined;
      try {
        await this.#replicas[chosen.i]!.read(next, chosen.upTo, this.#readBatchSize, (entry) => {
          try {
            onRecord({ seq: entry.seq, data: entry.data });
          } catch (err) {
            callerFailure = { err };
            throw err;
          }
          next = entry.seq + 1;
        });
      } catch (err) {
        if (callerFailure !== undefined) throw callerFailure.err;
        this.#logger?.warn("journal read failed, trying another replica", { log: this.name, replica: chosen.i, next, err });
        failed.add(chosen.i);
      }
    }
  }

  // --- appending -----------------------------------------------------------------------------------

  append(data: Uint8Array, expectedLastSeq: number, msgId?: string): Promise<number> {
    assert(Number.isInteger(expectedLastSeq) && expectedLastSeq >= 0, "expected last sequence must be >= 0");
    return this.#exclusive(() => this.#append(data, expectedLastSeq, msgId));
  }

  #exclusive<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(body, body);
    this.#lock = run.catch(() => {});
    return run;
  }

  async #append(data: Uint8Array, expected: number, msgId: string | undefined): Promise<number> {
    // Without a caller id the record still needs one to be recognised across replicas; a fresh one
    // per call keeps the JetStream semantics (a retry without an id is not idempotent).
    const id = msgId ?? `${this.#writerId}:${expected + 1}:${crypto.randomUUID()}`;
    if (this.#end !== expected) {
      const agreement = await this.#agree();
      this.#adopt(agreement);
      if (agreement.end !== expected) {
        if (msgId !== undefined && agreement.end === expected + 1 && (await this.#agreedIdAt(agreement, expected + 1)) === msgId) return expected + 1;
        throw new FencedError(this.name, expected);
      }
    }
    let targets = this.#targets(expected);
    if (targets.length < majority) {
      // Not enough replicas in step: bring the reachable ones up to date first (rare: two failures
      // in a row, or a fresh writer after an outage).
      await this.#repairAll(true);
      targets = this.#targets(expected);
    }
    if (targets.length < majority) {
      this.#end = undefined;
      throw new LogUnavailableError(`append to ${this.name}: only ${targets.length} of ${replicaCount} replicas are in step`);
    }
    const first = await this.#publishRound(targets, data, expected, id, [], 0);
    let outcome = first;
    if (first.kind === "open" && this.#valid(first.acks) > 0) {
      // One replica stored the record and another failed (a server just died): bring a live
      // replica that was behind into step and complete the majority now. Failing instead would
      // cost the caller a retry pause and a new survey.
      await this.#repairAll(true);
      const more = this.#targets(expected).filter((i) => !targets.includes(i));
      if (more.length > 0) outcome = await this.#publishRound(more, data, expected, id, first.acks, first.refusals);
    }
    if (outcome.kind === "committed") {
      this.#end = expected + 1;
      this.#lastId = id;
      return expected + 1;
    }
    this.#end = undefined;
    if (outcome.kind === "fenced") throw new FencedError(this.name, expected);
    throw new LogUnavailableError(`append to ${this.name} at ${expected + 1}: ${this.#valid(outcome.acks)} stored, ${outcome.refusals} refused, the rest unreachable`);
  }

  /** How many of `acks` still hold (see Ack). */
  #valid(acks: readonly Ack[]): number {
    return acks.filter((ack) => this.#replicas[ack.replica]!.disconnects === ack.disconnects).length;
  }

  /**
   * Sends the record at expected + 1 to `targets` and settles as soon as the outcome is known:
   * committed (a majority stored it, counting `carried` acknowledgements of an earlier round),
   * fenced (a majority holds another record there), or open (every target answered or failed
   * without a majority).
   */
  #publishRound(targets: readonly number[], data: Uint8Array, expected: number, id: string, carried: readonly Ack[], refusals: number): Promise<RoundOutcome> {
    const acks = [...carried];
    return new Promise<RoundOutcome>((resolve) => {
      let settled = 0;
      let decided = false;
      const decide = (): void => {
        if (decided) return;
        if (this.#valid(acks) >= (this.#broken === "ack-one" ? 1 : majority)) {
          decided = true;
          resolve({ kind: "committed" });
        } else if (refusals >= majority) {
          decided = true;
          resolve({ kind: "fenced" });
        } else if (settled === targets.length) {
          decided = true;
          resolve({ kind: "open", acks, refusals });
        }
      };
      for (const i of targets) {
        const track = this.#tracks[i]!;
        const generation = track.generation;
        const fail = (why: string): void => {
          if (track.generation !== generation) return;
          this.#logger?.debug("journal replica left behind", { log: this.name, replica: i, seq: expected + 1, why });
          track.state = "unknown";
          track.generation++;
        };
        // A replica with a publish still in flight must hold exactly that record (ours, agreed)
        // before this one lands: otherwise a refused predecessor would leave this record after a
        // record that is not agreed, breaking I2.
        const previousId = track.tail > track.matched ? this.#lastId : undefined;
        track.tail = expected + 1;
        const disconnects = this.#replicas[i]!.disconnects;
        this.#replicas[i]!.publish(data, expected, id, previousId).then(
          (outcome) => {
            if (outcome.kind === "stored" || outcome.holderId === id) {
              acks.push({ replica: i, disconnects });
              if (track.generation === generation && track.state === "ok") track.matched = Math.max(track.matched, expected + 1);
            } else {
              refusals++;
              // Someone else's record, or the replica ends elsewhere: the repair will classify it.
              fail(`slot taken by ${outcome.holderId ?? "(the replica ends elsewhere)"}`);
            }
          },
          (err: unknown) => {
            fail(err instanceof Error ? err.message : String(err));
          },
        ).finally(() => {
          settled++;
          decide();
        });
      }
      decide();
    });
  }

  /** Replicas a record at expected + 1 can go to: in step, and ending (once in-flight publishes land) at expected. */
  #targets(expected: number): number[] {
    const inStep = this.#tracks.flatMap((track, i) => (track.state === "ok" && track.tail === expected ? [i] : []));
    // A replica far behind in acknowledgements is left to the repair, unless the majority needs it:
    // then every append waits for it anyway, which keeps its backlog bounded.
    const keeping = inStep.filter((i) => this.#tracks[i]!.tail - this.#tracks[i]!.matched <= pipelineMax);
    return keeping.length >= majority ? keeping : inStep;
  }

  #adopt(agreement: Agreement): void {
    this.#end = agreement.end;
    this.#lastId = undefined;
    this.#tracks = agreement.views.map((view, i) => {
      const agreedTo = agreement.agreedTo[i] ?? -1;
      const generation = (this.#tracks[i]?.generation ?? 0) + 1;
      if (view === null) return { state: "unknown", matched: 0, tail: 0, generation };
      if (agreement.divergent[i]) return { state: "divergent", matched: 0, tail: 0, generation };
      if (agreedTo < 0 || view.last > agreement.end) return { state: "unknown", matched: 0, tail: 0, generation };
      return { state: "ok", matched: view.last, tail: view.last, generation };
    });
    if (this.#repairTimer === undefined && !this.#closed) {
      this.#repairTimer = this.#timers.setInterval(() => void this.#repairAll(false), this.#repairIntervalMs);
    }
  }

  async #agreedIdAt(agreement: Agreement, seq: number): Promise<string | undefined> {
    for (const [i, view] of agreement.views.entries()) {
      if (view === null || (agreement.agreedTo[i] ?? -1) < seq || view.first > seq) continue;
      try {
        return (await this.#replicas[i]!.entryAt(seq))?.msgId;
      } catch {
        // Try the next replica.
      }
    }
    return undefined;
  }

  // --- survey and recovery rule --------------------------------------------------------------------

  /**
   * Every replica's view; resolves once all answered, or a majority plus the grace period. A
   * replica whose server answered that it holds no stream of the log is recorded in `missing`.
   */
  #survey(missing: boolean[] = []): Promise<(ReplicaView | null)[]> {
    return new Promise((resolve) => {
      const views: (ReplicaView | null)[] = this.#replicas.map(() => null);
      let answered = 0;
      let settled = 0;
      let done = false;
      let grace: unknown;
      const finish = (): void => {
        if (done) return;
        done = true;
        if (grace !== undefined) this.#timers.clearTimeout(grace);
        this.#timers.clearTimeout(overall);
        resolve(views.slice());
      };
      const overall = this.#timers.setTimeout(finish, this.#replicaTimeoutMs + this.#graceMs);
      this.#replicas.forEach((replica, i) => {
        replica.view().then(
          (view) => {
            if (done) return;
            views[i] = view;
            answered++;
          },
          (err: unknown) => {
            if (!done && err instanceof ReplicaMissingError && err.streams.length === 0) missing[i] = true;
          },
        ).finally(() => {
          settled++;
          if (settled === replicaCount) finish();
          else if (answered >= majority && grace === undefined && !done) grace = this.#timers.setTimeout(finish, this.#graceMs);
        });
      });
    });
  }

  /** Applies the recovery rule (see the top of this file), completing an undecided last record if needed. */
  async #agree(): Promise<Agreement> {
    for (let attempt = 1; attempt <= agreeAttemptsMax; attempt++) {
      const missing: boolean[] = [];
      const views = await this.#survey(missing);
      const responders = views.flatMap((view, i) => (view !== null ? [i] : []));
      if (responders.length < majority) {
        throw new LogUnavailableError(`log ${this.name}: only ${responders.length} of ${replicaCount} replicas answered`);
      }
      const top = Math.max(...responders.map((i) => views[i]!.last));
      const holders = responders.filter((i) => views[i]!.last === top);
      const agreedAtTop = this.#broken === "highest-end" ? holders : this.#agreedGroup(views, holders);
      let end: number;
      let source: number;
      if (agreedAtTop !== undefined) {
        end = top;
        source = agreedAtTop.find((i) => views[i]!.lastId !== undefined) ?? agreedAtTop[0]!;
      } else if (responders.length === replicaCount && holders.length === 1) {
        // Everyone answered and the record at `top` is on one replica only: never acknowledged.
        end = top - 1;
        source = holders[0]!;
      } else if (holders.length === replicaCount) {
        // Three different records at `top` (three writers raced): none is agreed, and none can ever
        // be, since every slot is taken. Replace the second holder by a copy of the first: its
        // records below `top` are agreed and also held by the two others (I2), its record at `top`
        // never was. Deterministic, so concurrent resolvers converge on the same outcome.
        const [from, into] = [holders[0]!, holders[1]!];
        this.#logger?.warn("journal replicas hold three different records at their end; replacing one", { log: this.name, top, replica: into });
        try {
          if (!(await this.#recreateIfUnchanged(into, views[into]!, views[from]!.first))) continue;
          await this.#copyInto(into, await this.#replicas[into]!.view(), from, top, views[from]!.first);
        } catch (err) {
          throw new LogUnavailableError(`log ${this.name}: could not resolve a three-way split at ${top}`, { cause: err });
        }
        continue;
      } else {
        // Either a silent replica may hold the top record (it may have been acknowledged), or two
        // replicas hold different records there and the third decides. Copy one onto a replica
        // that ends below `top`: that decides the slot without ever dropping an agreed record.
        const from = holders[0]!;
        const into = responders.find((i) => views[i]!.last < top);
        if (into === undefined) {
          // The third replica decides; one that lost its stream holds nothing and is given an
          // empty one to take the copy. Without this (found by the simulation, seed 4350: a
          // server lost its disk, the two others ended on different records) the journal stayed
          // unavailable after healing, since only a writer's repair re-creates a stream.
          const third = missing.findIndex((m) => m);
          if (third >= 0) {
            try {
              await this.#replaceMissing(third, [], views[from]!.first);
            } catch (err) {
              throw new LogUnavailableError(`log ${this.name}: could not give replica ${third} a stream to decide record ${top}`, { cause: err });
            }
            continue;
          }
          throw new LogUnavailableError(`log ${this.name}: replicas hold different records at ${top}; waiting for the third replica`);
        }
        let completed: boolean;
        try {
          completed = await this.#copyInto(into, views[into]!, from, top, views[from]!.first);
        } catch (err) {
          throw new LogUnavailableError(`log ${this.name}: could not complete record ${top}`, { cause: err });
        }
        if (!completed && responders.length === replicaCount && holders.length === majority) {
          // The two holders of `top` differ there and `into`, the third, cannot take a copy: its
          // last record is not agreed, or it is behind the truncation. Nothing at `top` is agreed;
          // both holders hold the agreed log below it (I2), so `into` holds nothing agreed that
          // they lack: replace it by their log up to top - 1, then the next round completes `top`.
          // Without this (found by the simulation, quorum-sim.test.ts seed 201) no survey ever
          // succeeded, so no writer ever adopted the log and repaired `into`: the journal stayed
          // unavailable for good with all three servers up.
          try {
            if (await this.#recreateIfUnchanged(into, views[into]!, views[from]!.first)) {
              await this.#copyInto(into, await this.#replicas[into]!.view(), from, top - 1, views[from]!.first);
            }
          } catch (err) {
            throw new LogUnavailableError(`log ${this.name}: could not replace replica ${into} to decide record ${top}`, { cause: err });
          }
          continue;
        }
        if (!completed) throw new LogUnavailableError(`log ${this.name}: cannot decide record ${top} yet (replica ${into} needs repair)`);
        continue;
      }
      return await this.#classify(views, end, source, agreedAtTop ?? []);
    }
    throw new LogUnavailableError(`log ${this.name}: replicas kept moving during recovery`);
  }

  /** The replicas that agree on the record at their common end (undefined when no two do). */
  #agreedGroup(views: readonly (ReplicaView | null)[], holders: readonly number[]): number[] | undefined {
    // I3: a replica holding nothing ends at an agreed slot, whatever the others hold there.
    if (holders.some((i) => views[i]!.lastId === undefined)) return [...holders];
    for (const i of holders) {
      const same = holders.filter((j) => views[j]!.lastId === views[i]!.lastId);
      if (same.length >= majority) return same;
    }
    return undefined;
  }

  /** Decides for every replica up to where it holds agreed records, by comparing ids with `source`. */
  async #classify(views: readonly (ReplicaView | null)[], end: number, source: number, agreedAtTop: readonly number[]): Promise<Agreement> {
    const agreedTo = views.map(() => -1);
    const divergent = views.map(() => false);
    const sourceView = views[source]!;
    await Promise.all(views.map(async (view, i) => {
      if (view === null) return;
      if (agreedAtTop.includes(i)) {
        agreedTo[i] = end;
      } else if (view.last > end) {
        // Holds a record past the agreed end: one that was never acknowledged.
        divergent[i] = true;
        agreedTo[i] = i === source ? end : -1;
      } else if (view.lastId === undefined) {
        agreedTo[i] = view.last;
      } else if (view.last < sourceView.first) {
        // The source no longer holds that record; the replica cannot be checked, only replaced.
        divergent[i] = true;
      } else {
        try {
          const reference = await this.#replicas[source]!.entryAt(view.last);
          if (reference !== null && reference.msgId === view.lastId) agreedTo[i] = view.last;
          else divergent[i] = true;
        } catch {
          // Unknown for now; a writer probes it again.
        }
      }
    }));
    return { end, views, agreedTo, divergent };
  }

  // --- repair --------------------------------------------------------------------------------------

  /**
   * Copies records (after `into`'s end) up to `upTo` from replica `from` onto replica `into`, after
   * checking that `into`'s last record is `from`'s record at that slot. False when `into` holds a
   * different record (it must be recreated) or `from` no longer holds what is needed; throws
   * when a server cannot be reached (try again later).
   */
  async #copyInto(into: number, intoView: ReplicaView, from: number, upTo: number, fromFirst: number): Promise<boolean> {
    const target = this.#replicas[into]!;
    const source = this.#replicas[from]!;
    if (intoView.lastId !== undefined && this.#broken !== "copy-blind") {
      const reference = intoView.last >= fromFirst ? await source.entryAt(intoView.last) : null;
      if (reference === null || reference.msgId !== intoView.lastId) return false;
    }
    if (intoView.last + 1 < fromFirst) return false;
    let next = intoView.last + 1;
    while (next <= upTo) {
      const batch: ReplicaEntry[] = [];
      const to = Math.min(upTo, next + copyBatchMax - 1);
      await source.read(next, to, copyBatchMax, (entry) => batch.push(entry));
      // Sent at once, in order on one connection; each after the first also expects its
      // predecessor's id, so nothing lands after a record someone else slipped in (I2).
      const outcomes = await Promise.all(batch.map((entry, j) =>
        target.publish(entry.data, entry.seq - 1, entry.msgId, j === 0 ? undefined : batch[j - 1]!.msgId)));
      for (const [j, outcome] of outcomes.entries()) {
        const entry = batch[j]!;
        if (outcome.kind === "taken" && outcome.holderId !== entry.msgId) {
          // Refused for its predecessor (slot still free): the next pass starts from there.
          if (outcome.holderId === undefined) throw new LogUnavailableError(`copy to replica ${into} interrupted at ${entry.seq}`);
          return false;
        }
        next = entry.seq + 1;
      }
    }
    return true;
  }

  /** One pass over the replicas that are not in step. `inline`: called from an append (lock held). */
  async #repairAll(inline: boolean): Promise<void> {
    if (this.#closed || this.#end === undefined) return;
    if (!inline && this.#repairing) return;
    this.#repairing = true;
    try {
      for (let i = 0; i < replicaCount; i++) {
        const track = this.#tracks[i];
        if (track === undefined || (track.state === "ok" && (track.tail === this.#end || track.tail !== track.matched))) continue;
        if (track.state === "repairing" && !inline) continue;
        await this.#repairOne(i, track, inline);
      }
    } finally {
      this.#repairing = false;
    }
  }

  async #repairOne(i: number, track: Track, inline: boolean): Promise<void> {
    const end = this.#end;
    if (end === undefined) return;
    // A source holds every agreed record up to `end` (it may already hold the record being appended).
    const sourceIndex = this.#tracks.findIndex((t, j) => j !== i && t.state === "ok" && t.matched >= end);
    if (sourceIndex < 0) return;
    const replica = this.#replicas[i]!;
    const previous = track.state;
    track.state = "repairing";
    track.generation++;
    let outcome: "ok" | "divergent" | "unknown" = "unknown";
    const third = [0, 1, 2].find((j) => j !== i && j !== sourceIndex)!;
    try {
      const [viewed, sourceView] = await Promise.all([replica.view().catch((err: unknown) => {
        if (err instanceof ReplicaMissingError) return err;
        throw err;
      }), this.#replicas[sourceIndex]!.view()]);
      if (viewed instanceof ReplicaMissingError) {
        // No stream holds the replica (a lost disk, a replacement cut short): a new one from the
        // source's first record — it deletes nothing, and ends at an agreed slot (I3). Several
        // streams hold it (concurrent creates): replaced under the rule of any replacement below.
        const safe = viewed.streams.length === 0 || await this.#holdsAgreedLog(third, sourceIndex, end);
        if (safe && await this.#replaceMissing(i, viewed.streams, sourceView.first)) {
          this.#logger?.warn("journal replica had no single stream; replaced it", { log: this.name, replica: i, streams: viewed.streams, end });
          if (await this.#copyInto(i, await replica.view(), sourceIndex, end, sourceView.first)) outcome = "ok";
        }
      } else if (viewed.last > end) {
        outcome = "unknown";
      } else if (await this.#copyInto(i, viewed, sourceIndex, end, sourceView.first)) {
        outcome = "ok";
      } else {
        outcome = "divergent";
        // Recreate only while both others hold the whole agreed log: dropping this replica's
        // records then never leaves an agreed record on a single server. The source does; the
        // third must be in step, or be shown to hold it (see #holdsAgreedLog).
        if (await this.#holdsAgreedLog(third, sourceIndex, end)) {
          this.#logger?.warn("journal replica holds a record that was never agreed (or is behind the truncation); recreating it", { log: this.name, replica: i, end });
          if (await this.#recreateIfUnchanged(i, viewed, sourceView.first)) {
            const fresh = await replica.view();
            if (await this.#copyInto(i, fresh, sourceIndex, end, sourceView.first)) outcome = "ok";
          }
        }
      }
    } catch (err) {
      this.#logger?.debug("journal replica not repaired yet", { log: this.name, replica: i, err });
      outcome = previous === "divergent" ? "divergent" : "unknown";
    }
    const finish = async (): Promise<void> => {
      // A survey meanwhile replaced what the writer knows; this repair's view is stale.
      if (this.#tracks[i] !== track) return;
      track.generation++;
      if (outcome !== "ok") {
        track.state = outcome;
        return;
      }
      // Under the append lock: catch up with records appended during the copy, then rejoin.
      const now = this.#end;
      if (now === undefined) {
        track.state = "unknown";
        return;
      }
      if (now > end) {
        const sourceNow = this.#tracks.findIndex((t, j) => j !== i && t.state === "ok" && t.matched >= now);
        let caughtUp = false;
        try {
          if (sourceNow >= 0) {
            const [view, sourceView] = await Promise.all([replica.view(), this.#replicas[sourceNow]!.view()]);
            caughtUp = await this.#copyInto(i, view, sourceNow, now, sourceView.first);
          }
        } catch (err) {
          this.#logger?.debug("journal replica not repaired yet", { log: this.name, replica: i, err });
        }
        if (!caughtUp) {
          track.state = "unknown";
          return;
        }
      }
      track.state = "ok";
      track.matched = now;
      track.tail = now;
      this.#logger?.info("journal replica in step again", { log: this.name, replica: i, end: now });
    };
    if (inline) await finish();
    else await this.#exclusive(finish);
  }

  /**
   * Whether replica `other` holds every agreed record up to `end` (from its first record on): in
   * step as this writer knows it, or — checked now — its record at `end` is the source's (agreed)
   * one, so by I2 all its records up to there are agreed.
   *
   * Why the check (found by the simulation, quorum-sim.test.ts seeds 88, 175): replica A holds a
   * leftover past the agreed end (a writer died after it alone stored its last record), replica B
   * fell behind the truncation point while it was down. A new writer finds A "divergent" (never
   * repaired while it is past the end) and B "divergent" (cannot be compared, only replaced), so
   * only the third is in step: no append can commit, and neither A nor B was ever recreated,
   * because each needed the other in step first. The shard stalled for good with every server
   * up. A holds the whole agreed log below its leftover, so replacing B is safe.
   */
  async #holdsAgreedLog(other: number, source: number, end: number): Promise<boolean> {
    const track = this.#tracks[other];
    if (track !== undefined && track.state === "ok" && track.matched >= end) return true;
    if (end === 0) return true;
    const [view, held, reference] = await Promise.all([
      this.#replicas[other]!.view(), this.#replicas[other]!.entryAt(end), this.#replicas[source]!.entryAt(end),
    ]);
    return view.last >= end && held !== null && reference !== null && held.msgId === reference.msgId;
  }

  /**
   * Recreates replica `i` (from `firstSeq`) only if it still ends where it did when it was judged
   * (`judged`); false when it moved meanwhile.
   *
   * Why (found by the simulation, quorum-sim.test.ts seeds 28, 68): the judgement "this replica's
   * last record is not agreed, the two others hold the agreed log" can be seconds old by the time the
   * delete arrives (slow answers, retries, the checks in between). Meanwhile the replica may have
   * been recreated and refilled by another repair and have become one of the two copies of records
   * a newer writer appended — a deposed writer's stale repair then deleted agreed records. Looking
   * again just before deleting narrows that window to one round trip; the delete names the stream
   * that was looked at, so one that arrives later still (seed 3787: the writer stalled with it
   * unsent) finds that stream gone and deletes nothing (quorum-replica.ts, stream names).
   */
  async #recreateIfUnchanged(i: number, judged: ReplicaView, firstSeq: number): Promise<boolean> {
    const now = await this.#replicas[i]!.view();
    if (now.stream !== judged.stream || now.last !== judged.last || now.lastId !== judged.lastId) return false;
    await this.#replicas[i]!.recreate([now.stream], firstSeq);
    return true;
  }

  /**
   * Gives replica `i`, found without a single stream (`streams`: none, or several), a new one from
   * `firstSeq`, only if it is still in that state missingConfirmMs later. Why wait: a replacement
   * in progress deletes, then creates within a round trip; creating another stream in between
   * would race its create, and nats-server may then let both streams hold the subject
   * (quorum-replica.ts). A replacer stalled longer finds its create refused or already done.
   */
  async #replaceMissing(i: number, streams: readonly string[], firstSeq: number): Promise<boolean> {
    await new Promise<void>((resolve) => this.#timers.setTimeout(resolve, missingConfirmMs));
    try {
      await this.#replicas[i]!.view();
      return false;
    } catch (err) {
      if (!(err instanceof ReplicaMissingError) || [...err.streams].sort().join() !== [...streams].sort().join()) return false;
    }
    await this.#replicas[i]!.recreate(streams, firstSeq);
    return true;
  }

  // --- truncation ----------------------------------------------------------------------------------

  async truncateBefore(firstKeptSeq: number): Promise<void> {
    assert(Number.isInteger(firstKeptSeq) && firstKeptSeq >= 1, "log sequences start at 1");
    if (firstKeptSeq === 1) return;
    const agreement = await this.#agree();
    // Never past the agreed end: an emptied replica must end at an agreed slot (I3).
    const keep = Math.min(firstKeptSeq, agreement.end + 1);
    const purges = agreement.views.flatMap((view, i) =>
      view !== null && (agreement.agreedTo[i] ?? -1) >= keep - 1 && view.first < keep ? [this.#replicas[i]!.purgeBefore(keep)] : []);
    const results = await Promise.allSettled(purges);
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) throw new LogUnavailableError(`truncation of ${this.name} below ${keep} failed on ${failed.length} replica(s)`, { cause: (failed[0] as PromiseRejectedResult).reason });
  }
}
