/**
 * The decision store of the coordinator: the KV bucket `txnBucket`, one key per transaction
 * (txDecisionKey), written create-only so the coordinator's "commit" and a participant's "abort"
 * can never both be stored. Reads go to the stream leader (a follower could answer "absent" for a
 * decision just written, and the coordinator would then run an attempt that is already decided).
 *
 * Forgetting is deferred by limits.txDecisionRetainMs: a client that retries the request shortly
 * after its answer was lost still finds the decision and gets the same answer. The deferred
 * deletions are bounded (limits.txDecisionsRetainedMax, oldest deleted first) and dropped on stop
 * (a decision left behind is harmless; it answers questions nobody asks any more).
 *
 * The same bucket holds the directory-move lock (@antler/router-core move-lock.ts, key
 * moveLockKey), written only compare-and-set on its revision.
 */
import { limits } from "@antler/base";
import type { Bucket } from "@antler/io-nats";
import { txDecisionKey, type TxDecision } from "@antler/ops";
import { decodeDecision, decodeMoveLock, encodeDecision, encodeMoveLock, moveLockKey, type MoveLockRecord } from "@antler/router-core";

export interface DecisionStore {
  decide(decision: TxDecision): Promise<TxDecision>;
  read(txid: string): Promise<TxDecision | null>;
  forget(txid: string): Promise<void>;
  /** The directory-move lock record, or null when it was never written (CoordinatorPorts.readMoveLock). */
  readMoveLock(): Promise<MoveLockRecord | null>;
  /** Compare-and-set of the move lock on `revision` (0: create) (CoordinatorPorts.writeMoveLock). */
  writeMoveLock(holder: string | null, revision: number): Promise<number | null>;
  /** Deferred deletions waiting now. */
  readonly retained: number;
  /** Drops the deferred deletions (their keys stay). */
  stop(): void;
}

export interface DecisionStoreOptions {
  readonly retainMs?: number;
  readonly retainedMax?: number;
  readonly onError?: (err: unknown) => void;
}

export function createDecisionStore(bucket: Bucket, options: DecisionStoreOptions = {}): DecisionStore {
  const retainMs = options.retainMs ?? limits.txDecisionRetainMs;
  const retainedMax = options.retainedMax ?? limits.txDecisionsRetainedMax;
  const onError = options.onError ?? (() => {});
  /** txid → its deletion timer, in the order they were scheduled. */
  const pending = new Map<string, ReturnType<typeof setTimeout>>();

  const remove = (txid: string): void => {
    pending.delete(txid);
    bucket.delete(txDecisionKey(txid)).catch(onError);
  };

  const read = async (txid: string): Promise<TxDecision | null> => {
    const entry = await bucket.get(txDecisionKey(txid));
    return entry === null ? null : decodeDecision(entry.value);
  };

  return {
    async decide(decision) {
      const key = txDecisionKey(decision.txid);
      for (let round = 0; round < 3; round++) {
        if ((await bucket.create(key, encodeDecision(decision))) !== null) return decision;
        const stored = await read(decision.txid);
        // Deleted between the create and the read (only after everyone acknowledged): try again.
        if (stored !== null) return stored;
      }
      throw new Error(`decision ${key} keeps vanishing`);
    },
    read,
    async forget(txid) {
      if (pending.has(txid)) return;
      if (retainMs <= 0) return remove(txid);
      pending.set(txid, setTimeout(() => remove(txid), retainMs));
      if (pending.size > retainedMax) {
        const [oldest, timer] = pending.entries().next().value!;
        clearTimeout(timer);
        remove(oldest);
      }
    },
    async readMoveLock() {
      const entry = await bucket.get(moveLockKey);
      return entry === null ? null : { holder: decodeMoveLock(entry.value), revision: entry.revision };
    },
    writeMoveLock(holder, revision) {
      const value = encodeMoveLock(holder);
      return revision === 0 ? bucket.create(moveLockKey, value) : bucket.update(moveLockKey, value, revision);
    },
    get retained() {
      return pending.size;
    },
    stop() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}
