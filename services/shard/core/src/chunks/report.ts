/**
 * Chunkserver reports (chunk_server_has_chunk, chunk_lost/chunk_damaged, a chunkserver that
 * starts registering): they change which copies exist, so they are logged like any change.
 *
 * - A copy of a known chunk is recorded at the version the server has: at the chunk's version it
 *   is valid, at another it is "wrong version" (housekeeping deletes it once a valid copy exists).
 *   A copy that appears or changes marks the chunk "needs version increase" (the next write bumps
 *   the version first), as mfsmaster does for every (re)registered copy.
 * - A copy of a chunk nobody knows is deleted at once (MATOCS_DELETE, version 0 = any), without
 *   waiting; the slot's counter moves past its id so the id is never handed out again. Ids absurdly
 *   far beyond the counter are ignored, as mfsmaster does (they look corrupt, not ours).
 * - Lost or damaged copies are forgotten (and the chunk marked for a version increase).
 */
import { Status, type CommandOf, type Result } from "@antler/ops";
import { slotOfChunkId } from "@antler/slots";
import type { ChunkCommand } from "../api.ts";
import type { ChunkCopiesOp, ChunkserverResetOp, CopyChange } from "../log-entry.ts";
import { ok, type Applying, type Planned, type Planning } from "../namespace/context.ts";
import { counterOfChunkId, dropCopy, setCopy, skipChunkId } from "./table.ts";

/** mfsmaster ignores reported ids more than this far beyond its next id. */
const foreignIdDistance = 1_000_000_000n;

export interface ReportPlan {
  readonly planned: Planned;
  /** Deletions of unknown copies (not awaited). */
  readonly forget: readonly ChunkCommand[];
}

function ownsSlot(p: Planning, slot: number): boolean {
  return p.st.slots.includes(slot);
}

export function planChunkscopies(p: Planning, cmd: CommandOf<"chunkscopies">): ReportPlan {
  if (!ownsSlot(p, cmd.slot)) return { planned: ok, forget: [] };
  const changes: CopyChange[] = [];
  const skipIds: bigint[] = [];
  const forget: ChunkCommand[] = [];
  for (const { chunkId, version } of cmd.copies) {
    if (chunkId <= 0n || slotOfChunkId(chunkId) !== cmd.slot) continue;
    const chunk = p.st.chunks.get(chunkId);
    if (chunk === undefined) {
      const next = p.st.chunkCounters.get(cmd.slot) ?? 1n;
      const counter = counterOfChunkId(chunkId);
      if (counter > next + foreignIdDistance) continue;
      if (counter >= next) skipIds.push(chunkId);
      forget.push({ csid: cmd.csid, command: { op: "delete", chunkId, version: 0 } });
      continue;
    }
    if (chunk.copies.get(cmd.csid) === version) continue;
    changes.push({ chunkId, csid: cmd.csid, version, mark: true });
  }
  const planned: Planned = changes.length === 0 && skipIds.length === 0 ? ok : { kind: "chunkcopies", changes, skipIds };
  return { planned, forget };
}

export function planChunksgone(p: Planning, cmd: CommandOf<"chunksgone">): Planned {
  if (!ownsSlot(p, cmd.slot)) return ok;
  const changes: CopyChange[] = [];
  for (const chunkId of cmd.chunkIds) {
    if (p.st.chunks.get(chunkId)?.copies.has(cmd.csid) !== true) continue;
    changes.push({ chunkId, csid: cmd.csid, version: -1, mark: true });
  }
  return changes.length === 0 ? ok : { kind: "chunkcopies", changes, skipIds: [] };
}

export function planChunkserverReset(p: Planning, cmd: CommandOf<"chunkserverreset">): Planned {
  for (const chunk of p.st.chunks.values()) if (chunk.copies.has(cmd.csid)) return { kind: "chunkserverreset", csid: cmd.csid };
  return ok;
}

export function applyChunkCopies(a: Applying, op: ChunkCopiesOp): Result {
  for (const change of op.changes) {
    // A chunk dropped meanwhile (its last copy went) has nothing left to change.
    const chunk = a.st.chunks.get(change.chunkId);
    if (chunk === undefined) continue;
    if (change.version < 0) dropCopy(chunk, change.csid);
    else setCopy(chunk, change.csid, change.version);
    if (change.mark) chunk.needsVersionIncrease = true;
  }
  for (const chunkId of op.skipIds) skipChunkId(a.st, chunkId);
  return { status: Status.OK };
}

export function applyChunkserverReset(a: Applying, op: ChunkserverResetOp): Result {
  for (const chunk of a.st.chunks.values()) {
    if (!chunk.copies.has(op.csid)) continue;
    dropCopy(chunk, op.csid);
    chunk.needsVersionIncrease = true;
  }
  return { status: Status.OK };
}
