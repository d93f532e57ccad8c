/**
 * WRITE_CHUNK and WRITE_CHUNK_END (fs_writechunk + chunk_multi_modify, fs_writeend +
 * chunk_unlock). A write to index i of a file:
 * - no chunk there: a new chunk id of the file's slot, version 1, created on min(goal, writable
 *   servers) chunkservers (MATOCS_CREATE) before the client hears anything;
 * - a chunk shared with a snapshot: copied on write to a new chunk (MATOCS_DUPLICATE on every
 *   server with a valid copy);
 * - a chunk whose copies changed since the last write (re-registered, lost, replicated) or with a
 *   valid copy on a server that is not live: version+1 on every live valid copy
 *   (MATOCS_SET_VERSION), so copies that missed the write can never pass for current;
 * - otherwise answered at once with the current version.
 * The chunk is then locked for the writer (limits.chunkWriteLockMs or until WRITE_CHUNK_END);
 * another session gets LOCKED unless it passes CONTINUE_OP. The file grows to i·64 MiB.
 */
import { limits } from "@antler/base";
import {
  ChunkOpFlag, NodeType, SessionFlag, Status, slotOfInode,
  type CommandOf, type ErrorStatus, type Result,
} from "@antler/ops";
import type { ChunkCommand, ChunkserverView } from "../api.ts";
import { Eattr } from "../eattr.ts";
import { mismatch } from "../errors.ts";
import type { ChunkDoneOp, ChunkWriteEndOp, ChunkWriteOp } from "../log-entry.ts";
import { touch, type ChunkRecord, type Node } from "../state.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "../namespace/context.ts";
import { requireNode } from "../namespace/nodes.ts";
import { applyTruncate, growLength } from "../namespace/truncate.ts";
import { restat, statsOf } from "../stats.ts";
import { creationServers, offerOrder } from "./servers.ts";
import {
  chunkAt, isLocked, lockChunk, nextChunkId, releaseChunk, requireChunk, retainChunk, setChunkAt, setCopy, takeChunk,
  unlockChunk, validCopies,
} from "./table.ts";
import type { WorkPlan } from "./work.ts";

/** Largest index whose start offset is still an exact JS number (and within MAX_INDEX). */
const indexMax = Math.min(limits.chunkIndexMax, Math.floor(Number.MAX_SAFE_INTEGER / limits.chunkBytes));

/** The file a chunk request names: any file of this shard, also trashed or sustained (fsnodes_node_find). */
export function chunkFile(p: Planning, inode: number, index: number): Node | Result {
  const node = p.st.nodes.get(inode);
  if (node === undefined) return fail(Status.ENOENT);
  if (node.type !== NodeType.FILE) return fail(Status.EPERM);
  if (index > indexMax) return fail(Status.INDEXTOOBIG);
  return node;
}

/** Valid copies on live chunkservers, in the order a client should use them. */
export function liveValidCopies(p: Planning, chunk: ChunkRecord): number[] {
  return offerOrder(p.servers, validCopies(chunk).filter((c) => p.servers.isLive(c)), chunk.chunkId);
}

type WriteBase = Omit<ChunkWriteOp, "chunkId" | "version" | "csids" | "pending">;

/** A write that waits for chunkservers: index `base.index` will hold `chunkId` at `version`. */
function pendingWrite(
  p: Planning,
  cmd: CommandOf<"writechunk">,
  base: WriteBase,
  target: { chunkId: bigint; version: number; oldVersion: number },
  commands: readonly ChunkCommand[],
): WorkPlan {
  const op: ChunkWriteOp = { ...base, chunkId: target.chunkId, version: target.version, csids: [], pending: true };
  const work = { kind: "write" as const, ctx: p.ctx, cmd, inode: base.inode, index: base.index, prevChunkId: base.prevChunkId, ...target };
  return { op, commands, work };
}

/**
 * Why no server can take a new chunk. A chunkserver reports its space only after registering
 * (CSTOMA_SPACE), so right after a start every server may still show 0 bytes: that is "try again"
 * (EAGAIN, which mfsmount retries quickly - mfsmaster answers the same while chunkservers are still
 * registering), not "the disks are full" (NOSPACE, which ends in ENOSPC for the writer).
 */
function noServerStatus(servers: readonly ChunkserverView[]): ErrorStatus {
  if (servers.length === 0) return Status.NOCHUNKSERVERS;
  if (servers.every((server) => server.totalSpace === 0n)) return Status.EAGAIN;
  return Status.NOSPACE;
}

