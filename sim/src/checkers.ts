/**
 * The simulation's checkers. Each returns a description of the first violation, or null.
 *
 * - checkLog: the log is one history. Sequences are gap-free, epochs never go back (an append from
 *   a deposed leader after its successor's marker is a fencing failure), and each epoch has a
 *   single writer (one leader per epoch).
 * - checkAcknowledged: every reply a client accepted comes from an execution that is in the log
 *   (a write), or that only observed writes in the log (a read). A reply for something the log
 *   does not have is an acknowledged operation that a crash loses.
 * - checkLinearizable: replaying the log in order through the reference model reproduces every
 *   result the shard computed (committed writes, and the reads it replied to at the place they
 *   read), and the order is consistent with real time: an operation that finished before another
 *   started sits before it in the history.
 * - checkNamespace: a state rebuilt from the log is a well-formed namespace (every entry names a
 *   live inode, link counts add up, no directory is reachable twice, so there are no cycles) and,
 *   given the model, has exactly the model's names, inodes and attributes.
 * The gateway-facing rules (each reply answers an outstanding msgid exactly once and says what the
 * shard computed; a request id names one command) are checked as they happen, in client.ts and
 * history.ts.
 */
import { threadOfRequestId } from "@antler/gateway-core";
import { NodeType, readOnlyKinds, type Command, type Ctx, type DirEntry, type Result } from "@antler/ops";
import type { ClientOp, History } from "./history.ts";
import { compareResult, NamespaceModel, type ExpectedAttr } from "./model.ts";
import type { HistoryRef, StateMachine } from "./shard-driver.ts";

const rootCtx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };

export function checkLog(history: History): string | null {
  const epochWriter = new Map<number, string>();
  let lastEpoch = 0;
  for (let i = 0; i < history.log.length; i++) {
    const record = history.log[i]!;
    if (record.seq !== i + 1) return `log sequence ${record.seq} at position ${i + 1}`;
    if (record.epoch < lastEpoch) {
      return `fencing: seq ${record.seq} was appended by ${record.node} in epoch ${record.epoch} after epoch ${lastEpoch} had started`;
    }
    lastEpoch = record.epoch;
    const writer = epochWriter.get(record.epoch);
    if (writer !== undefined && writer !== record.node) {
      return `two leaders in epoch ${record.epoch}: ${writer} and ${record.node} (seq ${record.seq})`;
    }
    epochWriter.set(record.epoch, record.node);
  }
  return null;
}

/** Positions in the history: entry `index` of sequence `seq`; reads sit right after what they saw. */
const slotsPerSeq = 2 ** 20;

function positionOf(history: History, ref: HistoryRef, isRead: boolean): number | null {
  if ("seq" in ref) return ref.seq * slotsPerSeq + slotsPerSeq - 1;
  const seq = history.seqOfMsgId.get(ref.batchId);
  if (seq === undefined) return null;
  return seq * slotsPerSeq + ref.index * 2 + (isRead ? 1 : 0);
}

export function checkAcknowledged(history: History): string | null {
  for (const op of history.ops) {
    if (op.execId === undefined) continue;
    const reply = history.replies.get(op.execId);
    if (reply === undefined) return `client ${op.client} got a reply (${op.execId}) that no shard sent`;
    const { execution } = reply;
    if (positionOf(history, execution.ref, !execution.wrote) === null) {
      const what = execution.wrote ? "its entry" : "a write it observed";
      return `acknowledged ${op.cmd.kind} (request ${op.requestId}, ${op.execId}) is not durable: ${what} never reached the log`;
    }
  }
  return null;
}

function allocatedInode(cmd: Command, result: Result): number | undefined {
  if (result.status !== 0) return undefined;
  if (cmd.kind === "mkdir" || cmd.kind === "create" || cmd.kind === "mknod" || cmd.kind === "symlink") return (result as { inode: number }).inode;
  return undefined;
}

/** A command's full content as text (bytes spelled out): equal exactly for equal commands. */
function canonical(cmd: Command): string {
  return JSON.stringify(cmd, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? Array.from(v) : v));
}

