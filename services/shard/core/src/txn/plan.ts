/**
 * The plan half of txprepare, txcommit and txabort (@antler/ops txn.ts): what the coordinator's
 * tx commands do to this shard, decided against its state. The three are idempotent, because
 * the coordinator (or its successor, or the shard's own resolver) may send each more than once:
 * - txprepare for a client request that another txid already carried out here (committed) is
 *   TXTAKEN: one transaction per request. Two routers may coordinate one request at once (a lease
 *   handover) and run different attempts; every attempt touches the same parent directories,
 *   whose locks serialize them, so the shard owning one sees the first commit before the second
 *   prepare — without this check, the second would apply the request again.
 * - txprepare of a prepared txid with the same parts answers the outputs it answered first, and
 *   logs nothing; with other parts it is TXLOCKED (a coordinator that restarted ran the attempt
 *   again and planned it from newer facts: answering the old outputs would commit the old parts
 *   as if they were the new ones); of a decided txid it is EINVAL (too late: the transaction is
 *   over).
 * - txcommit of a committed txid answers OK with no outputs; of an unknown one EINVAL (the
 *   shard never prepared it, or aborted it: committing it here would be wrong).
 * - txabort of an unknown txid answers OK; of a committed one EINVAL.
 */
import { isAllocatableInode } from "@antler/slots";
import { SessionFlag, Status, type CommandOf, type TxPartOutput } from "@antler/ops";
import { owns } from "../alloc.ts";
import { fail, type Planned, type Planning } from "../namespace/context.ts";
import { isTxParts } from "./well-formed.ts";
import { checkPart, halvesPaired, isOwnedHere, touchedInodes } from "./validate.ts";
import { isLocalInode } from "./local.ts";

/** Whether the command was routed by a slot of this shard (else MOVED: the shard map changed). */
function routedHere(p: Planning, slot: number): boolean {
  return owns(p.st, slot);
}

export function planTxPrepare(p: Planning, cmd: CommandOf<"txprepare">): Planned {
  if (!routedHere(p, cmd.slot)) return fail(Status.MOVED);
  const prepared = p.st.preparedTxns.get(cmd.txid);
  if (prepared !== undefined) return sameValue(prepared.parts, cmd.parts) ? { status: Status.OK, outputs: prepared.outputs } : fail(Status.TXLOCKED);
  if (p.st.decidedTxns.has(cmd.txid)) return fail(Status.EINVAL);
  if (typeof cmd.clientRequestId !== "string" || !isTxParts(cmd.parts)) return fail(Status.EINVAL);
  const taken = p.st.txRequests.get(cmd.clientRequestId);
  if (taken !== undefined && taken !== cmd.txid && p.st.decidedTxns.get(taken) === "commit") return fail(Status.TXTAKEN);
  // One new node per transaction: the decision record carries a single newInode.
  if (cmd.parts.filter((part) => part.op === "node-new").length > 1) return fail(Status.EINVAL);
  if (cmd.parts.filter((part) => part.op === "entry-new").length > 1) return fail(Status.EINVAL);
  if (!cmd.parts.every((part) => isOwnedHere(p, part)) || !halvesPaired(p, cmd.parts)) return fail(Status.EINVAL);
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  // Locks first: what another transaction holds is about to change, so no verdict on it yet.
  const locks = new Set<number>();
  for (const part of cmd.parts) for (const inode of touchedInodes(part)) if (isLocalInode(p.st, inode)) locks.add(inode);
  if ([...locks].some((inode) => p.st.txLocks.has(inode))) return fail(Status.TXLOCKED);
  const outputs: TxPartOutput[] = [];
  for (const part of cmd.parts) {
    const checked = checkPart(p, part);
    if ("status" in checked) return checked;
    // The reserved inode is locked too: nothing may touch the node before it exists.
    if (checked.op === "node-new") locks.add(checked.inode);
    outputs.push(checked);
  }
  const sortedLocks = [...locks].sort((a, b) => a - b);
  return { kind: "txprepare", txid: cmd.txid, clientRequestId: cmd.clientRequestId, parts: cmd.parts, outputs, locks: sortedLocks };
}

/** Structural equality of JSON-like values (parts as sent and as restored from the log; key order aside). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  const aKeys = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bKeys = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return aKeys.length === bKeys.length && aKeys.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function planTxCommit(p: Planning, cmd: CommandOf<"txcommit">): Planned {
  if (!routedHere(p, cmd.slot)) return fail(Status.MOVED);
  const prepared = p.st.preparedTxns.get(cmd.txid);
  if (prepared === undefined) {
    return p.st.decidedTxns.get(cmd.txid) === "commit" ? { status: Status.OK, outputs: [] } : fail(Status.EINVAL);
  }
  if (!prepared.parts.some((part) => part.op === "entry-new")) return { kind: "txcommit", txid: cmd.txid };
  // The entry names the node made by this shard's own node-new part, or the one the coordinator reports.
  const own = prepared.outputs.find((output) => output.op === "node-new");
  const newInode = own?.op === "node-new" ? own.inode : cmd.newInode;
  if (newInode === undefined || !Number.isSafeInteger(newInode) || !isAllocatableInode(newInode)) return fail(Status.EINVAL);
  if (own === undefined && isLocalInode(p.st, newInode)) return fail(Status.EINVAL);
  return { kind: "txcommit", txid: cmd.txid, newInode };
}

export function planTxAbort(p: Planning, cmd: CommandOf<"txabort">): Planned {
  if (!routedHere(p, cmd.slot)) return fail(Status.MOVED);
  if (p.st.preparedTxns.has(cmd.txid)) return { kind: "txabort", txid: cmd.txid };
  return p.st.decidedTxns.get(cmd.txid) === "commit" ? fail(Status.EINVAL) : { status: Status.OK };
}
