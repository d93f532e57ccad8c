/**
 * The chunk table (mfsmaster's chunks.c bookkeeping without the soft state): chunk ids, versions,
 * the copies chunkservers hold, how many file index slots use each chunk, and write locks.
 *
 * A chunk id is `slot:11 | counter:53` (ARCHITECTURE §3): a new chunk takes the slot of the file
 * it is created for and the next counter of that slot, so chunk → shard needs no lookup and an id
 * is never handed out twice. Every function here runs inside apply (live and on replay).
 */
import { limits } from "@antler/base";
import { makeChunkId, slotOfChunkId } from "@antler/slots";
import { mismatch } from "../errors.ts";
import type { ChunkRecord, Node, State } from "../state.ts";

/** Length in bytes covered by `chunks` chunks. */
export function chunkCountFor(length: number): number {
  return length > 0 ? Math.floor((length - 1) / limits.chunkBytes) + 1 : 0;
}

/** The chunk id at `index` of a file (0n for a hole or beyond its chunk list). */
export function chunkAt(node: Node, index: number): bigint {
  return node.chunks[index] ?? 0n;
}

export function requireChunk(st: State, chunkId: bigint): ChunkRecord {
  const chunk = st.chunks.get(chunkId);
  mismatch(chunk !== undefined, `chunk ${chunkId} does not exist`);
  return chunk;
}

/** The next chunk id of `slot` (not taken yet). */
export function nextChunkId(st: State, slot: number): bigint {
  return makeChunkId(slot, st.chunkCounters.get(slot) ?? 1n);
}

const counterMask = (1n << 53n) - 1n;

export function counterOfChunkId(chunkId: bigint): bigint {
  return chunkId & counterMask;
}

/** Creates chunk `chunkId` (version `version`, no copies, unused); replay checks it is new. */
export function takeChunk(st: State, chunkId: bigint, version: number, goal: number): ChunkRecord {
  const slot = slotOfChunkId(chunkId);
  const counter = counterOfChunkId(chunkId);
  mismatch(!st.chunks.has(chunkId), `chunk ${chunkId} already exists`);
  mismatch(counter >= (st.chunkCounters.get(slot) ?? 1n), `chunk ${chunkId} was handed out before`);
  st.chunkCounters.set(slot, counter + 1n);
  const chunk: ChunkRecord = {
    chunkId,
    version,
    copies: new Map(),
    refcount: 0,
    goal,
    lockedUntilMs: 0,
    lockedBy: 0,
    needsVersionIncrease: false,
  };
  st.chunks.set(chunkId, chunk);
  return chunk;
}

/** Raises the slot's counter past `chunkId` (a chunkserver reported an id we never handed out). */
export function skipChunkId(st: State, chunkId: bigint): void {
  const slot = slotOfChunkId(chunkId);
  const counter = counterOfChunkId(chunkId);
  if (counter >= (st.chunkCounters.get(slot) ?? 1n)) st.chunkCounters.set(slot, counter + 1n);
}

/** One more file index slot uses the chunk (chunk_add_file). */
export function retainChunk(st: State, chunkId: bigint, goal: number): void {
  if (chunkId === 0n) return;
  const chunk = requireChunk(st, chunkId);
  chunk.refcount++;
  chunk.goal = Math.max(chunk.goal, goal);
}

/**
 * One file index slot lets go of the chunk (chunk_delete_file). An unused chunk stays in the
 * table until housekeeping has deleted its copies.
 */
export function releaseChunk(st: State, chunkId: bigint): void {
  if (chunkId === 0n) return;
  const chunk = requireChunk(st, chunkId);
  mismatch(chunk.refcount > 0, `chunk ${chunkId} released more often than used`);
  chunk.refcount--;
}

/** Points index `index` of `node` at `chunkId` (growing the list with holes as needed). */
export function setChunkAt(node: Node, index: number, chunkId: bigint): void {
  while (node.chunks.length <= index) node.chunks.push(0n);
  node.chunks[index] = chunkId;
  while (node.chunks.length > 0 && node.chunks[node.chunks.length - 1] === 0n) node.chunks.pop();
}

/** Releases the chunks a file of `length` bytes no longer covers (fsnodes_setlength). */
export function releaseChunksBeyond(st: State, node: Node, length: number): void {
  const keep = chunkCountFor(length);
  if (node.chunks.length <= keep) return;
  for (const chunkId of node.chunks.slice(keep)) releaseChunk(st, chunkId);
  node.chunks.length = keep;
  while (node.chunks.length > 0 && node.chunks[node.chunks.length - 1] === 0n) node.chunks.pop();
}

export function isLocked(chunk: ChunkRecord, nowMs: number): boolean {
  return chunk.lockedUntilMs > nowMs;
}

export function lockChunk(chunk: ChunkRecord, untilMs: number, sessionId: number): void {
  chunk.lockedUntilMs = untilMs;
  chunk.lockedBy = sessionId;
}

export function unlockChunk(chunk: ChunkRecord): void {
  chunk.lockedUntilMs = 0;
  chunk.lockedBy = 0;
}

/** Records that chunkserver `csid` holds the chunk at `version`. */
export function setCopy(chunk: ChunkRecord, csid: number, version: number): void {
  chunk.copies.set(csid, version);
}

export function dropCopy(chunk: ChunkRecord, csid: number): void {
  chunk.copies.delete(csid);
}

/** csids holding the chunk at its current version, ascending. */
export function validCopies(chunk: ChunkRecord): number[] {
  const csids: number[] = [];
  for (const [csid, version] of chunk.copies) if (version === chunk.version) csids.push(csid);
  return csids.sort((a, b) => a - b);
}
