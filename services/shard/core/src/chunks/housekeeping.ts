/**
 * Chunk housekeeping (mfsmaster's chunk_do_jobs), run by the shard leader a pass at a time. Each
 * pass looks at up to limits.chunkHousekeepingChunksPerPass chunks (continuing where the previous
 * pass stopped) and issues at most limits.chunkHousekeepingCommandsPerPass commands:
 * - an unused chunk (no file index points at it) and not locked: every live copy is deleted;
 *   without copies it leaves the table;
 * - a used chunk whose copies all have the wrong version adopts the best copy's version when it is
 *   one off (a version change that only some servers saw, or that the leader died during);
 * - wrong-version copies are deleted, but only while a valid live copy exists;
 * - fewer valid live copies than the goal: replicated from a valid live copy to the best ranked
 *   writable server without any copy (each source serves at most
 *   limits.chunkReplicationsPerServerMax replications at a time);
 * - more than the goal: the copies on the fullest registered servers are deleted. Copies on servers
 *   in maintenance count as valid but are never deleted for being surplus.
 * The last valid copy of a used chunk is never deleted. Chunks with work in flight are left alone,
 * and locked chunks (being written) too, except for adopting a version.
 */
import { limits } from "@antler/base";
import type { ChunkCommand } from "../api.ts";
import type { ChunkHousekeepOp } from "../log-entry.ts";
import type { ChunkRecord, State } from "../state.ts";
import { mismatch } from "../errors.ts";
import { ok, type Applying } from "../namespace/context.ts";
import type { Result } from "@antler/ops";
import { rankForChunk, usedPercent, type ServerView } from "./servers.ts";
import { isLocked, validCopies } from "./table.ts";
import type { WorkRegistry } from "./work.ts";

export interface HousekeepingPlan {
  readonly op: ChunkHousekeepOp | null;
  readonly commands: readonly ChunkCommand[];
}

interface Pass {
  readonly view: ServerView;
  readonly work: WorkRegistry;
  readonly nowMs: number;
  readonly commands: ChunkCommand[];
  readonly drop: bigint[];
  readonly adopt: { chunkId: bigint; version: number }[];
  /** Replications planned in this pass per source csid. */
  readonly sources: Map<number, number>;
}

/**
 * Walks the chunk table from where the last pass stopped. `cursor` is the leader's live iterator
 * over st.chunks (a Map iterator sees later insertions and skips deletions).
 */
export function planHousekeeping(
  st: State,
  view: ServerView,
  work: WorkRegistry,
  nowMs: number,
  cursor: { iterator: Iterator<ChunkRecord> | null },
): HousekeepingPlan {
  const pass: Pass = { view, work, nowMs, commands: [], drop: [], adopt: [], sources: new Map() };
  const budget = Math.min(limits.chunkHousekeepingChunksPerPass, st.chunks.size);
  let restarted = false;
  for (let looked = 0; looked < budget && pass.commands.length < limits.chunkHousekeepingCommandsPerPass;) {
    cursor.iterator ??= st.chunks.values();
    const next = cursor.iterator.next();
    if (next.done === true) {
      // The end of the table: start over, but look at no chunk twice in one pass.
      cursor.iterator = null;
      if (restarted) break;
      restarted = true;
      continue;
    }
    looked++;
    housekeepChunk(pass, next.value);
  }
  const op: ChunkHousekeepOp | null = pass.drop.length === 0 && pass.adopt.length === 0
    ? null
    : { kind: "chunkhousekeep", drop: pass.drop, adopt: pass.adopt };
  return { op, commands: pass.commands };
}

function room(pass: Pass): number {
  return limits.chunkHousekeepingCommandsPerPass - pass.commands.length;
}

function deleteCopies(pass: Pass, chunk: ChunkRecord, csids: readonly number[], version: number): void {
  for (const csid of csids.slice(0, room(pass))) {
    pass.commands.push({ csid, command: { op: "delete", chunkId: chunk.chunkId, version } });
  }
}

