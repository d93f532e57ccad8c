/**
 * The metadata state machine of one shard: dispatch of commands to their handlers, the log-entry
 * life cycle (plan → entry → apply) and the idempotency rules.
 *
 * - execute(): a repeated requestId answers the remembered result (a gateway's retry, or a packet
 *   mfsmount re-sent after reconnecting: the gateway gives it the original id); reads answer from the state;
 *   a mutating command is planned (validated) and, when it changes anything, becomes a log entry
 *   that is applied at once with the same function replicas and replays use.
 * - Commands that need chunkservers (WRITE_CHUNK creating/bumping/copying a chunk, TRUNCATE inside
 *   a chunk) log their first half at once and return ChunkWork; finishChunkWork logs the second
 *   half with the outcomes and gives the answer. housekeepChunks plans replication and deletion.
 *   The live chunkservers, the work in flight and the housekeeping position are leader soft state
 *   here, never logged.
 * - In a sharded namespace (routing.ts): a command routed by a slot of another shard answers
 *   MOVED; a retry of a client request a cross-shard transaction took is forwarded to the
 *   coordinator; a mutating command touching an inode a prepared transaction holds answers
 *   TXLOCKED; a command this shard cannot finish alone is forwarded once its local checks pass
 *   (namespace/*), and reads naming nodes of other shards answer through Execution.remote.
 * - apply(): skips an entry whose stamp is not newer than the last one applied from its origin
 *   (so delivering an entry twice is harmless); otherwise applies it, which checks that the
 *   state fits the entry (ReplayMismatchError), advances the clock and remembers its requestId.
 *   After a ReplayMismatchError the state may be half-changed: discard the machine and rebuild.
 */
import { limits, unreachable } from "@antler/base";
import { readOnlyKinds, Status, type Command, type Ctx, type ErrorStatus, type Name, type Result } from "@antler/ops";
import type { ChunkCommand, ChunkCommandOutcome, ChunkserverView, Execution, MetadataStateMachine, PreparedTransaction } from "./api.ts";
import { compareStamps, maxStamp, nextStamp, secondsOf, type Stamp } from "./hlc.ts";
import { decodeEntry, encodeEntry, type LogEntry, type Op } from "./log-entry.ts";
import { planMaintain, applyMaintain } from "./namespace/trash.ts";
import {
  isForward, isRemoteRead, isResult, type Applying, type Env, type Forward, type Planned, type Planning, type RemoteRead,
} from "./namespace/context.ts";
import { applyNewNode, planCreate, planMkdir, planMknod, planSymlink } from "./namespace/create.ts";
import { applyRemove, planRmdir, planUnlink } from "./namespace/remove.ts";
import { applyRename, planRename } from "./namespace/rename.ts";
import { applyLink, planLink } from "./namespace/link.ts";
import { applyAmtime, applySetattr, planAmtime, planSetattr } from "./namespace/setattr.ts";
import { applyReserve, applyTruncate, planTruncate } from "./namespace/truncate.ts";
import { applyCloseSession, applyOpen, applySustained, planCloseSession, planOpen, planSustained } from "./namespace/sessions.ts";
import { applySetxattr, planSetxattr, readGetxattr } from "./namespace/xattr.ts";
import { applySetfacl, planSetfacl, readGetfacl } from "./namespace/acl.ts";
import { applyFlock, applyPosixlock, planFlock, planPosixlock } from "./namespace/locks.ts";
import {
  applyToolSet, planSeteattr, planSetgoal, planSettrashtime,
  readGetdirstats, readGeteattr, readGetgoal, readGettrashtime,
} from "./namespace/tools.ts";
import { readAccess, readGetattr, readLookup, readReaddir, readReadlink, readStatfs } from "./namespace/lookup.ts";
import { trashtimeOfSeconds } from "./namespace/tools.ts";
import { isWellFormedCommand, isWellFormedCtx } from "./command-check.ts";
import { recalledResult, rememberRequest } from "./requests.ts";
import { exportState, importState } from "./snapshot.ts";
import { newState, type ChunkRecord, type State } from "./state.ts";
import { readCheckchunk, readCheckfile, readReadchunk } from "./chunks/read.ts";
import { applyChunkDone, applyChunkWrite, applyChunkWriteEnd, planWritechunk, planWritechunkend } from "./chunks/write.ts";
import { applyChunkTruncate, planChunkTruncate, truncateEffect } from "./chunks/truncate.ts";
import {
  applyChunkCopies, applyChunkserverReset, planChunkscopies, planChunksgone, planChunkserverReset,
} from "./chunks/report.ts";
import { applyChunkHousekeep, planHousekeeping } from "./chunks/housekeeping.ts";
import { offerOrder, ServerView } from "./chunks/servers.ts";
import { isWorkPlan, WorkRegistry, type PendingWork, type WorkPlan } from "./chunks/work.ts";
import type { CopyChange } from "./log-entry.ts";
import { applySnapshot, planSnapshot } from "./namespace/snapshot-copy.ts";
import { readTxinspect } from "./namespace/inspect.ts";
import { readFsckdump } from "./fsck.ts";
import { isMoved, touchedInodes } from "./routing.ts";
import { applyTxOp, lockingTx, planTxAbort, planTxCommit, planTxPrepare, preparedTxns, txOfRequest } from "./txn/index.ts";

