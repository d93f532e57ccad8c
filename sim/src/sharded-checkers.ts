/**
 * Checkers of a sharded run (sharded-simulation.ts), over every shard's log at once.
 *
 * One global order. The fake JetStream stores every record of every shard's log at one instant
 * of the single simulated timeline; numbering the records in that order (`globalPos`) gives a
 * total order consistent with real time. A shard's write sits at its record; a read sits after
 * both the write it observed on its shard and everything stored anywhere before it executed
 * (reads on one shard only depend on that shard's state, so that is where it happened).
 *
 * Cross-shard operations. A transaction's client command is applied to the model at its FIRST
 * txcommit in the global order (the node-creating shard's, for new nodes). Between its first and
 * its last txcommit the operation is half visible: mutations of the inodes it locked wait
 * (TXLOCKED), but reads never block, so reads executed inside such a commit window are not
 * checked (the design accepts them; see @antler/ops txn.ts). Nor are reads completed with other
 * shards' attributes (remote), whose parts come from different instants.
 *
 * - checkShardedLinearizable: replaying every shard's writes and every committed transaction in
 *   the global order through one reference model reproduces each result the shards computed,
 *   every checked read, and the status and inode of the coordinator's answers; a transaction the
 *   model rejects must never commit. Real-time order holds across shards.
 * - checkShardedAcknowledged: a shard's reply the client accepted is durable in that shard's
 *   log; a coordinator's success answer has a committed transaction (or its direct execution)
 *   behind it.
 * - checkAtomicity: once the cluster is quiet, no transaction is still prepared anywhere, and
 *   every transaction that committed on one participant committed on all that prepared it; none
 *   committed on one and aborted on another.
 */
import { NodeType, readOnlyKinds, Status, type Command, type Ctx, type Result, type TxPartOutput } from "@antler/ops";
import type { History } from "./history.ts";
import { compareResult, NamespaceModel } from "./model.ts";
import type { Execution, HistoryRef, StateMachine } from "./shard-driver.ts";
import type { MetaRequestRef } from "./shard-node.ts";
import { realTimeViolation, type PlacedOp } from "./checkers.ts";

/** Positions: record r's entry i at r·S + 2i; a read right after what it saw (odd, or S−1). */
const S = 2 ** 20;

/** A coordinator's answer to a forwarded request. */
export interface CoordinatorReply {
  readonly cmd: Command;
  readonly ctx: Ctx;
  readonly result: Result;
  /** Records stored (globally) when the answer went out. */
  readonly stamp: number;
}

export interface ShardedRun {
  /** Per shard: its log, the batches its leaders sent, the replies its replicas made. */
  readonly shards: readonly History[];
  /** Client operations, and every reply (shards' and the coordinator's) by execution id. */
  readonly main: History;
  /** msgId → its record's place in the global order (1, 2, …). */
  readonly globalPos: ReadonlyMap<string, number>;
  /** The coordinator's answers by execution id. */
  readonly coordinatorReplies: ReadonlyMap<string, CoordinatorReply>;
  /** Client requests the coordinator received, by request id (`stamp`: records stored when it first arrived). */
  readonly forwarded: ReadonlyMap<string, { readonly cmd: Command; readonly ctx: Ctx; readonly stamp: number }>;
  /** A shard's entry decoder (maintenance entries are applied to the model). */
  readonly decodeEntry: (shard: number, bytes: Uint8Array) => object;
  readonly trashTimeSeconds: number;
}

interface Write {
  readonly shard: number;
  readonly position: number;
  readonly seq: number;
  readonly index: number;
  readonly execution: Execution<MetaRequestRef> | null;
  readonly entry: Uint8Array;
}

/** Everything each transaction did, from the logged tx commands. */
interface TxRecord {
  readonly txid: string;
  clientRequestId: string | null;
  readonly prepared: Set<number>;
  readonly committed: Set<number>;
  readonly aborted: Set<number>;
  firstCommit: number;
  lastCommit: number;
  newInode: number | undefined;
}

const txKinds = new Set(["txprepare", "txcommit", "txabort"]);

