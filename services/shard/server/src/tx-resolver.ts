/**
 * The shard leader's resolver of prepared transactions left without an outcome (@antler/ops
 * txn.ts): the coordinator died between prepare and commit, or its txcommit/txabort never arrived.
 *
 * Every limits.txResolveIntervalMs it looks at the transactions prepared here; one this resolver
 * has seen prepared for limits.txResolveAfterMs is resolved from the decision bucket
 * (txDecisionKey(txid)). Age is measured on this process's own monotonic clock from the first pass
 * that saw the transaction, never from the prepare entry's stamp: that stamp carries the highest
 * clock any earlier leader had, so after a leader whose clock ran ahead it lies in the future and
 * the transaction (and its locks) would wait for this clock to catch up (simulation seed 200156).
 * - "commit": apply it (txcommit with the record's newInode);
 * - "abort": drop it (txabort);
 * - absent: write "abort" create-only, so a coordinator that is merely slow can no longer decide
 *   "commit" (its create fails); if our create fails, the coordinator was first: read and obey.
 * The commands run as the system through the normal execute + commit queue (the server's
 * `execute`), so they are logged and replayed like any other.
 *
 * Why "absent" is safe to read as "undecided": the coordinator deletes the key only after every
 * participant acknowledged its commit or abort, and this shard has not (the transaction is still
 * prepared here). So before writing "abort" the transaction is checked again, after the read: if
 * it is still prepared, the key cannot have been deleted yet, and a missing key means nobody
 * decided before the read. The bucket must be read at its stream leader (openBucket directGets:
 * false), as the coordinator reads it: a follower could miss a decision just written.
 * A record that cannot be decoded (router-core's decision codec, shared with the coordinator)
 * leaves the transaction prepared and is logged; the next pass reads it again.
 */
import { limits } from "@antler/base";
import type { Bucket } from "@antler/io-nats";
import { txDecisionKey, type Command, type Result, type TxDecision } from "@antler/ops";
import { decodeDecision, encodeDecision } from "@antler/router-core";
import type { Logger } from "@antler/telemetry";
import type { PreparedTransaction } from "./state-machine.ts";

/** The part of a KV bucket the resolver needs (the decision bucket, @antler/ops txnBucket). */
export type DecisionStore = Pick<Bucket, "get" | "create">;

export interface TxResolverOptions {
  readonly shardId: number;
  readonly decisions: DecisionStore;
  /** The transactions prepared here now. */
  readonly prepared: () => readonly PreparedTransaction[];
  /** Any slot this shard owns (tx commands name one; the shard answers MOVED otherwise). */
  readonly slot: number;
  /** Executes a txcommit/txabort as the system; settles with its result once it is durable. */
  readonly execute: (cmd: Command) => Promise<Result>;
  /** Monotonic milliseconds (performance.now in production). */
  readonly nowMs: () => number;
  readonly logger: Logger;
  readonly intervalMs?: number;
  readonly resolveAfterMs?: number;
}

export interface TxResolver {
  /** One pass now; settles when every resolution it started has finished (tests, shutdown). */
  pass(): Promise<void>;
  stop(): void;
}

export function startTxResolver(options: TxResolverOptions): TxResolver {
  const { shardId, decisions, prepared, slot, execute, nowMs, logger } = options;
  const intervalMs = options.intervalMs ?? limits.txResolveIntervalMs;
  const resolveAfterMs = options.resolveAfterMs ?? limits.txResolveAfterMs;
  /** Transactions being resolved now (a slow bucket must not start a second resolution). */
  const resolving = new Set<string>();
  /** txid → when a pass first saw it prepared (this process's monotonic clock). */
  const firstSeen = new Map<string, number>();
  let stopped = false;

  const stillPrepared = (txid: string): boolean => prepared().some((txn) => txn.txid === txid);

  const read = async (key: string): Promise<TxDecision | null> => {
    const entry = await decisions.get(key);
    return entry === null ? null : decodeDecision(entry.value);
  };

  const resolve = async (txn: PreparedTransaction): Promise<void> => {
    const key = txDecisionKey(txn.txid);
    let decision = await read(key);
    if (decision === null) {
      if (stopped || !stillPrepared(txn.txid)) return; // decided by a txcommit/txabort meanwhile
      const abort: TxDecision = { decision: "abort", txid: txn.txid, participants: [], by: `shard.${shardId}` };
      if ((await decisions.create(key, encodeDecision(abort))) !== null) {
        decision = abort;
      } else {
        // The coordinator (or another participant) wrote first: its decision stands.
        decision = await read(key);
        if (decision === null) {
          logger.warn("decision record vanished right after a create conflict; next pass", { txid: txn.txid });
          return;
        }
      }
    }
    if (decision.txid !== txn.txid) {
      logger.error("decision record names another transaction; left prepared", { txid: txn.txid, recordTxid: decision.txid });
      return;
    }
    if (stopped || !stillPrepared(txn.txid)) return;
    const cmd: Command =
      decision.decision === "commit"
        ? { kind: "txcommit", slot, txid: txn.txid, ...(decision.newInode !== undefined ? { newInode: decision.newInode } : {}) }
        : { kind: "txabort", slot, txid: txn.txid };
    const result = await execute(cmd);
    const fields = { txid: txn.txid, decision: decision.decision, by: decision.by, status: result.status, ageMs: nowMs() - (firstSeen.get(txn.txid) ?? nowMs()), clientRequestId: txn.clientRequestId };
    if (result.status === 0) logger.info("resolved a prepared transaction", fields);
    else logger.warn("resolving a prepared transaction failed; next pass", fields);
  };

  const pass = async (): Promise<void> => {
    if (stopped) return;
    const now = nowMs();
    const started: Promise<void>[] = [];
    const current = prepared();
    const stillPrepared = new Set(current.map((txn) => txn.txid));
    for (const txid of firstSeen.keys()) if (!stillPrepared.has(txid)) firstSeen.delete(txid);
    for (const txn of current) {
      const seen = firstSeen.get(txn.txid) ?? now;
      firstSeen.set(txn.txid, seen);
      if (now - seen < resolveAfterMs || resolving.has(txn.txid)) continue;
      resolving.add(txn.txid);
      started.push(
        resolve(txn)
          .catch((err: unknown) => logger.warn("resolving a prepared transaction failed; next pass", { txid: txn.txid, err }))
          .finally(() => resolving.delete(txn.txid)),
      );
    }
    await Promise.all(started);
  };

  const timer = setInterval(() => {
    pass().catch((err: unknown) => logger.error("transaction resolver pass failed", { err }));
  }, intervalMs);
  return {
    pass,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
