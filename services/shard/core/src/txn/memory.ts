/**
 * What a shard remembers about transactions besides their parts: which inodes a prepared
 * transaction locks, which transactions were decided lately (so repeats of txcommit/txprepare
 * are recognised) and which client request each transaction carries out (so a retry of that
 * request is handed to the coordinator instead of being executed again). The decided and
 * request memories are bounded: the oldest are forgotten first, as st.requests.
 */
import { limits } from "@antler/base";
import type { PreparedTxn, State, TxOutcome } from "../state.ts";

/** The transaction locking any of `inodes`, or null when none is locked. */
export function lockingTx(st: State, inodes: readonly number[]): string | null {
  for (const inode of inodes) {
    const txid = st.txLocks.get(inode);
    if (txid !== undefined) return txid;
  }
  return null;
}

/** The transaction that took the client request `requestId` (prepared or committed here), or null. */
export function txOfRequest(st: State, requestId: string): string | null {
  return st.txRequests.get(requestId) ?? null;
}

/** Ids of the transactions prepared here and not decided yet, in prepare order. */
export function preparedTxids(st: State): string[] {
  return [...st.preparedTxns.keys()];
}

/** The prepared transactions with what the resolver needs to judge them. */
export function preparedTxns(st: State): { txid: string; preparedAtMs: number; clientRequestId: string }[] {
  return [...st.preparedTxns.values()].map((txn) => ({ txid: txn.txid, preparedAtMs: txn.preparedAtMs, clientRequestId: txn.clientRequestId }));
}

function rememberBounded<V>(memory: Map<string, V>, key: string, value: V, max: number): void {
  memory.delete(key);
  memory.set(key, value);
  // One insertion can exceed the bound by one at most.
  if (memory.size > max) {
    const oldest = memory.keys().next();
    if (oldest.done !== true) memory.delete(oldest.value);
  }
}

export function rememberDecided(st: State, txid: string, outcome: TxOutcome): void {
  rememberBounded(st.decidedTxns, txid, outcome, limits.txDecidedRememberedMax);
}

export function rememberTxRequest(st: State, requestId: string, txid: string): void {
  rememberBounded(st.txRequests, requestId, txid, limits.txRequestsRememberedMax);
}

/** Records a prepared transaction and takes its locks. */
export function holdPrepared(st: State, txn: PreparedTxn): void {
  st.preparedTxns.set(txn.txid, txn);
  for (const inode of txn.locks) st.txLocks.set(inode, txn.txid);
  rememberTxRequest(st, txn.clientRequestId, txn.txid);
}

/** Forgets a prepared transaction (decided) and releases its locks. */
export function releasePrepared(st: State, txn: PreparedTxn, outcome: TxOutcome): void {
  st.preparedTxns.delete(txn.txid);
  for (const inode of txn.locks) if (st.txLocks.get(inode) === txn.txid) st.txLocks.delete(inode);
  rememberDecided(st, txn.txid, outcome);
  // An aborted attempt did not carry out the request: a retry must not be taken for decided by it.
  if (outcome === "abort" && st.txRequests.get(txn.clientRequestId) === txn.txid) st.txRequests.delete(txn.clientRequestId);
}
