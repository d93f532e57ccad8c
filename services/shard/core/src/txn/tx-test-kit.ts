/**
 * Helpers for the transaction tests (used only by *.test.ts files): a few real state machines
 * owning disjoint slot sets (shard k owns every slot s with s mod count = k, so the root, in
 * slot 0, is on shard 0), a stand-in for the coordinator's calls, and a decoder of snapshots.
 */
import { decodeMessage, isFailure, nameFromText, type Ctx, type NewNodeCommand, type NewNodeSpec, type TxPart, type TxPartOutput } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { limits } from "@antler/base";
import type { Execution } from "../api.ts";
import { Harness, rootCtx } from "../test-kit.ts";

/** Directories named "…@k" go to slot k (so to shard k mod count); others stay with their parent. */
export function slotOfNewDirectoryForTests(parent: number, name: string): number {
  const at = /@(\d+)$/.exec(name);
  return at === null ? slotOfInode(parent) : Number(at[1]);
}

export class Shards {
  readonly shards: Harness[];
  #requestNo = 0;

  constructor(count: number) {
    this.shards = Array.from({ length: count }, (_, k) => new Harness({
      shardId: k + 1,
      originId: k + 1,
      slots: Array.from({ length: limits.slotCount }, (_, s) => s).filter((s) => s % count === k),
      slotOfNewDirectory: slotOfNewDirectoryForTests,
    }));
  }

  shardOf(inode: number): number {
    return slotOfInode(inode) % this.shards.length;
  }

  at(k: number): Harness {
    const shard = this.shards[k];
    if (shard === undefined) throw new Error(`no shard ${k}`);
    return shard;
  }

  #ctx(txid: string, ctx: Ctx): Ctx {
    return { ...ctx, requestId: `${txid}/${++this.#requestNo}` };
  }

  /**
   * txprepare of `txid` for `clientRequestId` — by default the txid itself: tests name unrelated
   * transactions "x#1", "x#2", and a shard takes two committed attempts of ONE request for a
   * request carried out twice (TXTAKEN).
   */
  prepare(k: number, txid: string, parts: readonly TxPart[], ctx: Ctx = rootCtx, clientRequestId = txid): Execution {
    return this.at(k).exec({ kind: "txprepare", slot: k, txid, parts, clientRequestId }, this.#ctx(txid, ctx));
  }

  commit(k: number, txid: string, newInode?: number, ctx: Ctx = rootCtx): Execution {
    return this.at(k).exec({ kind: "txcommit", slot: k, txid, ...(newInode === undefined ? {} : { newInode }) }, this.#ctx(txid, ctx));
  }

  abort(k: number, txid: string, ctx: Ctx = rootCtx): Execution {
    return this.at(k).exec({ kind: "txabort", slot: k, txid }, this.#ctx(txid, ctx));
  }

  /** Prepares on every shard (in the order given), then commits in that order; outputs per shard. */
  run(txid: string, plan: readonly (readonly [number, readonly TxPart[]])[], ctx: Ctx = rootCtx, newInode?: number): Map<number, readonly TxPartOutput[]> {
    for (const [k, parts] of plan) okOutputs(this.prepare(k, txid, parts, ctx), `prepare on shard ${k}`);
    const outputs = new Map<number, readonly TxPartOutput[]>();
    for (const [k] of plan) outputs.set(k, okOutputs(this.commit(k, txid, newInode, ctx), `commit on shard ${k}`));
    return outputs;
  }

  /**
   * A new node in `parent` (on shard `parentShard`) made on shard `nodeShard`, as the coordinator
   * does it: entry-new validates and gives the spec, node-new allocates; the node's shard commits first.
   */
  newNode(txid: string, parentShard: number, nodeShard: number, cmd: NewNodeCommand, ctx: Ctx = rootCtx): { inode: number; nodeOutput: TxPartOutput } {
    const [entryOut] = okOutputs(this.prepare(parentShard, txid, [{ op: "entry-new", cmd }], ctx), "entry-new");
    if (entryOut?.op !== "entry-new") throw new Error("entry-new gave no spec");
    const spec: NewNodeSpec = entryOut.spec;
    const [nodeOut] = okOutputs(this.prepare(nodeShard, txid, [{ op: "node-new", spec, slot: nodeShard, parent: cmd.parent, name: cmd.name }], ctx), "node-new");
    if (nodeOut?.op !== "node-new") throw new Error("node-new gave no inode");
    const [committed] = okOutputs(this.commit(nodeShard, txid, undefined, ctx), "commit node-new");
    okOutputs(this.commit(parentShard, txid, nodeOut.inode, ctx), "commit entry-new");
    return { inode: nodeOut.inode, nodeOutput: committed! };
  }

  mkdir(txid: string, parentShard: number, nodeShard: number, parent: number, name: string, ctx: Ctx = rootCtx, mode = 0o755): number {
    return this.newNode(txid, parentShard, nodeShard, { kind: "mkdir", parent, name: nameFromText(name), mode, umask: 0, copysgid: false }, ctx).inode;
  }
}

export function okOutputs(execution: Execution, what: string): readonly TxPartOutput[] {
  const result = execution.result;
  if (isFailure(result)) throw new Error(`${what} failed with status ${result.status}`);
  if (!("outputs" in result)) throw new Error(`${what} answered no outputs`);
  return result.outputs;
}

export interface SnapshotJson {
  readonly header: Record<string, unknown>;
  readonly nodes: Record<string, unknown>[];
}

/** A snapshot's header and node lines, decoded. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotJson {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
    lines.push(bytes.subarray(start, end));
    start = end + 1;
  }
  const header = decodeMessage(lines[0]!) as Record<string, unknown>;
  const nodeCount = header.nodeCount as number;
  return { header, nodes: lines.slice(1, 1 + nodeCount).map((line) => decodeMessage(line) as Record<string, unknown>) };
}
