/**
 * A deterministic, seeded simulation of the quorum journal (ADR 0007): the real QuorumLogStream
 * and followQuorumLog run against three in-memory replicas (quorum-sim-replica.ts) on simulated
 * time (quorum-sim-loop.ts), so one seed replays one run exactly.
 *
 * A run: writers take over from each other in epochs as shard leaders do on a lease change (the
 * new one recovers the end and appends; the old one is crashed mid-append or keeps appending until
 * it is fenced), a writer now and then truncates the log as after a snapshot, two followers and two
 * readers read all along. Faults per seed: lost answers, delayed and reordered requests (spikes
 * beyond the replica timeout, so requests arrive after their caller gave up), servers crashed
 * (requests on the wire dropped or delivered on return) or paused, a server's disk lost (only
 * while the two others hold every agreed record — the fault model ADR 0007 promises to survive).
 * Then the faults stop: a new writer must append and every reader must read to the end within
 * bounded simulated time, and the writer must bring every replica into step (liveness).
 * quorum-sim-checker.ts judges safety all along.
 */
import type { LogRecord } from "./log-stream.ts";
import { FencedError, LogUnavailableError } from "./log-stream.ts";
import { followQuorumLog } from "./quorum-log-follower.ts";
import { LogTruncatedError, QuorumLogStream, type QuorumBrokenVariant } from "./quorum-log-stream.ts";
import { QuorumChecker } from "./quorum-sim-checker.ts";
import { SimLoop, SimProcess } from "./quorum-sim-loop.ts";
import { SimRandom } from "./quorum-sim-prng.ts";
import { SimJournalNet, SimJournalServer, SimReplica, type SimNetConditions } from "./quorum-sim-replica.ts";

/**
 * Broken variants of the replicas rather than of the journal: "fixed-name-delete" deletes whatever
 * stream holds the subject, as a delete by one fixed stream name did before replicas had derived
 * names (the bug of seed 3787, ADR 0007 "Replacing a replica").
 */
export type QuorumSimVariant = "fixed-name-delete";

export interface QuorumSimOptions {
  readonly seed: number;
  /** A deliberately broken protocol (see QuorumLogOptions.brokenVariant, QuorumSimVariant). */
  readonly variant?: QuorumBrokenVariant | QuorumSimVariant;
  /** Simulated time with faults and writer takeovers before everything heals. */
  readonly faultPhaseMs?: number;
  /** Judge only what processes were told (see QuorumChecker). */
  readonly observedOnly?: boolean;
  /** Receives a line per notable event (for replaying a failing seed). */
  readonly trace?: (line: string) => void;
}

export interface QuorumSimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly acknowledged: number;
  readonly writers: number;
  readonly reads: number;
  readonly serverFaults: number;
  readonly simulatedMs: number;
  readonly events: number;
  /** A digest of the run (same seed → same digest). */
  readonly digest: string;
}

const defaultFaultPhaseMs = 6_000;
/** After healing: the bound within which a writer must append and the readers catch up. */
const livenessMs = 20_000;
/** After that append: the bound within which the writer brings every replica into step. */
const repairBoundMs = 30_000;
/** A writer gives up (its shard process exits) after retrying an append this long. */
const appendRetryMs = 10_000;

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const healthy: SimNetConditions = { baseDelayMaxMs: 2, spikeRate: 0, spikeMaxMs: 0, lossRate: 0, bufferRate: 0 };