/** MATOCS_CREATE of `chunkId` at `version` on min(goal, writable) servers, or why nobody can take it. */
function creation(p: Planning, node: Node, chunkId: bigint, version: number): ChunkCommand[] | Result {
  const servers = creationServers(p.servers, chunkId, node.goal);
  if (servers.length === 0) return fail(noServerStatus(p.servers.all()));
  return servers.map((csid): ChunkCommand => ({ csid, command: { op: "create", chunkId, version } }));
}

export function planWritechunk(p: Planning, cmd: CommandOf<"writechunk">): Planned | WorkPlan {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const node = chunkFile(p, cmd.inode, cmd.index);
  if ("status" in node) return node;
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  const prevChunkId = chunkAt(node, cmd.index);
  const base: WriteBase = {
    kind: "chunkwrite",
    inode: node.inode,
    index: cmd.index,
    prevChunkId,
    goal: node.goal,
    length: Math.max(node.length, cmd.index * limits.chunkBytes),
    lockedUntilMs: p.nowMs + limits.chunkWriteLockMs,
    touch: (cmd.flags & ChunkOpFlag.CAN_MODTIME) !== 0,
  };
  if (prevChunkId === 0n) {
    const chunkId = nextChunkId(p.st, slotOfInode(node.inode));
    const commands = creation(p, node, chunkId, 1);
    if ("status" in commands) return commands;
    return pendingWrite(p, cmd, base, { chunkId, version: 1, oldVersion: 0 }, commands);
  }
  const chunk = requireChunk(p.st, prevChunkId);
  if (p.work.isBusy(prevChunkId, p.nowMs)) return fail(Status.EAGAIN);
  const continuing = (cmd.flags & ChunkOpFlag.CONTINUE_OP) !== 0 || chunk.lockedBy === p.ctx.sessionId;
  if (isLocked(chunk, p.nowMs) && !continuing) return fail(Status.LOCKED);
  const v = chunk.version;
  const bumped = { chunkId: prevChunkId, version: v + 1, oldVersion: v };
  if (chunk.copies.size === 0 && chunk.refcount === 1) {
    // Its creation never completed (all creates failed late, or the leader died meanwhile): no
    // server has data of it, so it is created again, one version up so no stray copy can pass.
    const commands = creation(p, node, prevChunkId, v + 1);
    if ("status" in commands) return commands;
    return pendingWrite(p, cmd, base, bumped, commands);
  }
  const live = liveValidCopies(p, chunk);
  if (live.length === 0) return fail(Status.CHUNKLOST);
  if (chunk.refcount > 1) {
    const chunkId = nextChunkId(p.st, slotOfInode(node.inode));
    const commands = live.map((csid): ChunkCommand => ({
      csid, command: { op: "duplicate", chunkId, version: 1, oldChunkId: prevChunkId, oldVersion: v },
    }));
    return pendingWrite(p, cmd, base, { chunkId, version: 1, oldVersion: 0 }, commands);
  }
  if (chunk.needsVersionIncrease || live.length < validCopies(chunk).length) {
    const commands = live.map((csid): ChunkCommand => ({
      csid, command: { op: "set-version", chunkId: prevChunkId, version: v + 1, oldVersion: v },
    }));
    return pendingWrite(p, cmd, base, bumped, commands);
  }
  return { ...base, chunkId: prevChunkId, version: v, csids: live, pending: false };
}

export function applyChunkWrite(a: Applying, op: ChunkWriteOp): Result {
  const node = requireNode(a.st, op.inode);
  mismatch(node.type === NodeType.FILE, `write to non-file ${op.inode}`);
  mismatch(chunkAt(node, op.index) === op.prevChunkId, `write to ${op.inode}[${op.index}]: chunk differs`);
  const chunk = switchChunk(a, node, op);
  lockChunk(chunk, op.lockedUntilMs, a.caller.sessionId);
  growLength(a.st, node, op.length);
  // A written file is no longer an untouched snapshot copy (fs_writechunk clears the flag).
  node.eattr &= ~Eattr.SNAPSHOT;
  if (op.touch) {
    node.mtime = node.ctime = a.ts;
    touch(node, a.stamp, "length", "eattr", "mtime", "ctime");
  } else {
    touch(node, a.stamp, "length", "eattr");
  }
  if (op.pending) return ok;
  return { status: Status.OK, length: node.length, chunkId: op.chunkId, version: op.version, csids: op.csids };
}

/**
 * Makes index `op.index` hold `op.chunkId` at `op.version`: a new chunk (create, copy on write)
 * replaces the previous one, or the same chunk keeps or bumps its version.
 */
