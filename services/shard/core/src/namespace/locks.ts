/**
 * FLOCK and POSIX_LOCK (flocklocks.c, posixlocks.c), non-blocking: the gateway turns a blocking
 * request into repeated TRY requests, so a conflict always answers EAGAIN and nothing waits here.
 * A lock belongs to (session, owner). Taking a lock needs the file open by the session
 * (NOTOPENED otherwise); unlocking does not. INTERRUPT has nothing to interrupt and answers OK.
 *
 * POSIX ranges are closed-open [start, end); an owner's ranges stay sorted, disjoint and merged
 * with touching ranges of the same type. GET reports the first conflicting lock of another owner
 * (its pid only when that owner is in the same session, as mfsmaster does) or type UNLCK.
 */
import { FlockCmd, PosixLockCmd, PosixLockType, Status, type CommandOf, type Result } from "@antler/ops";
import type { FlockOp, PosixlockOp } from "../log-entry.ts";
import type { FlockRecord, LockRange, PosixOwnerLocks, State } from "../state.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { isOpenBy } from "./open-files.ts";

const { RDLCK, WRLCK, UNLCK } = PosixLockType;

type FlockDecision = number | "eagain" | "invalid";

function flockDecision(locks: readonly FlockRecord[], own: FlockRecord | undefined, cmd: number): FlockDecision {
  const shared = cmd === FlockCmd.TRY_SHARED || cmd === FlockCmd.LOCK_SHARED;
  const exclusive = cmd === FlockCmd.TRY_EXCLUSIVE || cmd === FlockCmd.LOCK_EXCLUSIVE;
  if (cmd === FlockCmd.UNLOCK || cmd === FlockCmd.RELEASE) return UNLCK;
  if (shared) {
    if (own !== undefined) return RDLCK; // already shared, or an exclusive lock downgrades
    return locks.some((l) => l.type === WRLCK) ? "eagain" : RDLCK;
  }
  if (exclusive) {
    if (own !== undefined && own.type === WRLCK) return WRLCK;
    const others = locks.filter((l) => l !== own);
    return others.length > 0 ? "eagain" : WRLCK;
  }
  return "invalid";
}

export function planFlock(p: Planning, cmd: CommandOf<"flock">): Planned {
  if (cmd.cmd === FlockCmd.INTERRUPT) return ok;
  if (cmd.cmd !== FlockCmd.RELEASE && !isOpenBy(p.st, p.ctx.sessionId, cmd.inode)) return fail(Status.NOTOPENED);
  const locks = p.st.flocks.get(cmd.inode) ?? [];
  const own = locks.find((l) => l.sessionId === p.ctx.sessionId && l.owner === cmd.owner);
  const decision = flockDecision(locks, own, cmd.cmd);
  if (decision === "eagain") return fail(Status.EAGAIN);
  if (decision === "invalid") return fail(Status.EINVAL);
  if ((own?.type ?? UNLCK) === decision) return ok;
  return { kind: "flock", inode: cmd.inode, owner: cmd.owner, type: decision };
}

export function applyFlock(a: Applying, op: FlockOp): Result {
  const isOwn = (l: FlockRecord) => l.sessionId === a.caller.sessionId && l.owner === op.owner;
  const locks = (a.st.flocks.get(op.inode) ?? []).filter((l) => !isOwn(l));
  if (op.type !== UNLCK) locks.push({ sessionId: a.caller.sessionId, owner: op.owner, type: op.type });
  if (locks.length > 0) a.st.flocks.set(op.inode, locks);
  else a.st.flocks.delete(op.inode);
  return ok;
}

function overlaps(r: LockRange, start: bigint, end: bigint): boolean {
  return r.start < end && start < r.end;
}