export interface StateMachineOptions {
  readonly shardId: number;
  /** The cluster's metadata id (persisted with the metadata; chunkservers must see the same). */
  readonly metaId: bigint;
  /** The slots this shard owns; all 2048 when omitted. */
  readonly slots?: readonly number[];
  /** HLC origin of entries this machine makes (the site id); 0 when omitted. */
  readonly originId?: number;
  /** Goal of the root directory (inherited by new files and directories). */
  readonly defaultGoal?: number;
  /** Trash time of the root directory and of new symlinks/devices, seconds (rounded up to hours). */
  readonly defaultTrashtimeSeconds?: number;
  /** atime/mtime/ctime of the root directory of a new file system. */
  readonly rootCreatedSeconds?: number;
  /** The slot of a new directory: BLAKE3(parent ‖ name) mod 2048 in production. */
  readonly slotOfNewDirectory: (parent: number, name: Name) => number;
}

type ReadKind = "statfs" | "access" | "lookup" | "getattr" | "readlink" | "readdir" | "getxattr" | "getfacl"
  | "gettrashtime" | "getgoal" | "geteattr" | "getdirstats" | "readchunk" | "checkfile" | "checkchunk" | "txinspect" | "fsckdump";
/** Cross-shard transaction commands (txn/): exempt from transaction locks and request forwarding. */
const txKinds: ReadonlySet<string> = new Set(["txprepare", "txcommit", "txabort"]);
/** Commands planned outside plan(): they may need chunkservers or send commands of their own. */
type ChunkKind = "writechunk" | "truncate" | "chunkscopies";

function read(p: Planning, cmd: Extract<Command, { kind: ReadKind }>): Result | RemoteRead {
  switch (cmd.kind) {
    case "statfs": return readStatfs(p);
    case "access": return readAccess(p, cmd);
    case "lookup": return readLookup(p, cmd);
    case "getattr": return readGetattr(p, cmd);
    case "readlink": return readReadlink(p, cmd);
    case "readdir": return readReaddir(p, cmd);
    case "getxattr": return readGetxattr(p, cmd);
    case "getfacl": return readGetfacl(p, cmd);
    case "gettrashtime": return readGettrashtime(p, cmd);
    case "getgoal": return readGetgoal(p, cmd);
    case "geteattr": return readGeteattr(p, cmd);
    case "getdirstats": return readGetdirstats(p, cmd);
    case "readchunk": return readReadchunk(p, cmd);
    case "checkfile": return readCheckfile(p, cmd);
    case "checkchunk": return readCheckchunk(p, cmd);
    case "txinspect": return readTxinspect(p, cmd);
    case "fsckdump": return readFsckdump(p.st, cmd);
    default: return unreachable(cmd);
  }
}

