/**
 * Housekeeping under random conditions: goals change, servers come and go or enter maintenance,
 * copies are reported lost or at wrong versions, and commands fail at random. Whatever happens,
 * a pass never takes the last valid copy of a used chunk, and the state replays identically.
 *
 * Reproduce a failing run with SHARD_CORE_SEED=<seed> (printed on failure).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, Status, type Ctx } from "@antler/ops";
import { slotOfChunkId } from "@antler/slots";
import { seededRandom } from "@antler/testkit";
import type { ChunkserverView } from "../api.ts";
import { Harness, rootCtx, server } from "../test-kit.ts";

const system: Ctx = { ...rootCtx, sessionId: 0 };

interface ChunkLine {
  chunkId: bigint;
  version: number;
  refcount: number;
  copies: [number, number][];
}

/** The chunk table from a snapshot (header line, node lines, then chunk lines). */
function chunkTable(h: Harness): Map<bigint, ChunkLine> {
  const bytes = h.m.exportState();
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
    lines.push(bytes.subarray(start, end));
    start = end + 1;
  }
  const header = decodeMessage(lines[0]!) as { nodeCount: number };
  const chunks = lines.slice(1 + header.nodeCount).map((l) => decodeMessage(l) as ChunkLine);
  return new Map(chunks.map((c) => [c.chunkId, c]));
}

function validCount(chunk: ChunkLine): number {
  return chunk.copies.filter(([, version]) => version === chunk.version).length;
}

test("random housekeeping never deletes the last valid copy of a used chunk", () => {
  const seed = Number(process.env.SHARD_CORE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  try {
    const rnd = seededRandom(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const h = new Harness();
    const all = [1, 2, 3, 4, 5];
    let view: ChunkserverView[] = all.map((c) => server(c, Math.floor(rnd() * 90)));
    h.m.observeChunkservers(view);
    const files = [h.create(1, "a"), h.create(1, "b"), h.create(1, "c")];
    for (const file of files) {
      h.ok({ kind: "setgoal", inode: file, uid: 0, goal: 2, smode: 0 });
      for (let index = 0; index < 3; index++) {
        const execution = h.exec({ kind: "writechunk", inode: file, index, flags: 0 });
        const result = h.finish(execution.chunkWork).result;
        assert.equal(result.status, Status.OK);
        const chunkId = (result as unknown as { chunkId: bigint }).chunkId;
        h.ok({ kind: "writechunkend", inode: file, index, chunkId, length: 0, flags: 0 });
      }
    }
    const ids = [...chunkTable(h).keys()];
    let deletions = 0;
    for (let step = 0; step < 400; step++) {
      const action = rnd();
      if (action < 0.15) {
        h.ok({ kind: "setgoal", inode: pick(files), uid: 0, goal: 1 + Math.floor(rnd() * 4), smode: 0 });
      } else if (action < 0.25) {
        view = all.filter(() => rnd() < 0.85).map((c) => server(c, Math.floor(rnd() * 90), rnd() < 0.2 ? "maintenance" : "registered"));
        h.m.observeChunkservers(view);
      } else if (action < 0.32) {
        const chunkId = pick(ids);
        h.ok({ kind: "chunkscopies", slot: slotOfChunkId(chunkId), csid: pick(all), fullReport: false, copies: [{ chunkId, version: 1 + Math.floor(rnd() * 2) }] }, system);
      } else if (action < 0.36) {
        const chunkId = pick(ids);
        h.ok({ kind: "chunksgone", slot: slotOfChunkId(chunkId), csid: pick(all), chunkIds: [chunkId] }, system);
      } else {
        const before = chunkTable(h);
        const pass = h.housekeep();
        if (pass.chunkWork !== undefined) {
          deletions += pass.chunkWork.commands.filter((c) => c.command.op === "delete").length;
          h.finish(pass.chunkWork, () => pick([0, 0, 0, Status.CSNOTPRESENT, Status.NOCHUNK]));
        }
        const after = chunkTable(h);
        for (const [chunkId, chunk] of before) {
          if (chunk.refcount === 0 || validCount(chunk) === 0) continue;
          const now = after.get(chunkId);
          assert.ok(now !== undefined && validCount(now) > 0, `chunk ${chunkId} lost its last valid copy at step ${step}`);
        }
      }
    }
    assert.ok(deletions > 10, `the run deleted copies (${deletions})`);
    assert.deepEqual(h.replayed().exportState(), h.m.exportState());
  } catch (err) {
    console.error(`housekeeping random test failed: reproduce with SHARD_CORE_SEED=${seed}`);
    throw err;
  }
});