/** A command for a failure report (byte strings abbreviated). */
function describe(cmd: Command): string {
  return JSON.stringify(cmd, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}

/**
 * Replays the committed log through a fresh model, checking each result, and checks real-time
 * order. Returns the model after the whole log (for checkNamespace) with the verdict.
 */
export function checkLinearizable(
  history: History,
  options: {
    /** The state machine's entry decoder: maintenance entries (trash expiry) are applied to the model. */
    readonly decodeEntry?: (bytes: Uint8Array) => object;
    readonly trashTimeSeconds?: number;
  } = {},
): { readonly failure: string | null; readonly model: NamespaceModel } {
  const model = new NamespaceModel({ trashTimeSeconds: options.trashTimeSeconds });
  // Reads the shard replied to, at their positions.
  const reads: { readonly position: number; readonly cmd: Command; readonly ctx: Ctx; readonly result: Result; readonly execId: string }[] = [];
  for (const [execId, { execution }] of history.replies) {
    if (execution.wrote) continue;
    const position = positionOf(history, execution.ref, true);
    if (position === null) continue; // reported by checkAcknowledged when a client accepted it
    reads.push({ position, cmd: execution.cmd, ctx: execution.ctx, result: execution.result, execId });
  }
  reads.sort((a, b) => a.position - b.position);
  // The state machine answers a retried request (same requestId) with the result it remembered
  // when the original entry was applied: that is the expected answer, not a second execution.
  const remembered = new Map<string, Result>();
  let nextRead = 0;
  const readsBefore = (position: number): string | null => {
    while (nextRead < reads.length && reads[nextRead]!.position < position) {
      const read = reads[nextRead++]!;
      if (!modelled(read.cmd)) continue;
      const recalled = read.ctx.requestId === undefined || readOnlyKinds.has(read.cmd.kind) ? undefined : remembered.get(read.ctx.requestId);
      if (recalled !== undefined) {
        if (!sameOutcome(recalled, read.result)) {
          return `retry ${read.execId} ${describe(read.cmd)}: answered ${outcome(read.result)}, the original execution returned ${outcome(recalled)}`;
        }
        continue;
      }
      const diff = compareResult(model.apply(read.cmd, read.ctx), read.result as never);
      if (diff !== null) return `read ${read.execId} ${describe(read.cmd)} at seq ${Math.floor(read.position / slotsPerSeq)}: ${diff}`;
    }
    return null;
  };
  for (const record of history.log) {
    const writes = history.batches.get(record.msgId);
    if (writes === undefined) return { failure: `log seq ${record.seq} holds batch ${record.msgId} that no leader sent`, model };
    if (writes.length !== record.entries.length) return { failure: `log seq ${record.seq}: ${record.entries.length} entries, the leader made ${writes.length}`, model };
    for (let index = 0; index < writes.length; index++) {
      const failure = readsBefore(record.seq * slotsPerSeq + index * 2);
      if (failure !== null) return { failure, model };
      const write = writes[index];
      if (write === null || write === undefined) {
        // Made by the leader itself (maintenance): trash expiry removes files from the trash.
        const op = (options.decodeEntry?.(record.entries[index]!) as { op?: { kind?: string; expired?: readonly number[] } } | undefined)?.op;
        const purged = op?.kind === "maintain" ? model.purge(op.expired ?? []) : null;
        if (purged !== null) return { failure: `seq ${record.seq} entry ${index}: ${purged}`, model };
        continue;
      }
      if (!modelled(write.cmd)) continue;
      const expected = model.apply(write.cmd, write.ctx, allocatedInode(write.cmd, write.result));
      const diff = compareResult(expected, write.result as never);
      if (diff !== null) return { failure: `seq ${record.seq} entry ${index} (${record.node}) ${describe(write.cmd)}: ${diff}`, model };
      if (write.ctx.requestId !== undefined) remembered.set(write.ctx.requestId, write.result);
    }
  }
  const failure = readsBefore(Infinity) ?? checkRealTime(history);
  return { failure, model };
}

function outcome(result: Result): string {
  return "inode" in result ? `status ${result.status}, inode ${String(result.inode)}` : `status ${result.status}`;
}

function sameOutcome(a: Result, b: Result): boolean {
  return outcome(a) === outcome(b);
}

function modelled(cmd: Command): boolean {
  return cmd.kind !== "statfs";
}

/** An operation that completed before another began must sit before it in the history. */
function checkRealTime(history: History): string | null {
  const done: PlacedOp[] = [];
  for (const op of history.ops) {
    if (op.execId === undefined || op.respondedMs === undefined) continue;
    const reply = history.replies.get(op.execId);
    if (reply === undefined) continue;
    const position = positionOf(history, reply.execution.ref, !reply.execution.wrote);
    if (position === null) continue;
    done.push({ op, position });
  }
  return realTimeViolation(done, (position) => `seq ${Math.floor(position / slotsPerSeq)}`);
}

/** An answered operation and where it sits in the order the checker built. */
export interface PlacedOp {
  readonly op: ClientOp;
  readonly position: number;
}

/**
 * Real-time order: an operation that finished before another started must not sit later in the
 * order than it. `where` names a position for the report. Null when the order respects it.
 */
export function realTimeViolation(done: readonly PlacedOp[], where: (position: number) => string): string | null {
  const byResponse = [...done].sort((a, b) => a.op.respondedMs! - b.op.respondedMs!);
  const byInvocation = [...done].sort((a, b) => a.op.invokedMs - b.op.invokedMs);
  let i = 0;
  let latest: PlacedOp | null = null;
  for (const b of byInvocation) {
    while (i < byResponse.length && byResponse[i]!.op.respondedMs! < b.op.invokedMs) {
      const a = byResponse[i++]!;
      if (latest === null || a.position > latest.position) latest = a;
    }
    if (latest !== null && latest.position > b.position) {
      return (
        `real-time order: ${latest.op.cmd.kind} by ${latest.op.client} (request ${latest.op.requestId}) finished at ${latest.op.respondedMs}ms, ` +
        `before ${b.op.cmd.kind} by ${b.op.client} (request ${b.op.requestId}) started at ${b.op.invokedMs}ms, yet the latter sits earlier ` +
        `(${where(b.position)} < ${where(latest.position)})`
      );
    }
  }
  return null;
}

/**
 * Walks a state machine's namespace from the root with read commands and checks it. A sharded
 * cluster passes `smOf`, the state of the shard owning each inode: the walk then checks the union
 * of the shards (every entry names a node on its owning shard, of the entry's type, link counts
 * add up across shards, no directory is reachable twice).
 */
export function checkNamespace(state: StateMachine | ((inode: number) => StateMachine), model: NamespaceModel | null, reached?: Set<number>): string | null {
  const smOf = typeof state === "function" ? state : (): StateMachine => state;
  const visitedDirs = new Set<number>();
  const references = new Map<number, number>();
  const attrs = new Map<number, ExpectedAttr>();
  const queue: number[] = [1];
  const getattr = (inode: number): ExpectedAttr | string => {
    const { result } = smOf(inode).execute({ kind: "getattr", inode, opened: false }, rootCtx, 0);
    if (result.status !== 0) return `getattr(${inode}) failed with status ${result.status}`;
    const a = (result as { attr: ExpectedAttr }).attr;
    return { type: a.type, mode: a.mode & 0o7777, uid: a.uid, gid: a.gid, nlink: a.nlink, ...(a.type === NodeType.SYMLINK ? { length: a.length } : {}) };
  };
  const rootAttr = getattr(1);
  if (typeof rootAttr === "string") return rootAttr;
  attrs.set(1, rootAttr);
  while (queue.length > 0) {
    const dir = queue.shift()!;
    if (visitedDirs.has(dir)) return `directory ${dir} is reachable twice (a cycle or a directory hard link)`;
    visitedDirs.add(dir);
    const { result } = smOf(dir).execute({ kind: "readdir", inode: dir, withAttr: false, maxEntries: 1_000_000 }, rootCtx, 0);
    if (result.status !== 0) return `readdir(${dir}) failed with status ${result.status}`;
    const entries = (result as { entries: readonly DirEntry[] }).entries.filter((e) => e.name !== "." && e.name !== "..");
    let subdirs = 0;
    const names = new Map<string, number>();
    for (const entry of entries) {
      if (names.has(entry.name)) return `directory ${dir} lists ${JSON.stringify(entry.name)} twice`;
      names.set(entry.name, entry.inode);
      const attr = attrs.get(entry.inode) ?? getattr(entry.inode);
      if (typeof attr === "string") return `entry ${JSON.stringify(entry.name)} of ${dir} names a dead inode: ${attr}`;
      attrs.set(entry.inode, attr);
      if (attr.type !== entry.type) return `entry ${JSON.stringify(entry.name)} of ${dir}: type ${entry.type}, inode says ${attr.type}`;
      references.set(entry.inode, (references.get(entry.inode) ?? 0) + 1);
      if (attr.type === NodeType.DIRECTORY) {
        subdirs++;
        queue.push(entry.inode);
      }
    }
    const dirAttr = attrs.get(dir)!;
    if (dirAttr.nlink !== 2 + subdirs) return `directory ${dir} has nlink ${dirAttr.nlink} but ${subdirs} subdirectories`;
    if (model !== null) {
      const children = model.nodes.get(dir)?.children;
      if (children === undefined || children === null) return `directory ${dir} exists in the state but not in the model`;
      for (const [name, inode] of children) {
        if (names.get(name) !== inode) return `directory ${dir}: model has ${JSON.stringify(name)} → ${inode}, state has ${names.get(name) ?? "nothing"}`;
      }
      if (names.size !== children.size) return `directory ${dir}: state has ${names.size} entries, model ${children.size}`;
    }
  }
  if (reached !== undefined) for (const inode of attrs.keys()) reached.add(inode);
  for (const [inode, count] of references) {
    const attr = attrs.get(inode)!;
    if (attr.type !== NodeType.DIRECTORY && attr.nlink !== count) return `inode ${inode} has nlink ${attr.nlink} but ${count} directory entries`;
  }
  if (model !== null) {
    for (const [inode, attr] of attrs) {
      const diff = compareResult({ status: 0, attr: model.attrOf(inode) }, { status: 0, attr });
      if (diff !== null) return `inode ${inode}: ${diff}`;
    }
    const reachable = model.reachable();
    for (const inode of reachable) if (!attrs.has(inode)) return `inode ${inode} is in the model's namespace but not reachable in the state`;
    for (const node of model.nodes.values()) {
      if (!reachable.has(node.inode) && !node.detached) return `model invariant: inode ${node.inode} is neither reachable nor in the trash (or open)`;
    }
  }
  return null;
}

/** A successful log write: when it was stored, where it sits in the history, for whom. */
interface CommittedWrite {
  readonly atMs: number;
  readonly position: number;
  readonly ctx: Ctx;
}

/** Successful log writes by command (described): what a re-sent request may repeat. */
function committedWrites(history: History): Map<string, CommittedWrite[]> {
  const committed = new Map<string, CommittedWrite[]>();
  for (const record of history.log) {
    const writes = history.batches.get(record.msgId) ?? [];
    writes.forEach((write, index) => {
      if (write === null || write.result.status !== 0) return;
      const key = canonical(write.cmd);
      const list = committed.get(key) ?? [];
      list.push({ atMs: record.atMs, position: record.seq * slotsPerSeq + index * 2, ctx: write.ctx });
      committed.set(key, list);
    });
  }
  return committed;
}

/**
 * How a request that was sent more than once, and one of whose executions succeeded in the log
 * while it was outstanding, was answered:
 * - "original": with that execution's result, or from memory (the resend or request-id memory);
 * - "doubled": by a failed execution after the successful one: the request ran again (a re-sent
 *   mkdir answered EEXIST for the directory it created). A failure of the run;
 * - "phantom": by a failed execution before the successful one: the first attempt failed (EEXIST
 *   as the name existed then), its retry ran later and succeeded unseen. The client was told the
 *   request failed, yet it took effect. Counted and reported (see ADR 0005), not failed: a shard
 *   remembers only logged results, and a failure is not logged.
 */
export type ResendOutcome = "original" | "doubled" | "phantom";

/** The mount thread (`sessionId:msgid`) that sent a client request, null for other requests. */
function threadOf(ctx: Ctx): string | null {
  return ctx.requestId === undefined ? null : threadOfRequestId(ctx.requestId);
}

export function findResendsOfApplied(history: History): { readonly text: string; readonly outcome: ResendOutcome }[] {
  const committed = committedWrites(history);
  const found: { readonly text: string; readonly outcome: ResendOutcome }[] = [];
  for (const op of history.ops) {
    if (op.attempts < 2 || op.respondedMs === undefined || op.execId === undefined || readOnlyKinds.has(op.cmd.kind)) continue;
    const answered = history.replies.get(op.execId)?.execution;
    if (answered === undefined) continue;
    // The same packet: the same client thread (session and msgid, from the request id; another
    // thread of the mount may send the very same command) while this request was outstanding.
    const samePacket = (w: CommittedWrite): boolean =>
      threadOf(w.ctx) !== null || threadOf(answered.ctx) !== null
        ? threadOf(w.ctx) === threadOf(answered.ctx)
        : w.ctx.sessionId === answered.ctx.sessionId && w.ctx.uid === answered.ctx.uid;
    const applied = (committed.get(canonical(op.cmd)) ?? []).find((w) => samePacket(w) && w.atMs >= op.invokedMs && w.atMs <= op.respondedMs!);
    if (applied === undefined) continue;
    const answeredAt = positionOf(history, answered.ref, !answered.wrote) ?? Infinity;
    const outcome: ResendOutcome = answered.result.status === 0 ? "original" : answeredAt > applied.position ? "doubled" : "phantom";
    const how =
      outcome === "phantom"
        ? `answered with status ${answered.result.status} by an earlier attempt, then applied by a retry at ${applied.atMs}ms`
        : `applied at ${applied.atMs}ms, sent again and answered with status ${answered.result.status}`;
    found.push({ outcome, text: `${op.client} ${op.cmd.kind} (${op.requestId}): ${how}` });
  }
  return found;
}

/**
 * Requests that took effect twice: a re-sent mutating request answered by a second, failed
 * execution while its first execution had succeeded in the log. The shard answers such a re-send
 * from its request-id memory (the gateway gives the re-send its original id); one that runs
 * again is a failure.
 */
export function findDoubleExecutions(history: History): string[] {
  return findResendsOfApplied(history).filter((r) => r.outcome === "doubled").map((r) => r.text);
}

/** At most one replica serves in each epoch (the lease's CAS hands every epoch to one holder). */
export function checkServing(history: History): string | null {
  const server = new Map<number, string>();
  for (const { node, epoch } of history.servings) {
    const first = server.get(epoch);
    if (first !== undefined && first !== node) return `two replicas served epoch ${epoch}: ${first} and ${node}`;
    server.set(epoch, node);
  }
  return null;
}
