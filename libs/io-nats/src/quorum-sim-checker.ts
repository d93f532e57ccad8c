/**
 * The quorum-journal simulation's checkers (quorum-sim.ts). They see every replica's stream as it
 * changes (the omniscient view no process has) and every outcome a process is told, and judge
 * the safety claims of quorum-log-stream.ts's header:
 *
 * - one record per slot: at most one record per slot is ever agreed (stored on two replicas);
 * - agreed stays agreed: an agreed record stays on two replicas (unless truncated below);
 * - I2: on every replica, every record but the last is agreed;
 * - I3: a replica holding no record ends at 0 or at an agreed slot;
 * - acknowledged = agreed: a writer is told "stored at s" only for the record agreed at s, and two
 *   writers are never told different records for one slot;
 * - never lost: a read started after an acknowledgement includes that record at its sequence;
 * - one log: every record any reader is given is the agreed record at its sequence (so all
 *   readers see prefixes of one sequence), and a follower gets them in order without gaps;
 * - fencing: a writer's records extend only the log it knows. It learns the end e (recovery) and
 *   appends e+1, e+2, …; its record at s > e+1 may be agreed only after its own record at s-1.
 *   So once a new writer's record is agreed, no append a deposed writer sends from its stale
 *   view can become part of the log.
 *
 * With `observedOnly`, only what processes were told is judged (acknowledgements against reads,
 * reads against each other, liveness): the broken-variant tests use it to show that a broken
 * protocol is caught by its visible damage, not only by the omniscient invariants.
 *
 * Record ids are `<writer>:<seq>` (as a shard's msg ids), the record's data is its id.
 */
import type { SimJournalServer } from "./quorum-sim-replica.ts";

const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** The writer of a record id (`<writer>:<seq>`). */
function writerOf(msgId: string): string {
  return msgId.slice(0, msgId.lastIndexOf(":"));
}

export class QuorumChecker {
  readonly #servers: readonly SimJournalServer[];
  readonly #now: () => number;
  readonly #observedOnly: boolean;
  /** What processes were told: slot → id (acknowledged or read). */
  readonly #observed = new Map<number, string>();
  readonly violations: string[] = [];
  /** Every record ever agreed: slot → id. */
  readonly agreed = new Map<number, string>();
  /** Every acknowledgement: slot → id and when it was given. */
  readonly acknowledged = new Map<number, { readonly msgId: string; readonly atMs: number }>();
  /** Where each writer found the end of the log before its first append. */
  readonly #startedAfter = new Map<string, number>();
  /** Records below this were truncated by some purge: they may legitimately be gone. */
  #truncatedBelow = 1;

  constructor(servers: readonly SimJournalServer[], now: () => number, observedOnly = false) {
    this.#servers = servers;
    this.#now = now;
    this.#observedOnly = observedOnly;
  }

  /** Everything told to any process about slot `seq` must be the same record. */
  #observe(who: string, seq: number, msgId: string): void {
    const before = this.#observed.get(seq);
    if (before === undefined) this.#observed.set(seq, msgId);
    else if (before !== msgId) this.fail(`${who} was told ${msgId} at ${seq}, another process ${before}`);
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  fail(what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.#now()}ms ${what}`);
  }