function describe(cmd: Command): string {
  return JSON.stringify(cmd, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}

function outcome(result: { readonly status: number }): string {
  return "inode" in result ? `status ${result.status}, inode ${String((result as { inode: unknown }).inode)}` : `status ${result.status}`;
}

/** Every logged entry of every shard, in the global order. */
function globalWrites(run: ShardedRun): Write[] | string {
  const writes: Write[] = [];
  for (let shard = 0; shard < run.shards.length; shard++) {
    const history = run.shards[shard]!;
    for (const record of history.log) {
      const executions = history.batches.get(record.msgId);
      if (executions === undefined) return `shard ${shard} log seq ${record.seq} holds batch ${record.msgId} that no leader sent`;
      if (executions.length !== record.entries.length) return `shard ${shard} log seq ${record.seq}: ${record.entries.length} entries, the leader made ${executions.length}`;
      const global = run.globalPos.get(record.msgId)!;
      executions.forEach((execution, index) => {
        writes.push({ shard, position: global * S + index * 2, seq: record.seq, index, execution, entry: record.entries[index]! });
      });
    }
  }
  return writes.sort((a, b) => a.position - b.position);
}

/** The transactions the logs tell of. */
function transactions(writes: readonly Write[]): Map<string, TxRecord> {
  const txs = new Map<string, TxRecord>();
  const of = (txid: string): TxRecord => {
    let tx = txs.get(txid);
    if (tx === undefined) {
      tx = { txid, clientRequestId: null, prepared: new Set(), committed: new Set(), aborted: new Set(), firstCommit: Infinity, lastCommit: -Infinity, newInode: undefined };
      txs.set(txid, tx);
    }
    return tx;
  };
  for (const write of writes) {
    const cmd = write.execution?.cmd;
    if (cmd === undefined || !txKinds.has(cmd.kind)) continue;
    const tx = of((cmd as { txid: string }).txid);
    if (cmd.kind === "txprepare") {
      tx.prepared.add(write.shard);
      tx.clientRequestId = cmd.clientRequestId;
      const outputs = (write.execution!.result as { outputs?: readonly TxPartOutput[] }).outputs ?? [];
      for (const output of outputs) if (output.op === "node-new") tx.newInode = output.inode;
    } else if (cmd.kind === "txcommit") {
      tx.committed.add(write.shard);
      tx.firstCommit = Math.min(tx.firstCommit, write.position);
      tx.lastCommit = Math.max(tx.lastCommit, write.position);
      if (cmd.newInode !== undefined) tx.newInode ??= cmd.newInode;
    } else {
      tx.aborted.add(write.shard);
    }
  }
  return txs;
}

/** The client request id a txid belongs to (txidOf: `${requestId}#${attempt}`). */
function requestIdOfTxid(txid: string): string {
  const hash = txid.lastIndexOf("#");
  return hash < 0 ? txid : txid.slice(0, hash);
}

/**
 * The client request behind a request id of the coordinator's making: its "direct" executions
 * are `${txid}/direct` (and a shard may forward such a one back, coordinated under its own txids).
 */
function originOf(requestId: string): string {
  let rid = requestId;
  for (let match = /^(.*)#\d+\/direct$/.exec(rid); match !== null; match = /^(.*)#\d+\/direct$/.exec(rid)) rid = match[1]!;
  return rid;
}

export function checkAtomicity(run: ShardedRun, preparedNow: readonly { readonly shard: number; readonly txid: string }[]): string | null {
  if (preparedNow.length > 0) {
    const { shard, txid } = preparedNow[0]!;
    return `atomicity: transaction ${txid} is still prepared on shard ${shard} after the cluster was quiet (${preparedNow.length} in all)`;
  }
  const writes = globalWrites(run);
  if (typeof writes === "string") return writes;
  for (const tx of transactions(writes).values()) {
    if (tx.committed.size > 0 && tx.aborted.size > 0) {
      return `atomicity: transaction ${tx.txid} committed on shard(s) ${[...tx.committed].join(",")} and aborted on shard(s) ${[...tx.aborted].join(",")} (half applied)`;
    }
    if (tx.committed.size > 0) {
      const missing = [...tx.prepared].filter((shard) => !tx.committed.has(shard));
      if (missing.length > 0) return `atomicity: transaction ${tx.txid} committed on shard(s) ${[...tx.committed].join(",")} but never on shard(s) ${missing.join(",")}, which prepared it`;
    }
  }
  return null;
}

export function checkShardedAcknowledged(run: ShardedRun): string | null {
  const writes = globalWrites(run);
  if (typeof writes === "string") return writes;
  const txs = transactions(writes);
  const committedRequests = new Set<string>();
  for (const tx of txs.values()) if (tx.committed.size > 0) committedRequests.add(originOf(requestIdOfTxid(tx.txid)));
  for (const write of writes) {
    const rid = write.execution?.ctx.requestId;
    if (rid?.endsWith("/direct") === true) committedRequests.add(originOf(rid));
  }
  for (const op of run.main.ops) {
    if (op.execId === undefined) continue;
    const coordinated = run.coordinatorReplies.get(op.execId);
    if (coordinated !== undefined) {
      if (coordinated.result.status !== Status.OK) continue;
      const rid = coordinated.ctx.requestId ?? "";
      // A rename of a name onto another name of the same node does nothing and succeeds: no
      // transaction. checkShardedLinearizable verifies that the names were one node then.
      if (!committedRequests.has(originOf(rid)) && coordinated.cmd.kind !== "rename") {
        return `acknowledged ${op.cmd.kind} (request ${op.requestId}, ${op.execId}) was answered OK by the coordinator, but no transaction of request ${rid} committed`;
      }
      continue;
    }
    const reply = run.main.replies.get(op.execId);
    if (reply === undefined) return `client ${op.client} got a reply (${op.execId}) that no shard or coordinator sent`;
    const shard = shardOfNode(reply.node);
    if (positionOf(run, shard, reply.execution.ref, !reply.execution.wrote) === null) {
      const what = reply.execution.wrote ? "its entry" : "a write it observed";
      return `acknowledged ${op.cmd.kind} (request ${op.requestId}, ${op.execId}) is not durable: ${what} never reached shard ${shard}'s log`;
    }
  }
  return null;
}

/** Replica ids are `shard<k>-r<i>`. */
export function shardOfNode(node: string): number {
  const match = /^shard(\d+)-/.exec(node);
  return match === null ? -1 : Number(match[1]);
}

function positionOf(run: ShardedRun, shard: number, ref: HistoryRef, isRead: boolean): number | null {
  const history = run.shards[shard];
  if (history === undefined) return null;
  if ("seq" in ref) {
    if (ref.seq === 0) return 0;
    const record = history.log[ref.seq - 1];
    if (record === undefined) return null;
    return run.globalPos.get(record.msgId)! * S + S - 1;
  }
  const global = run.globalPos.get(ref.batchId);
  if (global === undefined) return null;
  return global * S + ref.index * 2 + (isRead ? 1 : 0);
}

/** Where a read happened: after what it saw on its shard and after everything stored before it ran. */
function readPosition(run: ShardedRun, shard: number, execution: Execution<MetaRequestRef>): number | null {
  const seen = positionOf(run, shard, execution.ref, true);
  if (seen === null) return null;
  return Math.max(seen, (execution.stamp ?? 0) * S + S - 1);
}

function allocatedInode(cmd: Command, result: Result): number | undefined {
  if (result.status !== 0) return undefined;
  if (cmd.kind === "mkdir" || cmd.kind === "create" || cmd.kind === "mknod" || cmd.kind === "symlink") return (result as { inode: number }).inode;
  return undefined;
}

/** Results that are no outcome of the command: retry later (the lock wait ran out, a shard was unreachable). */
function unchecked(result: Result): boolean {
  return result.status === Status.EAGAIN || result.status === Status.TXLOCKED || result.status === Status.MOVED;
}

export function checkShardedLinearizable(run: ShardedRun): { readonly failure: string | null; readonly model: NamespaceModel } {
  const model = new NamespaceModel({ trashTimeSeconds: run.trashTimeSeconds });
  const writes = globalWrites(run);
  if (typeof writes === "string") return { failure: writes, model };
  const txs = transactions(writes);
  const windows = [...txs.values()].filter((tx) => tx.committed.size > 0).map((tx) => [tx.firstCommit, tx.lastCommit] as const);
  const inWindow = (position: number): boolean => windows.some(([first, last]) => position > first && position < last);

  // Reads the shards replied to, at their places.
  const reads: { readonly position: number; readonly shard: number; readonly cmd: Command; readonly ctx: Ctx; readonly result: Result; readonly execId: string }[] = [];
  for (const [execId, { node, execution }] of run.main.replies) {
    if (execution.wrote || execution.remote !== undefined || txKinds.has(execution.cmd.kind) || unchecked(execution.result)) continue;
    if (execution.cmd.kind === "txinspect" || execution.cmd.kind === "fsckdump" || execution.cmd.kind === "statfs") continue;
    // Calls the coordinator or a shard made itself (request ids of their own) are not the clients'.
    if (execution.ctx.requestId !== undefined && /#\d+\/|\/attr\//.test(execution.ctx.requestId)) continue;
    const position = readPosition(run, shardOfNode(node), execution);
    if (position === null || inWindow(position)) continue;
    reads.push({ position, shard: shardOfNode(node), cmd: execution.cmd, ctx: execution.ctx, result: execution.result, execId });
  }
  reads.sort((a, b) => a.position - b.position);

  const remembered = new Map<string, Result>();
  /** Client request id → the model's verdict on its committed transaction. */
  const txExpected = new Map<string, { readonly status: number; readonly inode?: number }>();
  /** Client request id → where its transaction took effect (first commit). */
  const txPosition = new Map<string, number>();
  let nextRead = 0;
  const readsBefore = (position: number): string | null => {
    while (nextRead < reads.length && reads[nextRead]!.position < position) {
      const read = reads[nextRead++]!;
      const recalled = read.ctx.requestId === undefined || readOnlyKinds.has(read.cmd.kind) ? undefined : remembered.get(read.ctx.requestId);
      if (recalled !== undefined) {
        if (outcome(recalled) !== outcome(read.result)) return `retry ${read.execId} ${describe(read.cmd)}: answered ${outcome(read.result)}, the original execution returned ${outcome(recalled)}`;
        continue;
      }
      const diff = compareResult(model.apply(read.cmd, read.ctx), read.result as never);
      if (diff !== null) return `read ${read.execId} ${describe(read.cmd)} (request ${read.ctx.requestId ?? "none"}, uid ${read.ctx.uid}) at global position ${Math.floor(read.position / S)}: ${diff}`;
    }
    return null;
  };

  // Coordinator success answers without a transaction behind them (a rename onto another name of
  // the same node): at some moment between the request's arrival and the answer, both names named
  // one node (the coordinator confirms it under the source's lock, anywhere in that window; a
  // second router may answer long after the first did).
  const committedRequests = new Set([...txs.values()].filter((tx) => tx.committed.size > 0).map((tx) => originOf(tx.clientRequestId ?? requestIdOfTxid(tx.txid))));
  for (const write of writes) {
    const rid = write.execution?.ctx.requestId;
    if (rid?.endsWith("/direct") === true) committedRequests.add(originOf(rid));
  }
  const answerWindows = new Map<string, { readonly start: number; readonly end: number }>();
  const noOpConfirmed = new Set<string>();
  const pending = new Map<string, CoordinatorReply>();
  for (const [execId, reply] of run.coordinatorReplies) {
    if (reply.result.status !== Status.OK || committedRequests.has(originOf(reply.ctx.requestId ?? ""))) continue;
    pending.set(execId, reply);
    const arrived = run.forwarded.get(reply.ctx.requestId ?? "")?.stamp ?? reply.stamp;
    answerWindows.set(execId, { start: arrived * S + S - 1, end: reply.stamp * S + S - 1 });
  }
  const sameNode = (cmd: Command): boolean => {
    if (cmd.kind !== "rename") return false;
    const src = model.nodes.get(cmd.parentSrc)?.children?.get(cmd.nameSrc);
    return src !== undefined && src === model.nodes.get(cmd.parentDst)?.children?.get(cmd.nameDst);
  };
  /** The model now holds the state between the previous write and `position`: probe the windows that overlap it. */
  let previous = -Infinity;
  const probesBefore = (position: number): void => {
    for (const [execId, window] of answerWindows) {
      if (noOpConfirmed.has(execId) || window.start >= position || window.end < previous) continue;
      if (sameNode(pending.get(execId)!.cmd)) noOpConfirmed.add(execId);
    }
    previous = position;
  };

  const applied = new Set<string>();
  for (const write of writes) {
    probesBefore(write.position);
    const failure = readsBefore(write.position);
    if (failure !== null) return { failure, model };
    const execution = write.execution;
    if (execution === null) {
      const op = (run.decodeEntry(write.shard, write.entry) as { op?: { kind?: string; expired?: readonly number[] } }).op;
      const purged = op?.kind === "maintain" ? model.purge(op.expired ?? []) : null;
      if (purged !== null) return { failure: `shard ${write.shard} seq ${write.seq} entry ${write.index}: ${purged}`, model };
      continue;
    }
    const { cmd, ctx, result } = execution;
    if (cmd.kind === "txprepare" || cmd.kind === "txabort") continue;
    if (cmd.kind === "txcommit") {
      if (applied.has(cmd.txid)) continue;
      applied.add(cmd.txid);
      const tx = txs.get(cmd.txid)!;
      const rid = tx.clientRequestId ?? requestIdOfTxid(cmd.txid);
      const client = run.forwarded.get(rid);
      if (client === undefined) return { failure: `transaction ${cmd.txid} committed on shard ${write.shard}, but no client request ${rid} reached the coordinator`, model };
      const expected = model.apply(client.cmd, client.ctx, tx.newInode);
      if (expected.status !== Status.OK) {
        return { failure: `transaction ${cmd.txid} of ${describe(client.cmd)} committed (shard ${write.shard} seq ${write.seq}), but the model rejects it with status ${expected.status}`, model };
      }
      txExpected.set(originOf(rid), { status: expected.status, ...(expected.inode !== undefined ? { inode: expected.inode } : {}) });
      txPosition.set(originOf(rid), write.position);
      continue;
    }
    if (cmd.kind === "txinspect" || cmd.kind === "fsckdump") continue;
    const expected = model.apply(cmd, ctx, allocatedInode(cmd, result));
    const diff = compareResult(expected, result as never);
    if (diff !== null) return { failure: `shard ${write.shard} seq ${write.seq} entry ${write.index} ${describe(cmd)}: ${diff}`, model };
    if (ctx.requestId !== undefined) remembered.set(ctx.requestId, result);
  }
  const tail = readsBefore(Infinity);
  if (tail !== null) return { failure: tail, model };
  probesBefore(Infinity);
  for (const [execId, reply] of pending) {
    if (!noOpConfirmed.has(execId)) {
      return { failure: `coordinator answer ${execId} ${describe(reply.cmd)}: OK without any transaction or direct execution, yet the names were never one node`, model };
    }
  }

  // The coordinator's success answers say what the committed transaction did.
  for (const [execId, reply] of run.coordinatorReplies) {
    if (reply.result.status !== Status.OK) continue;
    const expected = txExpected.get(originOf(reply.ctx.requestId ?? ""));
    if (expected === undefined) continue; // carried out directly on one shard: checked as that shard's write
    const answeredInode = (reply.result as { inode?: number }).inode;
    if (expected.inode !== undefined && answeredInode !== undefined && answeredInode !== expected.inode) {
      return { failure: `coordinator answer ${execId} ${describe(reply.cmd)}: inode ${answeredInode}, the committed transaction made ${expected.inode}`, model };
    }
  }
  return { failure: checkShardedRealTime(run, txPosition), model };
}

/** An operation that completed before another began must sit before it in the global order. */
function checkShardedRealTime(run: ShardedRun, txPosition: ReadonlyMap<string, number>): string | null {
  const done: PlacedOp[] = [];
  for (const op of run.main.ops) {
    if (op.execId === undefined || op.respondedMs === undefined) continue;
    const coordinated = run.coordinatorReplies.get(op.execId);
    let position: number | null | undefined;
    if (coordinated !== undefined) {
      position = coordinated.result.status === Status.OK ? txPosition.get(originOf(coordinated.ctx.requestId ?? "")) : undefined;
    } else {
      const reply = run.main.replies.get(op.execId);
      if (reply === undefined || reply.execution.remote !== undefined || unchecked(reply.execution.result)) continue;
      const shard = shardOfNode(reply.node);
      position = reply.execution.wrote ? positionOf(run, shard, reply.execution.ref, false) : readPosition(run, shard, reply.execution);
    }
    if (position === null || position === undefined) continue;
    done.push({ op, position });
  }
  return realTimeViolation(done, (position) => `global position ${position}`);
}

/**
 * Nodes no directory entry reaches although they are not detached (in the trash or open): the
 * orphans a half-applied removal or creation leaves. Uses each shard's fsckdump pages; null when
 * the shards do not answer fsckdump.
 */
export function findOrphans(shards: readonly { readonly shard: number; readonly sm: StateMachine; readonly slot: number }[], reachable: ReadonlySet<number>): string | null {
  const rootCtx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
  for (const { shard, sm, slot } of shards) {
    let after = 0;
    for (;;) {
      const { result } = sm.execute({ kind: "fsckdump", slot, afterInode: after, max: 10_000 }, rootCtx, 0);
      if (result.status !== Status.OK) return null;
      const page = result as unknown as { nodes: readonly { inode: number; type: number; parents: readonly unknown[]; detached: boolean }[]; problems: readonly string[]; next: number | null };
      if (page.problems.length > 0 && after === 0) return `shard ${shard} reports: ${page.problems.slice(0, 3).join("; ")}`;
      for (const node of page.nodes) {
        if (node.detached || node.inode === 1) continue;
        if (!reachable.has(node.inode)) return `inode ${node.inode} (type ${node.type === NodeType.DIRECTORY ? "directory" : node.type}) on shard ${shard} is an orphan: not detached, yet no entry reaches it`;
      }
      if (page.next === null) break;
      after = page.next;
    }
  }
  return null;
}
