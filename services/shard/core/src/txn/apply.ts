/**
 * The apply half of txprepare, txcommit and txabort. A prepare records the transaction, takes
 * its locks and reserves a node-new part's inode (counters only grow: an abort simply leaves it
 * unused). A commit applies the parts with the primitives and answers their outputs.
 *
 * Parts of one shard are applied in a fixed order of kinds, whatever order they came in: new
 * nodes first (an entry may name them), then entry removals, entry additions, edge moves and
 * additions, and edge removals last (they may free a node, which must no longer be named). With
 * all parts of an operation on this shard that is the order the local command changes things in,
 * so the result is the one the local command gives. Outputs keep the order of the parts; the
 * attributes in them are taken once every part is applied.
 */
import { unreachable } from "@antler/base";
import { AttrFlag, Status, type NodeType, type Result, type TxPart, type TxPartOutput } from "@antler/ops";
import { takeInode } from "../alloc.ts";
import { fillAttr } from "../attr.ts";
import { mismatch } from "../errors.ts";
import type { TxAbortOp, TxCommitOp, TxOp, TxPrepareOp } from "../log-entry.ts";
import type { Applying } from "../namespace/context.ts";
import { openFlagsOf } from "../namespace/create.ts";
import { requireNode, viewerOf } from "../namespace/nodes.ts";
import { registerOpen } from "../namespace/open-files.ts";
import type { Node, PreparedTxn } from "../state.ts";
import { holdPrepared, releasePrepared } from "./memory.ts";
import { addEdgeHalf, addEntryHalf, createNode, removeEdgeAndDispose, removeEdgeHalf, removeEntryHalf, type At } from "./primitives.ts";

const phaseOf: Record<TxPart["op"], number> = {
  "node-new": 0,
  "entry-remove": 1,
  "entry-add": 2,
  "entry-new": 3,
  "edge-move": 4,
  "edge-add": 4,
  "edge-remove": 5,
};

function applyPrepare(a: Applying, op: TxPrepareOp): Result {
  const st = a.st;
  mismatch(!st.preparedTxns.has(op.txid), `transaction ${op.txid} is already prepared`);
  mismatch(op.outputs.length === op.parts.length, `transaction ${op.txid} has ${op.parts.length} parts, ${op.outputs.length} outputs`);
  for (const inode of op.locks) mismatch(!st.txLocks.has(inode), `inode ${inode} is locked by ${st.txLocks.get(inode)}`);
  op.parts.forEach((part, i) => {
    const output = op.outputs[i]!;
    mismatch(output.op === part.op, `transaction ${op.txid}: output ${i} is not for a ${part.op} part`);
    if (output.op === "node-new") takeInode(st, output.inode);
  });
  const txn: PreparedTxn = {
    txid: op.txid,
    clientRequestId: op.clientRequestId,
    preparedAtMs: a.stamp.wallMs,
    caller: a.caller,
    parts: op.parts,
    outputs: op.outputs,
    locks: op.locks,
  };
  holdPrepared(st, txn);
  return { status: Status.OK, outputs: op.outputs };
}

/** Part `index` answers the attributes of `inode` (seen under `parent`) once the commit is applied. */
interface AttrOutput {
  readonly index: number;
  readonly inode: number;
  readonly parent: number;
}