function plan(p: Planning, cmd: Exclude<Command, { kind: ReadKind | ChunkKind }>): Planned | Forward {
  switch (cmd.kind) {
    case "setattr": return planSetattr(p, cmd);
    case "symlink": return planSymlink(p, cmd);
    case "mknod": return planMknod(p, cmd);
    case "mkdir": return planMkdir(p, cmd);
    case "create": return planCreate(p, cmd);
    case "unlink": return planUnlink(p, cmd);
    case "rmdir": return planRmdir(p, cmd);
    case "rename": return planRename(p, cmd);
    case "link": return planLink(p, cmd);
    case "open": return planOpen(p, cmd);
    case "setxattr": return planSetxattr(p, cmd);
    case "setfacl": return planSetfacl(p, cmd);
    case "flock": return planFlock(p, cmd);
    case "posixlock": return planPosixlock(p, cmd);
    case "sustained": return planSustained(p, cmd);
    case "amtime": return planAmtime(p, cmd);
    case "closesession": return planCloseSession(p);
    case "settrashtime": return planSettrashtime(p, cmd);
    case "setgoal": return planSetgoal(p, cmd);
    case "seteattr": return planSeteattr(p, cmd);
    case "writechunkend": return planWritechunkend(p, cmd);
    case "chunksgone": return planChunksgone(p, cmd);
    case "chunkserverreset": return planChunkserverReset(p, cmd);
    case "snapshot": return planSnapshot(p, cmd);
    case "txprepare": return planTxPrepare(p, cmd);
    case "txcommit": return planTxCommit(p, cmd);
    case "txabort": return planTxAbort(p, cmd);
    default: return unreachable(cmd);
  }
}

function applyOp(a: Applying, op: Op): Result {
  switch (op.kind) {
    case "mknod": case "mkdir": case "create": case "symlink": return applyNewNode(a, op);
    case "unlink": case "rmdir": return applyRemove(a, op);
    case "rename": return applyRename(a, op);
    case "link": return applyLink(a, op);
    case "setattr": return applySetattr(a, op);
    case "truncate": return applyTruncate(a, op);
    case "reserve": return applyReserve(a, op);
    case "open": return applyOpen(a, op);
    case "setxattr": return applySetxattr(a, op);
    case "setfacl": return applySetfacl(a, op);
    case "flock": return applyFlock(a, op);
    case "posixlock": return applyPosixlock(a, op);
    case "sustained": return applySustained(a, op);
    case "closesession": return applyCloseSession(a, op);
    case "amtime": return applyAmtime(a, op);
    case "settrashtime": case "setgoal": case "seteattr": return applyToolSet(a, op);
    case "maintain": return applyMaintain(a, op);
    case "chunkwrite": return applyChunkWrite(a, op);
    case "chunkdone": return applyChunkDone(a, op);
    case "chunkwriteend": return applyChunkWriteEnd(a, op);
    case "chunktruncate": return applyChunkTruncate(a, op);
    case "chunkcopies": return applyChunkCopies(a, op);
    case "chunkserverreset": return applyChunkserverReset(a, op);
    case "chunkhousekeep": return applyChunkHousekeep(a, op);
    case "snapshot": return applySnapshot(a, op);
    case "txprepare": case "txcommit": case "txabort": return applyTxOp(a, op);
    default: return unreachable(op);
  }
}

const systemCaller = { sessionId: 0, uid: 0, sesflags: 0 } as const;
const noChunkWork: Execution = { result: { status: Status.OK }, entry: null };
const forwarded: Execution = { result: { status: Status.OK }, entry: null, forward: "coordinator" };