  #holders(seq: number, msgId: string): number {
    return this.#servers.filter((s) => s.exists && s.record(seq)?.msgId === msgId).length;
  }

  /** After every change of a replica's stream. */
  onServerChange(server: SimJournalServer, what: string): void {
    if (what.startsWith("purged below ")) this.#truncatedBelow = Math.max(this.#truncatedBelow, Number(what.slice("purged below ".length)));
    if (this.#observedOnly) return;
    if (what.startsWith("stored ")) {
      const seq = server.last;
      const record = server.record(seq)!;
      if (text(record.data) !== record.msgId) this.fail(`replica ${server.index} slot ${seq}: data ${text(record.data)} under id ${record.msgId}`);
      if (this.#holders(seq, record.msgId) >= 2) this.#agree(seq, record.msgId);
      // I2: the record below, no longer the last, must be agreed.
      const below = server.record(seq - 1);
      if (below !== undefined && this.agreed.get(seq - 1) !== below.msgId) {
        this.fail(`I2: replica ${server.index} got ${record.msgId} at ${seq} after ${below.msgId} at ${seq - 1}, which is not agreed (agreed there: ${this.agreed.get(seq - 1) ?? "none"})`);
      }
      return;
    }
    // I3: a replica holding no record ends at an agreed slot.
    if (server.exists && server.records().length === 0 && server.last > 0 && !this.agreed.has(server.last)) {
      this.fail(`I3: replica ${server.index} holds no record and ends at ${server.last}, which was never agreed (${what})`);
    }
    this.#checkStillAgreed(what);
  }

  #agree(seq: number, msgId: string): void {
    const before = this.agreed.get(seq);
    if (before === msgId) return;
    if (before !== undefined) {
      this.fail(`two records agreed at slot ${seq}: ${before} and ${msgId}`);
      return;
    }
    this.agreed.set(seq, msgId);
    this.#checkFencing(seq, msgId);
    const above = this.agreed.get(seq + 1);
    if (above !== undefined) this.#checkFencing(seq + 1, above);
  }

  /** A writer found the end of the log at `end` and starts appending after it. */
  onWriterStart(writer: string, end: number): void {
    this.#startedAfter.set(writer, end);
  }

  #checkFencing(seq: number, msgId: string): void {
    const writer = writerOf(msgId);
    const start = this.#startedAfter.get(writer);
    if (start === undefined) return;
    if (seq <= start) {
      this.fail(`fencing: ${msgId} agreed at ${seq}, but its writer started after ${start}`);
      return;
    }
    const below = this.agreed.get(seq - 1);
    if (seq > start + 1 && below !== undefined && below !== `${writer}:${seq - 1}`) {
      this.fail(`fencing: ${msgId} agreed at ${seq} after ${below} — appended from a stale view of the log`);
    }
  }

  #checkStillAgreed(what: string): void {
    for (const [seq, msgId] of this.agreed) {
      if (seq < this.#truncatedBelow) continue;
      const holders = this.#holders(seq, msgId);
      if (holders < 2) this.fail(`agreed record ${msgId} at ${seq} is on ${holders} replica(s) after: ${what}`);
    }
  }

  /** A writer was told its record is stored at `seq`. */
  onAcknowledged(seq: number, msgId: string): void {
    const earlier = this.acknowledged.get(seq);
    if (earlier !== undefined && earlier.msgId !== msgId) this.fail(`slot ${seq} acknowledged as ${earlier.msgId} and as ${msgId}`);
    this.#observe(`the writer of ${msgId}`, seq, msgId);
    if (!this.#observedOnly && this.agreed.get(seq) !== msgId) this.fail(`${msgId} acknowledged at ${seq} but the agreed record there is ${this.agreed.get(seq) ?? "none"}`);
    if (earlier === undefined) this.acknowledged.set(seq, { msgId, atMs: this.#now() });
  }

  /** A reader was given `data` at `seq`. */
  onDelivered(reader: string, seq: number, data: Uint8Array): void {
    const msgId = text(data);
    this.#observe(reader, seq, msgId);
    if (this.#observedOnly) return;
    const agreed = this.agreed.get(seq);
    if (agreed !== msgId) this.fail(`${reader} was given ${msgId} at ${seq}; the agreed record there is ${agreed ?? "none"}`);
  }

  /**
   * A read that started at `startedAtMs` from `fromSeq` ended at `endSeq`: every record
   * acknowledged before it started, from `fromSeq` on, must be within it.
   */
  onReadEnd(reader: string, startedAtMs: number, fromSeq: number, endSeq: number): void {
    for (const [seq, ack] of this.acknowledged) {
      if (ack.atMs < startedAtMs && seq >= fromSeq && seq > endSeq) {
        this.fail(`lost: ${reader} read up to ${endSeq} but ${ack.msgId} was acknowledged at ${seq} before the read started`);
        return;
      }
    }
  }

  /** At the end: every acknowledged record is still on two replicas. */
  finish(): void {
    if (this.#observedOnly) return;
    for (const [seq, ack] of this.acknowledged) {
      if (seq >= this.#truncatedBelow && this.#holders(seq, ack.msgId) < 2) this.fail(`acknowledged ${ack.msgId} at ${seq} is on fewer than two replicas at the end`);
    }
  }
}
