/**
 * The decision record as stored in the decision bucket (@antler/ops TxDecision): JSON, UTF-8.
 * Decoding validates every field, so a malformed value is a typed error and never a decision.
 */
import type { TxDecision } from "@antler/ops";

export class DecisionRecordError extends Error {
  override name = "DecisionRecordError";
}

export function encodeDecision(decision: TxDecision): Uint8Array {
  const record: Record<string, unknown> = {
    decision: decision.decision,
    txid: decision.txid,
    participants: decision.participants,
    by: decision.by,
  };
  if (decision.newInode !== undefined) record.newInode = decision.newInode;
  if (decision.answerInode !== undefined) record.answerInode = decision.answerInode;
  return new TextEncoder().encode(JSON.stringify(record));
}

const isInode = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0 && (value as number) < 2 ** 32;

export function decodeDecision(bytes: Uint8Array): TxDecision {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new DecisionRecordError("decision is not JSON", { cause: err });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DecisionRecordError("decision is not an object");
  const { decision, txid, participants, newInode, answerInode, by } = value as Record<string, unknown>;
  if (decision !== "commit" && decision !== "abort") throw new DecisionRecordError(`decision ${JSON.stringify(decision)} is neither commit nor abort`);
  if (typeof txid !== "string" || txid === "") throw new DecisionRecordError("decision without a txid");
  if (typeof by !== "string") throw new DecisionRecordError("decision without its author");
  if (!Array.isArray(participants) || !participants.every((shard) => Number.isSafeInteger(shard) && (shard as number) >= 0)) {
    throw new DecisionRecordError("decision participants are not shard ids");
  }
  if (newInode !== undefined && !isInode(newInode)) throw new DecisionRecordError("decision newInode is not an inode");
  if (answerInode !== undefined && !isInode(answerInode)) throw new DecisionRecordError("decision answerInode is not an inode");
  return {
    decision,
    txid,
    participants: participants as number[],
    by,
    ...(newInode !== undefined ? { newInode: newInode as number } : {}),
    ...(answerInode !== undefined ? { answerInode: answerInode as number } : {}),
  };
}
