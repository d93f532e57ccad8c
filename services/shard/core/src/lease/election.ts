/**
 * Who leads a shard: the pure election over the shard's lease record (ARCHITECTURE §4). It never
 * touches the lease store and never reads a clock: the shell feeds it what it observes of the
 * lease key (watch events, reads), the outcome of each compare-and-set it asked for, and periodic
 * ticks, each with the time of its own monotonic clock, and carries out the actions it returns.
 * The same code runs in the shard process and in the simulator.
 *
 * Rules:
 * - A standby judges the leader only by the key changing: once it has seen the same revision for
 *   `takeoverMs` of its own clock, or the key is missing, released (holder "") or held by an
 *   earlier incarnation of itself (`inheritsFrom`), it claims the next epoch with a CAS on that
 *   revision. Several standbys may race; the CAS picks one.
 * - The leader renews every `renewIntervalMs` with a CAS that bumps `renewals`. It leads only while
 *   a renewal sent less than `leaseMs` ago succeeded (leaseMs < takeoverMs: it stops before any
 *   standby may claim). A CAS that finds the revision moved, or a record of someone else, ends its
 *   leadership at once ("step-down"). Safety does not rest on this: a deposed leader that does not
 *   know it yet is refused by the fenced log append.
 * - One CAS at a time. A CAS without an answer (`onCasError`) may or may not have happened: the
 *   election waits for an observation to tell (the shell reads the key after an error); a leader
 *   meanwhile only has what is left of its lease.
 * - `release` ends the election for good: the leader hands the key over (holder ""), so a standby
 *   claims it at once instead of waiting `takeoverMs`. A new incarnation needs a new Election.
 *   `resign` hands the key over the same way but stays a standby (not claiming for takeoverMs).
 */
import { assert } from "@antler/base";
import type { LeaseObservation, LeaseRecord } from "@antler/ops";

export type ElectionAction =
  /** Write `record` if the key's revision is still `expectedRevision` (0 = create). Report the outcome. */
  | { readonly kind: "cas"; readonly record: LeaseRecord; readonly expectedRevision: number }
  /** The lease is ours for `epoch`: catch up with the log to its end, then serve. */
  | { readonly kind: "become-leader"; readonly epoch: number }
  /** Leadership is over: stop serving at once (never reply again as leader). */
  | { readonly kind: "step-down"; readonly reason: string };

export type ElectionRole = "standby" | "leader" | "released";

export interface ElectionOptions {
  /** This process's holder id; unique per incarnation (see leaseHolderId). */
  readonly holder: string;
  /** A leader serves at most this long after sending its last successful renewal. */
  readonly leaseMs: number;
  /** A standby claims a key that has not changed for this long (must exceed leaseMs). */
  readonly takeoverMs: number;
  /** A leader renews this often; 0 = on every tick. */
  readonly renewIntervalMs?: number;
  /**
   * Whether a record held by `holder` counts as released for this process: true for an earlier
   * incarnation of the same replica, which is dead once its successor runs (a supervisor restarts
   * a replica only after it exited). Misuse cannot break safety (the log is fenced), only liveness.
   */
  readonly inheritsFrom?: (holder: string) => boolean;
}

interface SentCas {
  readonly record: LeaseRecord;
  readonly expectedRevision: number;
  readonly sentMs: number;
}

export class Election {
  readonly #holder: string;
  readonly #leaseMs: number;
  readonly #takeoverMs: number;
  readonly #renewIntervalMs: number;
  readonly #inheritsFrom: (holder: string) => boolean;

  #role: ElectionRole = "standby";
  /** The newest observation, and when (our clock) its revision was first seen; null = none yet. */
  #observed: LeaseObservation = { revision: 0, record: null };
  #observedAtMs: number | null = null;
  /** Highest epoch ever seen, so epochs keep increasing even across a deleted key. */
  #highestEpoch = 0;
  /** The CAS in flight (at most one). */
  #pending: SentCas | null = null;
  /** A CAS that got no answer: an observation of its record would mean it happened. */
  #unresolved: SentCas | null = null;
  /** Our lease to hand over (holder "") once the CAS in flight is answered (release or resign). */
  #handover: { record: LeaseRecord; revision: number } | null = null;
  /** After a resign, this replica does not claim before this time (others should take over). */
  #claimNotBeforeMs = Number.NEGATIVE_INFINITY;
  /** While leading: the record and revision we wrote last, when that write was sent, and when we last sent one. */
  #own: { record: LeaseRecord; revision: number } | null = null;
  #renewedSentMs = 0;
  #lastCasSentMs = Number.NEGATIVE_INFINITY;

  constructor(options: ElectionOptions) {
    assert(options.holder !== "", "a holder id must not be empty (empty means released)");
    assert(options.leaseMs > 0 && options.takeoverMs > options.leaseMs, "takeoverMs must exceed leaseMs > 0");
    this.#holder = options.holder;
    this.#leaseMs = options.leaseMs;
    this.#takeoverMs = options.takeoverMs;
    this.#renewIntervalMs = options.renewIntervalMs ?? 0;
    this.#inheritsFrom = options.inheritsFrom ?? (() => false);
  }