export function switchChunk(
  a: Applying,
  node: Node,
  op: { readonly index: number; readonly prevChunkId: bigint; readonly chunkId: bigint; readonly version: number; readonly goal: number },
): ChunkRecord {
  if (op.chunkId !== op.prevChunkId) {
    const chunk = takeChunk(a.st, op.chunkId, op.version, op.goal);
    releaseChunk(a.st, op.prevChunkId);
    retainChunk(a.st, op.chunkId, op.goal);
    const before = statsOf(node);
    setChunkAt(node, op.index, op.chunkId);
    restat(a.st, node, before);
    return chunk;
  }
  const chunk = requireChunk(a.st, op.chunkId);
  mismatch(op.version === chunk.version || op.version === chunk.version + 1, `chunk ${op.chunkId}: version ${op.version} does not follow ${chunk.version}`);
  if (op.version !== chunk.version) {
    chunk.version = op.version;
    chunk.needsVersionIncrease = false;
  }
  return chunk;
}

/** Finishes a pending write or truncate; see ChunkDoneOp. */
export function applyChunkDone(a: Applying, op: ChunkDoneOp): Result {
  const node = a.st.nodes.get(op.inode);
  const chunk = a.st.chunks.get(op.chunkId);
  const stillThere = node !== undefined && chunkAt(node, op.index) === op.chunkId;
  if (chunk !== undefined) for (const csid of op.confirmed) setCopy(chunk, csid, op.version);
  if (op.confirmed.length === 0) {
    if (stillThere && op.prevChunkId !== op.chunkId) {
      retainChunk(a.st, op.prevChunkId, node.goal);
      releaseChunk(a.st, op.chunkId);
      const before = statsOf(node);
      setChunkAt(node, op.index, op.prevChunkId);
      restat(a.st, node, before);
    }
    if (chunk !== undefined) {
      if (op.prevChunkId === op.chunkId && chunk.version === op.version) chunk.version = op.oldVersion;
      chunk.needsVersionIncrease = true;
      unlockChunk(chunk);
    }
    mismatch(op.status !== 0, `chunk ${op.chunkId}: failed operation without a status`);
    return fail(op.status as ErrorStatus);
  }
  if (op.truncate !== null) {
    if (chunk !== undefined) unlockChunk(chunk);
    if (node === undefined) return fail(Status.ENOENT);
    return applyTruncate(a, { kind: "truncate", inode: op.inode, ...op.truncate });
  }
  if (node === undefined) return fail(Status.ENOENT);
  return { status: Status.OK, length: node.length, chunkId: op.chunkId, version: op.version, csids: op.confirmed };
}

export function planWritechunkend(p: Planning, cmd: CommandOf<"writechunkend">): Planned {
  const node = p.st.nodes.get(cmd.inode);
  if (cmd.length > 0) {
    if (node === undefined) return fail(Status.ENOENT);
    if (node.type !== NodeType.FILE) return fail(Status.EPERM);
  }
  const chunk = p.st.chunks.get(cmd.chunkId);
  if (chunk === undefined) return fail(Status.NOCHUNK);
  const grows = node !== undefined && node.type === NodeType.FILE && cmd.length > node.length;
  if (!grows && !mayUnlock(chunk, p.ctx.sessionId, p.nowMs)) return ok;
  return {
    kind: "chunkwriteend",
    inode: cmd.inode,
    chunkId: cmd.chunkId,
    length: grows ? cmd.length : 0,
    touch: grows && (cmd.flags & ChunkOpFlag.CAN_MODTIME) !== 0,
  };
}

/**
 * A writer ends its own lock; a lock of another session that is still running is left alone (a
 * late WRITE_CHUNK_END of a writer whose lock had expired must not free the next writer's).
 */
function mayUnlock(chunk: ChunkRecord, sessionId: number, nowMs: number): boolean {
  if (chunk.lockedUntilMs === 0) return false;
  return chunk.lockedBy === sessionId || !isLocked(chunk, nowMs);
}

export function applyChunkWriteEnd(a: Applying, op: ChunkWriteEndOp): Result {
  const chunk = requireChunk(a.st, op.chunkId);
  if (mayUnlock(chunk, a.caller.sessionId, a.stamp.wallMs)) unlockChunk(chunk);
  if (op.length > 0) {
    const node = requireNode(a.st, op.inode);
    mismatch(node.type === NodeType.FILE, `write end on non-file ${op.inode}`);
    growLength(a.st, node, op.length);
    if (op.touch) {
      node.mtime = node.ctime = a.ts;
      touch(node, a.stamp, "length", "mtime", "ctime");
    } else {
      touch(node, a.stamp, "length");
    }
  }
  return ok;
}