function applyPart(a: Applying, txn: PreparedTxn, part: TxPart, index: number, newInode: number | undefined, at: At): AttrOutput | null {
  const st = a.st;
  switch (part.op) {
    case "node-new": {
      const output = txn.outputs[index]!;
      mismatch(output.op === "node-new", `transaction ${txn.txid}: no inode for part ${index}`);
      createNode(st, part.spec, output.inode, part.parent, part.name, at);
      if (part.spec.kind === "create") registerOpen(st, txn.caller.sessionId, output.inode);
      return { index, inode: output.inode, parent: part.parent };
    }
    case "entry-new": {
      mismatch(newInode !== undefined, `transaction ${txn.txid}: entry-new without the new inode`);
      const output = txn.outputs[index]!;
      mismatch(output.op === "entry-new", `transaction ${txn.txid}: no spec for part ${index}`);
      addEntryHalf(st, requireNode(st, part.cmd.parent), part.cmd.name, newInode, output.spec.type as NodeType, at);
      return null;
    }
    case "entry-remove":
      removeEntryHalf(st, requireNode(st, part.parent), part.name, part.inode, at);
      return null;
    case "entry-add": {
      const parent = requireNode(st, part.parent);
      if (part.replace !== null) removeEntryHalf(st, parent, part.name, part.replace, at);
      addEntryHalf(st, parent, part.name, part.inode, part.type as NodeType, at);
      return null;
    }
    case "edge-add": {
      const node = requireNode(st, part.inode);
      mismatch(node.dir === null && node.detached === null, `inode ${part.inode} cannot get another link`);
      addEdgeHalf(st, node, part.parent, part.name, at);
      return { index, inode: part.inode, parent: part.parent };
    }
    case "edge-move": {
      const node = requireNode(st, part.inode);
      removeEdgeHalf(st, node, part.from.parent, part.from.name, at);
      addEdgeHalf(st, node, part.to.parent, part.to.name, at);
      return { index, inode: part.inode, parent: part.to.parent };
    }
    case "edge-remove": {
      const node = requireNode(st, part.inode);
      if (part.kind === "unlink") mismatch(node.dir === null, `unlink of directory ${part.inode}`);
      else mismatch(node.dir === null || node.dir.entries.size === 0, `removal of non-empty directory ${part.inode}`);
      removeEdgeAndDispose(st, node, part.parent, part.name, at);
      return null;
    }
    default:
      return unreachable(part);
  }
}

function attrOutput(a: Applying, txn: PreparedTxn, part: TxPart, target: AttrOutput): TxPartOutput {
  const node: Node | undefined = a.st.nodes.get(target.inode);
  // A later part of the same commit freed it (no coordinator plans that): nothing to describe.
  if (node === undefined) return part.op === "node-new" ? { op: part.op, inode: target.inode } : { op: part.op as "edge-add" | "edge-move" };
  const attr = fillAttr(node, a.st.nodes.get(target.parent) ?? null, viewerOf(txn.caller));
  if (part.op === "edge-add" || part.op === "edge-move") return { op: part.op, attr };
  if (part.op !== "node-new" || part.spec.kind !== "create") return { op: "node-new", inode: node.inode, attr };
  // mfsmaster never lets a just-created file's attributes allow the data cache.
  return { op: "node-new", inode: node.inode, attr: { ...attr, flags: attr.flags & ~AttrFlag.ALLOWDATACACHE }, oflags: openFlagsOf(node) };
}

function applyCommit(a: Applying, op: TxCommitOp): Result {
  const st = a.st;
  const txn = st.preparedTxns.get(op.txid);
  mismatch(txn !== undefined, `transaction ${op.txid} is not prepared`);
  const at: At = { ts: a.ts, stamp: a.stamp };
  const order = txn.parts.map((part, index) => ({ part, index })).sort((x, y) => phaseOf[x.part.op] - phaseOf[y.part.op] || x.index - y.index);
  const attrs: AttrOutput[] = [];
  for (const { part, index } of order) {
    const target = applyPart(a, txn, part, index, op.newInode, at);
    if (target !== null) attrs.push(target);
  }
  const outputs: TxPartOutput[] = txn.parts.map((part, index) => {
    const target = attrs.find((t) => t.index === index);
    if (target !== undefined) return attrOutput(a, txn, part, target);
    const prepared = txn.outputs[index]!;
    return prepared.op === "entry-new" ? prepared : ({ op: part.op } as TxPartOutput);
  });
  releasePrepared(st, txn, "commit");
  return { status: Status.OK, outputs };
}

function applyAbort(a: Applying, op: TxAbortOp): Result {
  const txn = a.st.preparedTxns.get(op.txid);
  mismatch(txn !== undefined, `transaction ${op.txid} is not prepared`);
  releasePrepared(a.st, txn, "abort");
  return { status: Status.OK };
}

export function applyTxOp(a: Applying, op: TxOp): Result {
  switch (op.kind) {
    case "txprepare": return applyPrepare(a, op);
    case "txcommit": return applyCommit(a, op);
    case "txabort": return applyAbort(a, op);
    default: return unreachable(op);
  }
}
