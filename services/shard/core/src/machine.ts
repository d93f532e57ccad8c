/**
 * The metadata state machine of one shard: dispatch of commands to their handlers, the log-entry
 * life cycle (plan → entry → apply) and the idempotency rules.
 *
 * - execute(): a repeated requestId answers the remembered result; reads answer from the state;
 *   a mutating command is planned (validated) and, when it changes anything, becomes a log entry
 *   that is applied at once with the same function replicas and replays use.
 * - apply(): skips an entry whose stamp is not newer than the last one applied from its origin
 *   (so delivering an entry twice is harmless); otherwise applies it, which checks that the
 *   state fits the entry (ReplayMismatchError), advances the clock and remembers its requestId.
 *   After a ReplayMismatchError the state may be half-changed: discard the machine and rebuild.
 */
import { limits, unreachable } from "@antler/base";
import { readOnlyKinds, Status, type Command, type Ctx, type Name, type Result } from "@antler/ops";
import type { Execution, MetadataStateMachine } from "./api.ts";
import { compareStamps, maxStamp, nextStamp, secondsOf, type Stamp } from "./hlc.ts";
import { decodeEntry, encodeEntry, type LogEntry, type Op } from "./log-entry.ts";
import { planMaintain, applyMaintain } from "./namespace/trash.ts";
import { isResult, type Applying, type Env, type Planned, type Planning } from "./namespace/context.ts";
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
import { newState, type State } from "./state.ts";

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
  | "gettrashtime" | "getgoal" | "geteattr" | "getdirstats";

function read(p: Planning, cmd: Extract<Command, { kind: ReadKind }>): Result {
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
    default: return unreachable(cmd);
  }
}

function plan(p: Planning, cmd: Exclude<Command, { kind: ReadKind }>): Planned {
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
    case "truncate": return planTruncate(p, cmd);
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
    default: return unreachable(op);
  }
}

class StateMachine implements MetadataStateMachine {
  #st: State;
  readonly #env: Env;

  constructor(st: State, env: Env) {
    this.#st = st;
    this.#env = env;
  }

  execute(cmd: Command, ctx: Ctx, nowMs: number): Execution {
    if (!isWellFormedCommand(cmd) || !isWellFormedCtx(ctx)) return { result: { status: Status.EINVAL }, entry: null };
    const recalled = recalledResult(this.#st, ctx.requestId);
    if (recalled !== undefined) return { result: recalled, entry: null };
    const stamp = nextStamp(this.#st.clock, nowMs, this.#st.origin);
    const p: Planning = { st: this.#st, ctx, ts: secondsOf(stamp), env: this.#env };
    if (readOnlyKinds.has(cmd.kind)) return { result: read(p, cmd as Extract<Command, { kind: ReadKind }>), entry: null };
    const planned = plan(p, cmd as Exclude<Command, { kind: ReadKind }>);
    if (isResult(planned)) return { result: planned, entry: null };
    const caller = { sessionId: ctx.sessionId, uid: ctx.uid, sesflags: ctx.sesflags };
    const entry: LogEntry = ctx.requestId === undefined
      ? { version: 1, stamp, caller, op: planned }
      : { version: 1, stamp, caller, requestId: ctx.requestId, op: planned };
    return { result: this.#applyEntry(entry)!, entry };
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
    const entry: LogEntry = { version: 1, stamp, caller: { sessionId: 0, uid: 0, sesflags: 0 }, op };
    this.#applyEntry(entry);
    return entry;
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
  }

  stats(): { readonly inodes: number; readonly dirs: number; readonly files: number } {
    return { inodes: this.#st.nodes.size, dirs: this.#st.dirCount, files: this.#st.fileCount };
  }
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