/** Plans the commands that may need chunkservers (or send commands of their own). */
function planChunkCommand(p: Planning, cmd: Extract<Command, { kind: ChunkKind }>): { planned: Planned | WorkPlan; forget: readonly ChunkCommand[] } {
  switch (cmd.kind) {
    case "writechunk": return { planned: planWritechunk(p, cmd), forget: [] };
    case "truncate": {
      const planned = planTruncate(p, cmd);
      if (isResult(planned) || planned.kind !== "truncate") return { planned, forget: [] };
      return { planned: planChunkTruncate(p, cmd, planned), forget: [] };
    }
    case "chunkscopies": return planChunkscopies(p, cmd);
    default: return unreachable(cmd);
  }
}

const chunkKinds: ReadonlySet<string> = new Set<ChunkKind>(["writechunk", "truncate", "chunkscopies"]);

class StateMachine implements MetadataStateMachine {
  #st: State;
  readonly #env: Env;
  /** Leader soft state: the live chunkservers, chunk work in flight, where housekeeping goes on. */
  readonly #servers = new ServerView();
  readonly #work = new WorkRegistry();
  readonly #housekeeping: { iterator: Iterator<ChunkRecord> | null } = { iterator: null };

  constructor(st: State, env: Env) {
    this.#st = st;
    this.#env = env;
  }

