/**
 * The read-only chunk requests: READ_CHUNK (fs_readchunk + chunk_read_check), CHECK without an
 * index (fs_checkfile: how many chunks have 0, 1, ... 10+ valid copies, and holes) and CHECK with
 * an index (one chunk's copies and their state, what mfsfileinfo prints).
 *
 * Only copies on live chunkservers count: a client can do nothing with the others. READ_CHUNK of
 * a hole answers chunk id 0 (the client reads zeros); of a chunk without a live valid copy
 * CHUNKLOST (the client retries, then gives ENXIO), or LOCKED while a write or truncate is
 * changing its version (the client retries at once).
 */
import { CopyState, NodeType, Status, type CommandOf, type Result } from "@antler/ops";
import { fail, type Planning } from "../namespace/context.ts";
import { findNode } from "../namespace/nodes.ts";
import type { Node } from "../state.ts";
import { chunkFile, liveValidCopies } from "./write.ts";
import { chunkAt } from "./table.ts";

export function readReadchunk(p: Planning, cmd: CommandOf<"readchunk">): Result {
  const node = chunkFile(p, cmd.inode, cmd.index);
  if ("status" in node) return node;
  const chunkId = chunkAt(node, cmd.index);
  if (chunkId === 0n) return { status: Status.OK, length: node.length, chunkId: 0n, version: 0, csids: [] };
  const chunk = p.st.chunks.get(chunkId);
  if (chunk === undefined) return fail(Status.CHUNKLOST);
  const csids = liveValidCopies(p, chunk);
  if (csids.length === 0) return fail(p.work.isBusy(chunkId, p.nowMs) ? Status.LOCKED : Status.CHUNKLOST);
  return { status: Status.OK, length: node.length, chunkId, version: chunk.version, csids };
}

/** counts[n]: chunks with n live valid copies (10 = ten or more); counts[11]: holes. */
const histogramSize = 12;
const copiesCountedMax = 10;

function checkedFile(p: Planning, inode: number): Node | Result {
  const node = findNode(p.st, p.ctx.rootInode, inode, false);
  if (node === null) return fail(Status.ENOENT);
  if (node.type !== NodeType.FILE) return fail(Status.EPERM);
  return node;
}

export function readCheckfile(p: Planning, cmd: CommandOf<"checkfile">): Result {
  const node = checkedFile(p, cmd.inode);
  if ("status" in node) return node;
  const counts = new Array<number>(histogramSize).fill(0);
  for (const chunkId of node.chunks) {
    const chunk = chunkId === 0n ? undefined : p.st.chunks.get(chunkId);
    if (chunk === undefined) {
      counts[histogramSize - 1]!++;
      continue;
    }
    const valid = liveValidCopies(p, chunk).length;
    counts[Math.min(valid, copiesCountedMax)]!++;
  }
  return { status: Status.OK, counts };
}

export function readCheckchunk(p: Planning, cmd: CommandOf<"checkchunk">): Result {
  const node = checkedFile(p, cmd.inode);
  if ("status" in node) return node;
  const chunkId = chunkAt(node, cmd.index);
  const chunk = chunkId === 0n ? undefined : p.st.chunks.get(chunkId);
  if (chunk === undefined) return { status: Status.OK, chunkId: 0n, version: 0, copies: [] };
  const busy = p.work.isBusy(chunkId, p.nowMs);
  const copies = [...chunk.copies]
    .filter(([csid]) => p.servers.isLive(csid))
    .sort((x, y) => x[0] - y[0])
    .map(([csid, version]) => {
      let state: number = CopyState.VALID;
      if (version !== chunk.version) state = CopyState.WRONG_VERSION;
      else if (busy) state = CopyState.BUSY;
      else if (chunk.refcount === 0) state = CopyState.TO_DELETE;
      return { csid, state };
    });
  return { status: Status.OK, chunkId, version: chunk.version, copies };
}