/** The ranges after locking (or unlocking) [start, end) with `type`. */
export function applyRange(ranges: readonly LockRange[], type: number, start: bigint, end: bigint): LockRange[] {
  const pieces: LockRange[] = [];
  for (const r of ranges) {
    if (!overlaps(r, start, end)) {
      pieces.push({ ...r });
      continue;
    }
    if (r.start < start) pieces.push({ start: r.start, end: start, type: r.type });
    if (r.end > end) pieces.push({ start: end, end: r.end, type: r.type });
  }
  if (type !== UNLCK && start < end) pieces.push({ start, end, type });
  pieces.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  const merged: LockRange[] = [];
  for (const r of pieces) {
    const last = merged.at(-1);
    if (last !== undefined && last.end === r.start && last.type === r.type) last.end = r.end;
    else merged.push(r);
  }
  return merged;
}

interface LockRequest {
  readonly inode: number;
  readonly sessionId: number;
  readonly owner: bigint;
  readonly type: number;
  readonly start: bigint;
  readonly end: bigint;
}

function conflicting(st: State, req: LockRequest): { holder: PosixOwnerLocks; range: LockRange } | null {
  const { type, start, end } = req;
  for (const holder of st.posixLocks.get(req.inode) ?? []) {
    if (holder.sessionId === req.sessionId && holder.owner === req.owner) continue;
    for (const range of holder.ranges) {
      if (overlaps(range, start, end) && (type === WRLCK || range.type === WRLCK)) return { holder, range };
    }
  }
  return null;
}

function readPosixGet(p: Planning, cmd: CommandOf<"posixlock">): Result {
  const found = cmd.type === UNLCK ? null : conflicting(p.st, { ...cmd, sessionId: p.ctx.sessionId });
  if (found === null) return { status: Status.OK, lock: { pid: 0, type: UNLCK, start: 0n, end: 0n } };
  const pid = found.holder.sessionId === p.ctx.sessionId ? found.holder.pid : 0;
  return { status: Status.OK, lock: { pid, type: found.range.type, start: found.range.start, end: found.range.end } };
}

function sameRanges(a: readonly LockRange[], b: readonly LockRange[]): boolean {
  const same = (r: LockRange, s: LockRange) => r.start === s.start && r.end === s.end && r.type === s.type;
  return a.length === b.length && a.every((r, i) => same(r, b[i]!));
}

export function planPosixlock(p: Planning, cmd: CommandOf<"posixlock">): Planned {
  if (cmd.cmd === PosixLockCmd.INTERRUPT) return ok;
  if (cmd.type !== UNLCK && cmd.type !== RDLCK && cmd.type !== WRLCK) return fail(Status.EINVAL);
  if (cmd.start > cmd.end) return fail(Status.EINVAL);
  if (cmd.cmd === PosixLockCmd.GET) return readPosixGet(p, cmd);
  if (cmd.cmd !== PosixLockCmd.SET && cmd.cmd !== PosixLockCmd.TRY) return fail(Status.EINVAL);
  if (cmd.type !== UNLCK && !isOpenBy(p.st, p.ctx.sessionId, cmd.inode)) return fail(Status.NOTOPENED);
  if (cmd.type !== UNLCK && conflicting(p.st, { ...cmd, sessionId: p.ctx.sessionId }) !== null) {
    return fail(Status.EAGAIN);
  }
  const own = p.st.posixLocks.get(cmd.inode)?.find((l) => l.sessionId === p.ctx.sessionId && l.owner === cmd.owner);
  const before = own?.ranges ?? [];
  if (sameRanges(before, applyRange(before, cmd.type, cmd.start, cmd.end))) return ok;
  return { kind: "posixlock", inode: cmd.inode, owner: cmd.owner, pid: cmd.pid, type: cmd.type, start: cmd.start, end: cmd.end };
}

export function applyPosixlock(a: Applying, op: PosixlockOp): Result {
  const holders = a.st.posixLocks.get(op.inode) ?? [];
  const sessionId = a.caller.sessionId;
  let own = holders.find((l) => l.sessionId === sessionId && l.owner === op.owner);
  if (own === undefined) {
    own = { sessionId, owner: op.owner, pid: op.pid, ranges: [] };
    holders.push(own);
  }
  own.ranges = applyRange(own.ranges, op.type, op.start, op.end);
  const remaining = holders.filter((l) => l.ranges.length > 0);
  if (remaining.length > 0) a.st.posixLocks.set(op.inode, remaining);
  else a.st.posixLocks.delete(op.inode);
  return ok;
}