export async function runQuorumSim(options: QuorumSimOptions): Promise<QuorumSimResult> {
  const { seed } = options;
  const root = new SimRandom(seed);
  const profile = root.fork("profile");
  const workload = root.fork("workload");
  const faults = root.fork("faults");
  const trace = options.trace ?? (() => {});
  const faultPhaseMs = options.faultPhaseMs ?? defaultFaultPhaseMs;

  const loop = new SimLoop();
  const hostile: SimNetConditions = {
    baseDelayMaxMs: profile.int(1, 8),
    spikeRate: profile.pick([0, 0.01, 0.05]),
    spikeMaxMs: profile.pick([100, 1_500, 4_000]),
    lossRate: profile.pick([0, 0.02, 0.08]),
    bufferRate: profile.float(),
  };
  const net = new SimJournalNet(loop, root.fork("net"), hostile);
  const duplicateWindowMs = profile.pick([120_000, 1_000]);
  const servers = [0, 1, 2].map((i) => new SimJournalServer(i, net, duplicateWindowMs, { deleteIgnoresName: options.variant === "fixed-name-delete" }));
  const checker = new QuorumChecker(servers, () => loop.nowMs, options.observedOnly ?? false);
  for (const server of servers) {
    server.onChange = (s, what) => {
      trace(`${loop.nowMs} server ${s.index}: ${what} [${s.first}..${s.last}]`);
      checker.onServerChange(s, what);
    };
  }
  const logOptions = {
    replicaTimeoutMs: profile.pick([300, 1_000, 2_000]),
    surveyGraceMs: profile.pick([10, 50]),
    repairIntervalMs: profile.pick([50, 100, 250]),
    readBatchSize: profile.pick([3, 64, 1024]),
    ...(options.variant !== undefined && options.variant !== "fixed-name-delete" ? { brokenVariant: options.variant } : {}),
  };
  const truncateRate = profile.pick([0, 0, 0.02]);
  const diskLossRate = profile.pick([0, 0.3]);
  const serverFaultMeanMs = profile.pick([300, 800, 100_000]);

  const openLog = (process: SimProcess): QuorumLogStream =>
    new QuorumLogStream({ replicas: servers.map((s) => new SimReplica(s, process, net, logOptions.replicaTimeoutMs)) }, { name: "sim", subject: "sim" }, { ...logOptions, timers: process.timers });

  /** Anything but the documented errors is a bug in the journal. */
  const expectedError = (who: string, err: unknown): void => {
    if (err instanceof FencedError || err instanceof LogUnavailableError) return;
    checker.fail(`${who}: unexpected error ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  };

  // --- writers ---------------------------------------------------------------------------------------
  let stopWriting = false;
  let writersStarted = 0;
  const writerLogs: { process: SimProcess; log: QuorumLogStream }[] = [];

  /**
   * One leader term: recover the end, append while `keepGoing` (and until fenced, crashed or
   * stuck); `onAck` hears of each acknowledged append.
   */
  const runWriter = async (epoch: number, process: SimProcess, keepGoing = () => !stopWriting, onAck: (seq: number) => void = () => {}): Promise<number | undefined> => {
    const name = `w${epoch}`;
    const log = openLog(process);
    writerLogs.push({ process, log });
    const pause = (): Promise<void> => process.sleep(workload.int(5, 50));
    while (!process.dead) {
      try {
        await log.open();
        break;
      } catch (err) {
        expectedError(name, err);
        await pause();
      }
    }
    let last = -1;
    while (!process.dead && last < 0) {
      try {
        last = await log.lastSeq();
      } catch (err) {
        expectedError(name, err);
        await pause();
      }
    }
    if (process.dead) return undefined;
    checker.onWriterStart(name, last);
    trace(`${loop.nowMs} ${name} starts after ${last}`);
    let lastAck: number | undefined;
    while (!process.dead && keepGoing()) {
      const msgId = `${name}:${last + 1}`;
      const deadline = loop.nowMs + appendRetryMs;
      for (;;) {
        try {
          const seq = await log.append(bytes(msgId), last, msgId);
          if (seq !== last + 1) checker.fail(`${name}: append expecting ${last} returned ${seq}`);
          trace(`${loop.nowMs} ${name} acknowledged ${msgId}`);
          checker.onAcknowledged(seq, msgId);
          last = seq;
          lastAck = seq;
          onAck(seq);
          break;
        } catch (err) {
          expectedError(name, err);
          if (err instanceof FencedError || loop.nowMs >= deadline) {
            trace(`${loop.nowMs} ${name} stops: ${String(err)}`);
            log.close();
            process.crash();
            return lastAck;
          }
          await pause();
        }
      }
      if (truncateRate > 0 && workload.chance(truncateRate) && last > 5) {
        const keep = last - workload.int(0, 5);
        try {
          await log.truncateBefore(keep);
          trace(`${loop.nowMs} ${name} truncated below ${keep}`);
        } catch (err) {
          expectedError(`${name} truncating`, err);
        }
      }
      await process.sleep(workload.int(0, 30));
    }
    return lastAck;
  };

  // --- readers -------------------------------------------------------------------------------------
  let reads = 0;
  const followerState: { name: string; next: number }[] = [];

  const runFollower = async (name: string): Promise<void> => {
    const process = new SimProcess(name, loop);
    const log = openLog(process);
    const state = { name, next: 1 };
    followerState.push(state);
    for (;;) {
      const follower = followQuorumLog(log, state.next, (record: LogRecord) => {
        if (record.seq !== state.next) checker.fail(`${name}: got ${record.seq}, expected ${state.next}`);
        checker.onDelivered(name, record.seq, record.data);
        state.next = record.seq + 1;
      }, { pollMs: 200, timers: process.timers });
      try {
        await follower.done;
        return;
      } catch (err) {
        if (!(err instanceof LogTruncatedError)) {
          checker.fail(`${name}: follow ended with ${String(err)}`);
          return;
        }
      }
      // Truncated past this follower (a standby restarts from a snapshot): go on from the first record held.
      for (;;) {
        try {
          state.next = Math.max(state.next, await log.firstSeq());
          break;
        } catch (err) {
          expectedError(name, err);
          await process.sleep(100);
        }
      }
    }
  };

  /** One read of the log from its first record to its end, checked against acknowledgements. */
  const readOnce = async (name: string, log: QuorumLogStream): Promise<number> => {
    const startedAt = loop.nowMs;
    const from = await log.firstSeq();
    let expected = from;
    const end = await log.readAll(from, (record) => {
      if (record.seq !== expected) checker.fail(`${name}: read ${record.seq}, expected ${expected}`);
      checker.onDelivered(name, record.seq, record.data);
      expected = record.seq + 1;
    });
    if (end !== expected - 1 && end >= from) checker.fail(`${name}: read ended at ${expected - 1} but reported ${end}`);
    checker.onReadEnd(name, startedAt, from, end);
    reads++;
    return end;
  };

  const runReader = async (name: string): Promise<void> => {
    const process = new SimProcess(name, loop);
    const log = openLog(process);
    while (!stopWriting) {
      await process.sleep(workload.exponentialMs(300));
      try {
        await readOnce(name, log);
      } catch (err) {
        if (!(err instanceof LogTruncatedError)) expectedError(name, err);
      }
    }
  };

  // --- faults --------------------------------------------------------------------------------------
  let serverFaults = 0;
  /** Ends of faults still to come, run at once when everything heals. */
  const pendingRecoveries = new Set<() => void>();
  const recoverLater = (afterMs: number, recover: () => void): void => {
    const timer = loop.after(afterMs, () => {
      pendingRecoveries.delete(early);
      recover();
    });
    const early = (): void => {
      timer.cancel();
      recover();
    };
    pendingRecoveries.add(early);
  };
  /**
   * Disk loss is one failure only while the victim's data is not needed: both other replicas hold
   * every agreed record, and they do not hold two different records at their common end (a split
   * of racing writers that only the victim's copy can decide: with it gone, either record may
   * have been acknowledged, and the journal rightly stays unavailable — ADR 0007's known limit).
   */
  const diskLossSafe = (victim: number): boolean => {
    const [a, b] = servers.filter((_, i) => i !== victim);
    if (a!.last === b!.last && a!.record(a!.last)?.msgId !== b!.record(b!.last)?.msgId) return false;
    for (const [seq, msgId] of checker.agreed) {
      const held = servers.filter((s, i) => i !== victim && s.exists && (s.record(seq)?.msgId === msgId || s.first > seq)).length;
      if (held < 2) return false;
    }
    return true;
  };
  const scheduleFault = (): void => {
    loop.after(faults.exponentialMs(serverFaultMeanMs), () => {
      if (loop.nowMs >= faultPhaseMs) return;
      scheduleFault();
      const down = servers.filter((s) => s.state !== "up").length;
      if (down >= 2 || (down === 1 && !faults.chance(0.15))) return;
      const victim = servers[faults.int(0, 2)]!;
      if (victim.state !== "up") return;
      serverFaults++;
      const duration = 50 + faults.exponentialMs(700);
      if (faults.chance(0.5)) {
        victim.crash();
        trace(`${loop.nowMs} server ${victim.index} crashed for ${duration} ms`);
        const loseDisk = faults.chance(diskLossRate);
        recoverLater(duration, () => {
          if (loseDisk && diskLossSafe(victim.index)) victim.loseDisk();
          trace(`${loop.nowMs} server ${victim.index} back`);
          victim.resume();
        });
      } else {
        victim.pause();
        trace(`${loop.nowMs} server ${victim.index} paused for ${duration} ms`);
        recoverLater(duration, () => victim.resume());
      }
    });
  };
  scheduleFault();

  // Writer takeovers: the new writer starts after a lease-handover pause; the old one is crashed
  // (kill -9 mid-append) or left running, unaware, until it is fenced.
  let current = new SimProcess("w0", loop);
  const writers: Promise<unknown>[] = [runWriter(0, current)];
  writersStarted = 1;
  const scheduleTakeover = (): void => {
    loop.after(workload.exponentialMs(1_500), () => {
      if (loop.nowMs >= faultPhaseMs) return;
      scheduleTakeover();
      if (workload.chance(0.4)) {
        trace(`${loop.nowMs} ${current.name} crashed`);
        current.crash();
      }
      const epoch = writersStarted++;
      const next = new SimProcess(`w${epoch}`, loop);
      current = next;
      loop.after(workload.int(0, 300), () => writers.push(runWriter(epoch, next)));
    });
  };
  scheduleTakeover();
  const readers = [runFollower("follower-a"), runFollower("follower-b"), runReader("reader-a"), runReader("reader-b")];
  void readers;

  const stopped = (): boolean => !checker.ok;
  await loop.run(faultPhaseMs, stopped);

  // --- heal, then liveness -------------------------------------------------------------------------
  if (checker.ok) {
    stopWriting = true;
    net.conditions = healthy;
    for (const recover of [...pendingRecoveries]) recover();
    pendingRecoveries.clear();
    trace(`${loop.nowMs} healed`);
    // A new leader term; writers of earlier terms may still fence it with an append in flight,
    // after which the next term starts (as the lease would pass on). It appends on (as a shard
    // does) until the replicas are in step: a replica that lost records behind its back is only
    // noticed by its next append.
    let finalSeq: number | undefined;
    let latestSeq = 0;
    let converged = false;
    void (async () => {
      while (finalSeq === undefined && checker.ok) {
        const epoch = writersStarted++;
        await runWriter(epoch, new SimProcess(`w${epoch}`, loop), () => !converged, (seq) => {
          finalSeq ??= seq;
          latestSeq = seq;
        });
      }
    })();
    const healedAt = loop.nowMs;
    await loop.run(healedAt + livenessMs, () => finalSeq !== undefined || stopped());
    if (checker.ok && finalSeq === undefined) checker.fail(`liveness: a writer could not append within ${livenessMs} ms of healing`);
    if (checker.ok && finalSeq !== undefined) {
      const target = finalSeq;
      let readEnd = -1;
      const readerProcess = new SimProcess("final-reader", loop);
      const finalReader = openLog(readerProcess);
      void (async () => {
        while (readEnd < target && !readerProcess.dead) {
          try {
            readEnd = await readOnce("final-reader", finalReader);
          } catch (err) {
            expectedError("final-reader", err);
            await readerProcess.sleep(50);
          }
        }
      })();
      const caughtUp = (): boolean => readEnd >= target && followerState.every((f) => f.next > target);
      await loop.run(loop.nowMs + livenessMs, () => caughtUp() || stopped());
      if (checker.ok && readEnd < target) checker.fail(`liveness: a reader did not read to ${target} within ${livenessMs} ms`);
      const behind = followerState.filter((f) => f.next <= target);
      if (checker.ok && behind.length > 0) checker.fail(`liveness: ${behind.map((f) => `${f.name} at ${f.next - 1}`).join(", ")} did not reach ${target}`);
      // The replicas converge: every one holds the log's last record.
      const inStep = (): boolean => servers.every((s) => s.exists && s.last === latestSeq && s.record(latestSeq)?.msgId === checker.acknowledged.get(latestSeq)?.msgId);
      await loop.run(loop.nowMs + repairBoundMs, () => inStep() || stopped());
      converged = true;
      if (checker.ok && !inStep()) {
        checker.fail(`liveness: replicas not in step ${repairBoundMs} ms after healing: ${servers.map((s) => `${s.index}:${s.exists ? `${s.first}..${s.last}` : "missing"}`).join(" ")}`);
      }
    }
  }
  if (checker.ok) checker.finish();
  for (const { process } of writerLogs) process.crash();
  const digest = [...checker.agreed.entries()].sort((a, b) => a[0] - b[0]).map(([s, id]) => `${s}=${id}`).join(",");
  return {
    seed,
    violations: checker.violations,
    acknowledged: checker.acknowledged.size,
    writers: writersStarted,
    reads,
    serverFaults,
    simulatedMs: loop.nowMs,
    events: loop.executed,
    digest: `${loop.executed}:${loop.nowMs}:${hash(digest)}`,
  };
}

/** FNV-1a over a string, as hex: a short fingerprint of a run. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}