  execute(cmd: Command, ctx: Ctx, nowMs: number): Execution {
    if (!isWellFormedCommand(cmd) || !isWellFormedCtx(ctx)) return { result: { status: Status.EINVAL }, entry: null };
    // txprepare is idempotent by its txid and parts (txn/plan.ts), not by request id: a coordinator
    // that restarted runs the same attempt (same txid, same request id) again, possibly with
    // other parts, and must not be answered what its predecessor's prepare answered.
    const recalled = cmd.kind === "txprepare" ? undefined : recalledResult(this.#st, ctx.requestId);
    if (recalled !== undefined) return { result: recalled, entry: null };
    if (isMoved(this.#st, cmd)) return { result: { status: Status.MOVED }, entry: null };
    const isTx = txKinds.has(cmd.kind);
    // A retry of a request a transaction carries out: the coordinator knows how it ended.
    if (!isTx && ctx.requestId !== undefined && txOfRequest(this.#st, ctx.requestId) !== null) return forwarded;
    const stamp = nextStamp(this.#st.clock, nowMs, this.#st.origin);
    // The first attempt of this request still waits for chunkservers: the retry answers nothing yet.
    if (this.#work.isWaiting(ctx.requestId, stamp.wallMs)) return { result: { status: Status.EAGAIN }, entry: null };
    const p: Planning = {
      st: this.#st, ctx, ts: secondsOf(stamp), nowMs: stamp.wallMs, env: this.#env, servers: this.#servers, work: this.#work,
    };
    if (readOnlyKinds.has(cmd.kind)) {
      const answer = read(p, cmd as Extract<Command, { kind: ReadKind }>);
      return isRemoteRead(answer) ? { result: { status: Status.OK }, entry: null, remote: answer.remote } : { result: answer, entry: null };
    }
    // Reads never wait for transactions; changes of what a prepared transaction holds do.
    if (!isTx && lockingTx(this.#st, touchedInodes(this.#st, cmd)) !== null) return { result: { status: Status.TXLOCKED }, entry: null };
    let planned: Planned | Forward | WorkPlan;
    let forget: readonly ChunkCommand[] = [];
    if (chunkKinds.has(cmd.kind)) ({ planned, forget } = planChunkCommand(p, cmd as Extract<Command, { kind: ChunkKind }>));
    else planned = plan(p, cmd as Exclude<Command, { kind: ReadKind | ChunkKind }>);
    const caller = { sessionId: ctx.sessionId, uid: ctx.uid, sesflags: ctx.sesflags };
    if (isWorkPlan(planned)) {
      // Answered by finishChunkWork: that entry carries the requestId.
      const entry: LogEntry = { version: 1, stamp, caller, op: planned.op };
      const result = this.#applyEntry(entry)!;
      const workId = this.#work.add(planned.work, planned.commands, stamp.wallMs);
      return { result, entry, chunkWork: { workId, commands: planned.commands, awaited: true } };
    }
    if (isForward(planned)) return forwarded;
    if (isResult(planned)) return this.#withForget({ result: planned, entry: null }, forget, stamp.wallMs);
    const entry = this.#entry(stamp, caller, planned, ctx);
    return this.#withForget({ result: this.#applyEntry(entry)!, entry }, forget, stamp.wallMs);
  }

  #entry(stamp: Stamp, caller: LogEntry["caller"], op: Op, ctx: Ctx | null): LogEntry {
    const requestId = ctx?.requestId;
    return { version: 1, stamp, caller, ...(requestId === undefined ? {} : { requestId }), op };
  }

  /** Adds the deletions of unknown copies a report asked for (never awaited). */
  #withForget(execution: Execution, forget: readonly ChunkCommand[], nowMs: number): Execution {
    if (forget.length === 0) return execution;
    const workId = this.#work.add({ kind: "forget" }, forget, nowMs);
    return { ...execution, chunkWork: { workId, commands: forget, awaited: false } };
  }

  apply(entry: LogEntry): void {
    this.#applyEntry(entry);
  }

  #applyEntry(entry: LogEntry): Result | null {
    const st = this.#st;
    const last: Stamp | undefined = st.applied.get(entry.stamp.origin);
    if (last !== undefined && compareStamps(entry.stamp, last) <= 0) return null;
    const a: Applying = { st, caller: entry.caller, ts: secondsOf(entry.stamp), stamp: entry.stamp };
    const result = applyOp(a, entry.op);
    st.clock = maxStamp(st.clock, entry.stamp);
    st.applied.set(entry.stamp.origin, entry.stamp);
    if (entry.requestId !== undefined) rememberRequest(st, entry.requestId, result);
    return result;
  }

  maintain(nowMs: number): LogEntry | null {
    const stamp = nextStamp(this.#st.clock, nowMs, this.#st.origin);
    const op = planMaintain(this.#st, secondsOf(stamp), nowMs);
    if (op === null) return null;
    const entry: LogEntry = { version: 1, stamp, caller: systemCaller, op };
    this.#applyEntry(entry);
    return entry;
  }

  finishChunkWork(workId: number, outcomes: readonly ChunkCommandOutcome[], nowMs: number): Execution {
    const taken = this.#work.take(workId);
    if (taken === undefined) return { result: { status: Status.EINVAL }, entry: null };
    const { work, commands } = taken;
    const stamp = nextStamp(this.#st.clock, nowMs, this.#st.origin);
    switch (work.kind) {
      case "forget":
        return noChunkWork;
      case "housekeeping": {
        const changes = housekeepingChanges(commands, outcomes);
        if (changes.length === 0) return noChunkWork;
        const entry: LogEntry = { version: 1, stamp, caller: systemCaller, op: { kind: "chunkcopies", changes, skipIds: [] } };
        return { result: this.#applyEntry(entry)!, entry };
      }
      case "write":
      case "truncate": {
        const op = this.#chunkDone(work, commands, outcomes);
        const caller = { sessionId: work.ctx.sessionId, uid: work.ctx.uid, sesflags: work.ctx.sesflags };
        const entry = this.#entry(stamp, caller, op, work.ctx);
        return { result: this.#applyEntry(entry)!, entry };
      }
      default:
        return unreachable(work);
    }
  }

  #chunkDone(
    work: Extract<PendingWork, { kind: "write" | "truncate" }>,
    commands: readonly ChunkCommand[],
    outcomes: readonly ChunkCommandOutcome[],
  ): Op {
    const sent = new Set(commands.map((c) => c.csid));
    const succeeded = [...new Set(outcomes.filter((o) => o.status === 0 && o.chunkId === work.chunkId && sent.has(o.csid)).map((o) => o.csid))];
    const live = offerOrder(this.#servers, succeeded, work.chunkId);
    const confirmed = [...live, ...succeeded.filter((c) => !live.includes(c)).sort((a, b) => a - b)];
    const failure = outcomes.find((o) => o.status !== 0)?.status ?? Status.CSNOTPRESENT;
    const node = this.#st.nodes.get(work.inode);
    const truncate = work.kind === "write" ? null : node === undefined ? { length: 0, prevLength: 0, touch: false } : truncateEffect(node, work.cmd);
    return {
      kind: "chunkdone",
      inode: work.inode,
      index: work.index,
      prevChunkId: work.prevChunkId,
      chunkId: work.chunkId,
      version: work.version,
      oldVersion: work.oldVersion,
      confirmed,
      status: confirmed.length > 0 ? Status.OK : (failure as ErrorStatus),
      truncate,
    };
  }

  housekeepChunks(nowMs: number): Execution {
    const stamp = nextStamp(this.#st.clock, nowMs, this.#st.origin);
    const { op, commands } = planHousekeeping(this.#st, this.#servers, this.#work, stamp.wallMs, this.#housekeeping);
    let entry: LogEntry | null = null;
    if (op !== null) {
      entry = { version: 1, stamp, caller: systemCaller, op };
      this.#applyEntry(entry);
    }
    if (commands.length === 0) return { result: { status: Status.OK }, entry };
    const workId = this.#work.add({ kind: "housekeeping" }, commands, stamp.wallMs);
    return { result: { status: Status.OK }, entry, chunkWork: { workId, commands, awaited: false } };
  }

  observeChunkservers(servers: readonly ChunkserverView[]): void {
    this.#servers.replace(servers);
  }

  encodeEntry(entry: LogEntry): Uint8Array {
    return encodeEntry(entry);
  }

  decodeEntry(bytes: Uint8Array): LogEntry {
    return decodeEntry(bytes);
  }

  exportState(): Uint8Array {
    return exportState(this.#st);
  }

  importState(bytes: Uint8Array): void {
    this.#st = importState(bytes);
    this.#work.clear();
    this.#housekeeping.iterator = null;
  }

  preparedTransactions(): readonly PreparedTransaction[] {
    return preparedTxns(this.#st);
  }

  stats(): { readonly inodes: number; readonly dirs: number; readonly files: number } {
    return { inodes: this.#st.nodes.size, dirs: this.#st.dirCount, files: this.#st.fileCount };
  }
}

/** MooseFS NOCHUNK: the copy was not there (a deletion that found nothing still removes the record). */
const noChunkStatus = Status.NOCHUNK;

/** Copy changes from the outcomes of housekeeping commands. */
function housekeepingChanges(commands: readonly ChunkCommand[], outcomes: readonly ChunkCommandOutcome[]): CopyChange[] {
  const changes: CopyChange[] = [];
  for (const outcome of outcomes) {
    const sent = commands.find((c) => c.csid === outcome.csid && c.command.chunkId === outcome.chunkId);
    if (sent === undefined) continue;
    const command = sent.command;
    if (command.op === "replicate" && outcome.status === 0) {
      changes.push({ chunkId: command.chunkId, csid: sent.csid, version: command.version, mark: true });
    } else if (command.op === "delete" && (outcome.status === 0 || outcome.status === noChunkStatus)) {
      changes.push({ chunkId: command.chunkId, csid: sent.csid, version: -1, mark: false });
    }
  }
  return changes;
}

const allSlots: readonly number[] = Array.from({ length: limits.slotCount }, (_, i) => i);

export function createStateMachine(options: StateMachineOptions): MetadataStateMachine {
  const slots = [...new Set(options.slots ?? allSlots)].sort((a, b) => a - b);
  const st = newState(
    {
      shardId: options.shardId,
      metaId: options.metaId,
      origin: options.originId ?? 0,
      slots,
      defaultGoal: options.defaultGoal ?? limits.goalDefault,
      defaultTrashtime: trashtimeOfSeconds(options.defaultTrashtimeSeconds ?? limits.trashTimeDefaultSeconds),
    },
    options.rootCreatedSeconds ?? 0,
  );
  return new StateMachine(st, { slotOfNewDirectory: options.slotOfNewDirectory });
}
