/**
 * Cross-shard transactions on a shard (@antler/ops txn.ts): planning and applying the
 * coordinator's txprepare/txcommit/txabort, the locks prepared transactions hold, and what the
 * shard server's resolver and the retry detection need to know about them.
 */
export { planTxAbort, planTxCommit, planTxPrepare } from "./plan.ts";
export { applyTxOp } from "./apply.ts";
export { lockingTx, preparedTxids, preparedTxns, txOfRequest } from "./memory.ts";
export { isTxPart, isTxParts } from "./well-formed.ts";
export type { TxAbortOp, TxCommitOp, TxOp, TxPrepareOp } from "../log-entry.ts";