function housekeepChunk(pass: Pass, chunk: ChunkRecord): void {
  if (pass.work.isBusy(chunk.chunkId, pass.nowMs)) return;
  const valid = validCopies(chunk).filter((c) => pass.view.isLive(c));
  if (chunk.refcount > 0 && valid.length === 0) {
    // Even while locked: a lock left by a version change the previous leader never finished
    // must not keep the chunk unreadable until it expires.
    adoptBestVersion(pass, chunk);
    return;
  }
  if (isLocked(chunk, pass.nowMs)) return;
  const liveCopies = [...chunk.copies.keys()].filter((c) => pass.view.isLive(c)).sort((a, b) => a - b);
  if (chunk.refcount === 0) {
    if (chunk.copies.size === 0) pass.drop.push(chunk.chunkId);
    else deleteCopies(pass, chunk, liveCopies, 0);
    return;
  }
  const wrong = liveCopies.filter((c) => chunk.copies.get(c) !== chunk.version);
  for (const csid of wrong.slice(0, room(pass))) {
    pass.commands.push({ csid, command: { op: "delete", chunkId: chunk.chunkId, version: chunk.copies.get(csid)! } });
  }
  if (valid.length < chunk.goal) replicate(pass, chunk, valid);
  else if (valid.length > chunk.goal) dropSurplus(pass, chunk, valid);
}

/** mfsmaster: "chunk has only invalid copies - fixing it" when the best version is one off. */
function adoptBestVersion(pass: Pass, chunk: ChunkRecord): void {
  let best = 0;
  for (const version of chunk.copies.values()) best = Math.max(best, version);
  if (best > 0 && (best + 1 === chunk.version || best === chunk.version + 1)) pass.adopt.push({ chunkId: chunk.chunkId, version: best });
}

function replicate(pass: Pass, chunk: ChunkRecord, valid: readonly number[]): void {
  const targets = rankForChunk(pass.view.writable().filter((s) => !chunk.copies.has(s.csid)), chunk.chunkId);
  // Registered sources first: a server in maintenance is about to go away.
  const sources = [...valid].sort((a, b) => {
    const ma = pass.view.get(a)?.state === "registered" ? 0 : 1;
    const mb = pass.view.get(b)?.state === "registered" ? 0 : 1;
    return ma - mb || a - b;
  });
  let missing = chunk.goal - valid.length;
  for (const target of targets) {
    if (missing === 0 || room(pass) === 0) return;
    const source = sources.find((s) => pass.work.replicationsFrom(s) + (pass.sources.get(s) ?? 0) < limits.chunkReplicationsPerServerMax);
    if (source === undefined) return;
    pass.sources.set(source, (pass.sources.get(source) ?? 0) + 1);
    pass.commands.push({
      csid: target.csid,
      command: { op: "replicate", chunkId: chunk.chunkId, version: chunk.version, sourceCsid: source },
    });
    missing--;
  }
}

function dropSurplus(pass: Pass, chunk: ChunkRecord, valid: readonly number[]): void {
  const registered = valid
    .map((c) => pass.view.get(c)!)
    .filter((s) => s.state === "registered")
    .sort((a, b) => usedPercent(b) - usedPercent(a) || b.csid - a.csid);
  // Never below the goal, and never the last valid copy (goal is at least 1).
  const surplus = Math.min(valid.length - Math.max(chunk.goal, 1), registered.length);
  deleteCopies(pass, chunk, registered.slice(0, surplus).map((s) => s.csid), chunk.version);
}

export function applyChunkHousekeep(a: Applying, op: ChunkHousekeepOp): Result {
  for (const chunkId of op.drop) {
    const chunk = a.st.chunks.get(chunkId);
    mismatch(chunk !== undefined && chunk.refcount === 0 && chunk.copies.size === 0, `chunk ${chunkId} is not unused and empty`);
    a.st.chunks.delete(chunkId);
  }
  for (const { chunkId, version } of op.adopt) {
    const chunk = a.st.chunks.get(chunkId);
    mismatch(chunk !== undefined, `chunk ${chunkId} does not exist`);
    chunk.version = version;
    chunk.needsVersionIncrease = true;
  }
  return ok;
}
