/**
 * The shell around the pure Election (@antler/shard-core): watches the lease key, ticks the
 * election on a timer with this process's monotonic clock, carries out its compare-and-sets on the
 * LeaseStore, and tells the owner when it becomes leader or must step down.
 *
 * After any CAS that failed or lost, it also reads the key: the election may be waiting to learn
 * whether an unanswered CAS happened, and the read keeps it correct even if the watch stalled.
 */
import type { Election, ElectionAction } from "@antler/shard-core";
import type { LeaseStore } from "@antler/io-nats";
import type { Logger } from "@antler/telemetry";

/** Lease operations or tick delays beyond this are logged (a lease lasts a few hundred ms). */
const slowMs = 100;

export interface ElectionRunnerOptions {
  readonly store: LeaseStore;
  readonly election: Election;
  readonly logger: Logger;
  /** How often the election is ticked (limits.shardLeaseTickMs). */
  readonly tickMs: number;
  /** Monotonic milliseconds; performance.now by default. */
  readonly nowMs?: () => number;
  /** Called when the lease is won; the owner catches up with the log and serves. */
  readonly onBecomeLeader: (epoch: number) => void;
  /** Called when leadership ends (the owner stops serving at once). */
  readonly onStepDown: (reason: string) => void;
}

export class ElectionRunner {
  readonly #options: ElectionRunnerOptions;
  readonly #nowMs: () => number;
  #watch: { stop(): void } | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #casInFlight: Promise<void> | null = null;
  #observedOnce = false;
  #settledWaiters: (() => void)[] = [];

  constructor(options: ElectionRunnerOptions) {
    this.#options = options;
    this.#nowMs = options.nowMs ?? (() => performance.now());
  }

  start(): void {
    this.#watch = this.#options.store.watch((observation) => {
      this.#observedOnce = true;
      this.#perform(this.#options.election.onObserved(observation, this.#nowMs()));
      this.#checkSettled();
    });
    let lastTickMs = this.#nowMs();
    let lateTicks = 0;
    let worstLateMs = 0;
    let lateReportedAtMs = Number.NEGATIVE_INFINITY;
    this.#timer = setInterval(() => {
      const now = this.#nowMs();
      // A late tick means a stalled event loop (CPU starvation, a long synchronous task): the lease
      // is at risk when it approaches leaseMs. Logged (at most once a second) so spurious
      // step-downs can be explained.
      const lateMs = now - lastTickMs - this.#options.tickMs;
      if (lateMs > slowMs) {
        lateTicks++;
        worstLateMs = Math.max(worstLateMs, lateMs);
        if (now - lateReportedAtMs >= 1_000) {
          this.#options.logger.warn("lease ticks late", { ticks: lateTicks, worstLateMs: Math.round(worstLateMs) });
          lateReportedAtMs = now;
          lateTicks = 0;
          worstLateMs = 0;
        }
      }
      lastTickMs = now;
      this.#perform(this.#options.election.tick(now));
    }, this.#options.tickMs);
  }

  /** Whether this process leads right now (role and lease time left, by our clock). */
  isLeader(): boolean {
    return this.#options.election.isLeader(this.#nowMs());
  }

  /**
   * Resolves once the election has seen the lease key and has no CAS in flight: it either leads
   * or is a standby of a live-looking leader (the first decision after start).
   */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      this.#settledWaiters.push(resolve);
      this.#checkSettled();
    });
  }

  /**
   * Stops leading but stays a standby: the lease is handed over (another replica claims it at
   * once) and this one does not claim again for the takeover time. onStepDown is called.
   */
  resign(reason: string): void {
    this.#perform(this.#options.election.resign(this.#nowMs(), reason));
  }

  /** Gives the lease up (a leader hands it over) and stops; waits for the release CAS. */
  async release(): Promise<void> {
    this.#perform(this.#options.election.release(this.#nowMs()));
    // A release queued behind a renewal is sent when that one is answered: wait for both.
    while (this.#casInFlight !== null) await this.#casInFlight;
    this.stop();
  }

  stop(): void {
    this.#watch?.stop();
    this.#watch = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #checkSettled(): void {
    if (!this.#observedOnce || this.#casInFlight !== null) return;
    for (const resolve of this.#settledWaiters.splice(0)) resolve();
  }

  #perform(actions: readonly ElectionAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case "cas":
          this.#cas(action);
          break;
        case "become-leader":
          this.#options.logger.info("lease won", { epoch: action.epoch });
          this.#options.onBecomeLeader(action.epoch);
          break;
        case "step-down":
          this.#options.logger.warn("lease lost", { reason: action.reason });
          this.#options.onStepDown(action.reason);
          break;
      }
    }
  }

  #cas(action: Extract<ElectionAction, { kind: "cas" }>): void {
    const { store, election, logger } = this.#options;
    const sentMs = this.#nowMs();
    const flight = store.compareAndSet(action.record, action.expectedRevision).then(
      (revision) => {
        this.#casInFlight = null;
        const tookMs = this.#nowMs() - sentMs;
        if (tookMs > slowMs) logger.warn("lease compare-and-set slow", { ms: Math.round(tookMs), epoch: action.record.epoch });
        this.#perform(election.onCasResult(revision, this.#nowMs()));
        if (revision === null) this.#read();
      },
      (err: unknown) => {
        this.#casInFlight = null;
        logger.warn("lease compare-and-set failed", { err, holder: action.record.holder, epoch: action.record.epoch });
        this.#perform(election.onCasError(this.#nowMs()));
        this.#read();
      },
    );
    this.#casInFlight = flight;
    void flight.finally(() => this.#checkSettled());
  }

  #read(): void {
    this.#options.store.read().then(
      (observation) => this.#perform(this.#options.election.onObserved(observation, this.#nowMs())),
      (err: unknown) => this.#options.logger.warn("lease read failed", { err }),
    );
  }
}