  get role(): ElectionRole {
    return this.#role;
  }

  /** The epoch we lead (0 when not leading). */
  get epoch(): number {
    return this.#role === "leader" ? this.#own!.record.epoch : 0;
  }

  /** Whether we lead at `nowMs`: the role, and the lease not yet run out by our own clock. */
  isLeader(nowMs: number): boolean {
    return this.#role === "leader" && nowMs - this.#renewedSentMs < this.#leaseMs;
  }

  /** A value of the lease key (watch event or read). Older or repeated revisions are ignored. */
  onObserved(observation: LeaseObservation, nowMs: number): ElectionAction[] {
    if (this.#role === "released") return [];
    const record = observation.record;
    if (record !== null) this.#highestEpoch = Math.max(this.#highestEpoch, record.epoch);
    const ours = record !== null && record.holder === this.#holder;

    if (this.#role === "leader") {
      const own = this.#own!;
      if (ours && record.epoch === own.record.epoch) {
        // Our own write, possibly seen before its CAS answer, or the answer to an unknown outcome.
        if (observation.revision < own.revision) return [];
        this.#adoptOwn(observation, nowMs);
        return [];
      }
      if (observation.revision <= own.revision) return [];
      this.#see(observation, nowMs);
      return this.#stepDown(record === null ? "the lease key was deleted" : `the lease passed to ${JSON.stringify(record.holder)} (epoch ${record.epoch})`, nowMs);
    }

    // Standby.
    if (observation.revision < this.#observed.revision) return [];
    if (observation.revision === this.#observed.revision && this.#observedAtMs !== null) return [];
    this.#see(observation, nowMs);
    if (ours) {
      // Our claim landed (its answer is late, or it got none): we lead if it is still fresh.
      const isThisClaim = (sent: SentCas | null): sent is SentCas =>
        sent !== null && sent.record.renewals === 0 && sent.record.epoch === record.epoch && sent.record.renewals === record.renewals;
      // A retried claim writes the same record: count from the earlier send (the lease may be older).
      const claim = isThisClaim(this.#unresolved) ? this.#unresolved : isThisClaim(this.#pending) ? this.#pending : null;
      if (claim !== null) {
        if (isThisClaim(this.#pending)) this.#pending = null;
        this.#unresolved = null;
        return this.#win(claim, observation.revision, nowMs);
      }
      // A record of ours we do not know (an ancestor with our id, not expected): left to expire.
    }
    return this.tick(nowMs);
  }

  /** The answer to the CAS in flight: the key's new revision, or null when the revision had moved. */
  onCasResult(revision: number | null, nowMs: number): ElectionAction[] {
    const sent = this.#pending;
    this.#pending = null;
    if (sent === null) return [];
    if (this.#handover !== null) {
      // The renewal that delayed a hand-over was answered: hand over on the revision it produced.
      const handover = this.#handover;
      this.#handover = null;
      if (revision === null) return []; // the revision moved: the lease is no longer ours to give
      return this.#sendHandover({ record: sent.record, revision: Math.max(revision, handover.revision) }, nowMs);
    }
    if (this.#role === "released" || sent.record.holder === "") return [];
    if (this.#role === "leader") {
      if (revision === null) return this.#stepDown("the lease revision moved under a renewal", nowMs);
      this.#adoptOwn({ revision, record: sent.record }, nowMs, sent.sentMs);
      return this.tick(nowMs);
    }
    // A standby: the answer to a claim (a lost race when null: the winner's record arrives by the
    // watch). A renewal answered after a step-down (renewals > 0) changes nothing.
    // (An earlier claim without an answer stays unresolved: it may be what moved the revision.)
    if (revision === null || sent.record.renewals !== 0) return [];
    this.#unresolved = null;
    return this.#win(sent, revision, nowMs);
  }

  /** The CAS in flight got no answer (timeout, connection lost): it may or may not have happened. */
  onCasError(nowMs: number): ElectionAction[] {
    const sent = this.#pending;
    this.#pending = null;
    if (sent === null) return [];
    if (this.#handover !== null) {
      // Unknown whether the renewal happened: hand over on the revision we know (it may fail).
      const handover = this.#handover;
      this.#handover = null;
      return this.#sendHandover(handover, nowMs);
    }
    if (this.#role === "released" || sent.record.holder === "") return [];
    this.#unresolved = sent;
    return this.tick(nowMs);
  }

  /** Called periodically (every few tens of ms): renews, claims a stale key, or ends a run-out lease. */
  tick(nowMs: number): ElectionAction[] {
    if (this.#role === "released") return [];
    if (this.#role === "leader") {
      if (nowMs - this.#renewedSentMs >= this.#leaseMs) return this.#stepDown(`no lease renewal succeeded for ${this.#leaseMs} ms`, nowMs);
      // After a CAS without an answer the revision is unknown: wait for an observation.
      if (this.#pending !== null || this.#unresolved !== null || nowMs - this.#lastCasSentMs < this.#renewIntervalMs) return [];
      const own = this.#own!;
      return this.#cas({ holder: this.#holder, epoch: own.record.epoch, renewals: own.record.renewals + 1 }, own.revision, nowMs);
    }
    if (this.#pending !== null || this.#observedAtMs === null || nowMs < this.#claimNotBeforeMs) return [];
    const record = this.#observed.record;
    const claimable =
      record === null ||
      record.holder === "" ||
      this.#inheritsFrom(record.holder) ||
      nowMs - this.#observedAtMs >= this.#takeoverMs;
    if (!claimable) return [];
    return this.#cas({ holder: this.#holder, epoch: this.#highestEpoch + 1, renewals: 0 }, this.#observed.revision, nowMs);
  }

  /**
   * Ends the election: a leader steps down and hands the key over (holder "", same epoch); a
   * standby just stops taking part. No further actions after the hand-over CAS.
   */
  release(nowMs: number): ElectionAction[] {
    const wasLeader = this.#role === "leader";
    const own = this.#own;
    this.#role = "released";
    if (!wasLeader) return [];
    return [{ kind: "step-down", reason: "released" }, ...this.#handOver(own!, nowMs)];
  }

  /**
   * A leader gives up leading but stays in the election as a standby (e.g. it found its lease ran
   * out while it was stalled): it hands the key over so another replica claims it at once, and
   * does not claim again itself for takeoverMs (a single replica takes it back after that).
   */
  resign(nowMs: number, reason = "resigned"): ElectionAction[] {
    if (this.#role !== "leader") return [];
    const own = this.#own!;
    const actions = this.#stepDown(reason, nowMs);
    this.#claimNotBeforeMs = nowMs + this.#takeoverMs;
    return [...actions, ...this.#handOver(own, nowMs)];
  }

  #handOver(own: { record: LeaseRecord; revision: number }, nowMs: number): ElectionAction[] {
    this.#own = null;
    if (this.#pending !== null) {
      // The renewal in flight will move the revision: hand over after its answer.
      this.#handover = own;
      return [];
    }
    return this.#sendHandover(own, nowMs);
  }

  #sendHandover(own: { record: LeaseRecord; revision: number }, nowMs: number): ElectionAction[] {
    return this.#cas({ holder: "", epoch: own.record.epoch, renewals: own.record.renewals + 1 }, own.revision, nowMs);
  }

  #see(observation: LeaseObservation, nowMs: number): void {
    if (observation.record !== null) this.#highestEpoch = Math.max(this.#highestEpoch, observation.record.epoch);
    this.#observed = observation;
    this.#observedAtMs = nowMs;
  }

  #cas(record: LeaseRecord, expectedRevision: number, nowMs: number): ElectionAction[] {
    this.#pending = { record, expectedRevision, sentMs: nowMs };
    this.#lastCasSentMs = nowMs;
    return [{ kind: "cas", record, expectedRevision }];
  }

  /** A write of ours (renewal answer or observation) at `revision`. */
  #adoptOwn(observation: LeaseObservation, nowMs: number, sentMs?: number): void {
    const own = this.#own!;
    const record = observation.record!;
    if (observation.revision > own.revision) {
      this.#own = { record, revision: observation.revision };
      this.#see(observation, nowMs);
    }
    // The send time of the write that produced it, when known: the CAS answered, or the one whose
    // answer never came and whose record this is.
    const unresolved = this.#unresolved;
    if (sentMs === undefined && unresolved !== null && unresolved.record.epoch === record.epoch && unresolved.record.renewals === record.renewals) sentMs = unresolved.sentMs;
    if (sentMs !== undefined) this.#renewedSentMs = Math.max(this.#renewedSentMs, sentMs);
    // An observation of the key at or after our last write settles an unknown outcome: we know
    // the revision to renew on again (if the write did not happen, the next CAS says so).
    this.#unresolved = null;
  }

  #win(claim: SentCas, revision: number, nowMs: number): ElectionAction[] {
    this.#see({ revision, record: claim.record }, nowMs);
    // A claim answered after the lease it would grant ran out is not used: standbys may already
    // count the key as stale. It simply expires.
    if (nowMs - claim.sentMs >= this.#leaseMs) return [];
    this.#role = "leader";
    this.#own = { record: claim.record, revision };
    this.#renewedSentMs = claim.sentMs;
    return [{ kind: "become-leader", epoch: claim.record.epoch }];
  }

  #stepDown(reason: string, nowMs: number): ElectionAction[] {
    this.#role = "standby";
    this.#own = null;
    this.#unresolved = null;
    // As a standby we start judging the key afresh from now.
    this.#observedAtMs = nowMs;
    return [{ kind: "step-down", reason }];
  }
}
