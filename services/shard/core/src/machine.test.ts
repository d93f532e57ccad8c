/**
 * The log-entry life cycle of the state machine: a seeded random workload executed live and its
 * entries replayed (through encode/decode) on a fresh machine give identical snapshots; snapshot
 * + tail gives the same; re-applied entries are no-ops; a retried requestId gets the original
 * result without a second entry; export/import round-trips; malformed bytes and entries that do
 * not fit the state raise typed errors.
 *
 * Reproduce a failing random run with SHARD_CORE_SEED=<seed> (printed on failure).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AclType, decodeMessage, encodeMessage, FlockCmd, NodeType, OpenFlag, PosixLockCmd, Status, type Command, type Ctx } from "@antler/ops";
import { createPlacement, slotOfInode } from "@antler/slots";
import { LogDecodeError, ReplayMismatchError } from "./errors.ts";
import type { LogEntry } from "./log-entry.ts";
import { createStateMachine } from "./machine.ts";
import { Harness, ctxOf, rootCtx, server, t0Ms, testSlotOfNewDirectory } from "./test-kit.ts";
import type { ChunkWork } from "./api.ts";
import { fileChunkStats } from "./stats.ts";
import type { Node } from "./state.ts";
import { seededRandom } from "@antler/testkit";

function fresh() {
  return createStateMachine({ shardId: 1, metaId: 42n, slotOfNewDirectory: testSlotOfNewDirectory, rootCreatedSeconds: t0Ms / 1000 });
}

const names = ["a", "b", "c", "d", "e"];
const callers: Ctx[] = [rootCtx, ctxOf(1000, [1000], 2), ctxOf(2000, [2000, 1000], 3), ctxOf(0, [0], 4)];

/** A random command over the inodes seen so far (many fail; failures must not log anything). */
function randomCommand(rnd: () => number, inodes: number[], dirs: number[]): Command {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const inode = pick(inodes);
  const parent = rnd() < 0.9 ? pick(dirs) : pick(inodes);
  const name = pick(names);
  const kinds = [
    () => ({ kind: "mkdir", parent, name, mode: 0o777, umask: 0o022, copysgid: rnd() < 0.5 }),
    () => ({ kind: "create", parent, name, mode: 0o666, umask: 0o022 }),
    () => ({ kind: "mknod", parent, name, type: NodeType.FIFO, mode: 0o644, umask: 0, rdev: 0 }),
    () => ({ kind: "symlink", parent, name, target: "t".repeat(1 + Math.floor(rnd() * 9)) }),
    () => ({ kind: "unlink", parent, name }),
    () => ({ kind: "rmdir", parent, name }),
    () => ({ kind: "rename", parentSrc: parent, nameSrc: name, parentDst: pick(dirs), nameDst: pick(names) }),
    () => ({ kind: "rename", parentSrc: parent, nameSrc: name, parentDst: pick(dirs), nameDst: pick(names) }),
    () => ({ kind: "mkdir", parent, name, mode: 0o777, umask: 0o022, copysgid: true }),
    () => ({ kind: "create", parent, name, mode: 0o666, umask: 0o022 }),
    () => ({ kind: "unlink", parent, name }),
    () => ({ kind: "link", inode, parentDst: parent, nameDst: name }),
    () => ({ kind: "setattr", inode, opened: rnd() < 0.3, setmask: Math.floor(rnd() * 256), mode: Math.floor(rnd() * 0o7777), uid: pick([0, 1000, 2000]), gid: pick([0, 1000, 2000]), atime: 5, mtime: 6, winattr: 0, sugidclearmode: Math.floor(rnd() * 6) }),
    () => ({ kind: "truncate", inode, flags: Math.floor(rnd() * 16), length: Math.floor(rnd() * 5000) }),
    () => ({ kind: "open", inode, flags: pick([OpenFlag.READ, OpenFlag.WRITE, OpenFlag.WRITE | OpenFlag.TRUNCATE, OpenFlag.AFTER_CREATE]) }),
    () => ({ kind: "setxattr", inode, name: pick(["user.a", "user.b"]), value: new Uint8Array([1, 2, 3]), mode: Math.floor(rnd() * 4), opened: false }),
    () => ({ kind: "setfacl", inode, acltype: pick([AclType.ACCESS, AclType.DEFAULT]), acl: rnd() < 0.3 ? null : { userPerm: 7, groupPerm: 5, otherPerm: 1, mask: pick([7, 0xffff]), users: rnd() < 0.5 ? [] : [{ id: 2000, perm: 6 }], groups: [] } }),
    () => ({ kind: "flock", inode, reqid: 1, owner: BigInt(Math.floor(rnd() * 3)), cmd: pick([FlockCmd.TRY_SHARED, FlockCmd.TRY_EXCLUSIVE, FlockCmd.UNLOCK, FlockCmd.RELEASE]) }),
    () => ({ kind: "posixlock", inode, reqid: 1, owner: BigInt(Math.floor(rnd() * 3)), pid: 7, cmd: pick([PosixLockCmd.TRY, PosixLockCmd.SET]), type: Math.floor(rnd() * 3), start: BigInt(Math.floor(rnd() * 50)), end: BigInt(50 + Math.floor(rnd() * 50)) }),
    () => ({ kind: "sustained", inodes: inodes.filter(() => rnd() < 0.3) }),
    () => ({ kind: "amtime", entries: [{ inode, atime: Math.floor(t0Ms / 1000 + rnd() * 1e6), mtime: Math.floor(t0Ms / 1000 + rnd() * 1e6) }] }),
    () => ({ kind: "closesession" }),
    () => ({ kind: "settrashtime", inode, uid: pick([0, 1000]), trashtime: pick([0, 3600, 86400]), smode: Math.floor(rnd() * 8) }),
    () => ({ kind: "setgoal", inode, uid: pick([0, 1000]), goal: 1 + Math.floor(rnd() * 9), smode: pick([0, 1, 2, 4, 5, 6]) }),
    () => ({ kind: "seteattr", inode, uid: 0, eattr: pick([0, 1, 4, 8]), smode: Math.floor(rnd() * 8) }),
    // File data: chunk writes, ends, big truncates, snapshots and chunkserver reports.
    () => ({ kind: "writechunk", inode, index: Math.floor(rnd() * 3), flags: pick([0, 1, 2]) }),
    () => ({ kind: "writechunk", inode, index: Math.floor(rnd() * 3), flags: 0 }),
    () => ({ kind: "writechunkend", inode, index: 0, chunkId: BigInt(1 + Math.floor(rnd() * 8)), length: Math.floor(rnd() * 3 * 64 * 2 ** 20), flags: pick([0, 1]) }),
    () => ({ kind: "truncate", inode, flags: 0, length: Math.floor(rnd() * 3 * 64 * 2 ** 20) }),
    () => ({ kind: "snapshot", inode, parentDst: pick(dirs), nameDst: pick(names), smode: pick([0, 1, 2, 3]), umask: 0o022 }),
    () => ({ kind: "chunkscopies", slot: 0, csid: 1 + Math.floor(rnd() * 4), fullReport: rnd() < 0.5, copies: [{ chunkId: BigInt(1 + Math.floor(rnd() * 10)), version: 1 + Math.floor(rnd() * 3) }] }),
    () => ({ kind: "chunksgone", slot: 0, csid: 1 + Math.floor(rnd() * 4), chunkIds: [BigInt(1 + Math.floor(rnd() * 10))] }),
    () => ({ kind: "chunkserverreset", csid: 1 + Math.floor(rnd() * 4) }),
  ];
  return pick(kinds)() as Command;
}

function pick01<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function runWorkload(seed: number, steps: number): { h: Harness; entries: LogEntry[]; midpoint: { at: number; snapshot: Uint8Array } } {
  const rnd = seededRandom(seed);
  const h = new Harness();
  h.m.observeChunkservers([server(1, 10), server(2, 40), server(3, 70, "maintenance")]);
  const inodes = [1];
  const dirs = [1];
  const pending: ChunkWork[] = [];
  /** Chunk work finishes in random order with random outcomes (0 OK, 43 unreachable, 13 no chunk). */
  const finishSome = (): void => {
    while (pending.length > 0 && rnd() < 0.7) {
      const work = pending.splice(Math.floor(rnd() * pending.length), 1)[0]!;
      h.finish(work, () => pick01(rnd, [0, 0, 0, 43, 13]));
    }
  };
  let midpoint = { at: 0, snapshot: h.m.exportState() };
  for (let i = 0; i < steps; i++) {
    if (i === steps >> 1) midpoint = { at: h.entries.length, snapshot: h.m.exportState() };
    if (rnd() < 0.05) {
      h.nowMs += Math.floor(rnd() * 200_000_000);
      const entry = h.m.maintain(h.nowMs);
      if (entry !== null) h.entries.push(entry);
      continue;
    }
    if (rnd() < 0.05) {
      const { chunkWork } = h.housekeep();
      if (chunkWork !== undefined) pending.push(chunkWork);
      continue;
    }
    finishSome();
    const ctx = rnd() < 0.5 ? rootCtx : callers[Math.floor(rnd() * callers.length)]!;
    const { result, entry, chunkWork } = h.exec(randomCommand(rnd, inodes, dirs), ctx);
    if (chunkWork !== undefined) pending.push(chunkWork);
    if (result.status !== Status.OK) assert.equal(entry, null, "a failure logs nothing");
    const created = (result as { inode?: number }).inode;
    if (result.status === Status.OK && created !== undefined && !inodes.includes(created)) {
      inodes.push(created);
      if ((result as { attr?: { type: number } }).attr?.type === NodeType.DIRECTORY) dirs.push(created);
    }
  }
  return { h, entries: h.entries, midpoint };
}

interface SnapNode {
  inode: number;
  type: number;
  length: number;
  chunks?: bigint[];
  goal?: number;
  target: string;
  parents: [number, string][];
  detached: unknown;
  dir: { entries: [string, number, unknown][]; subdirs: number; stats: Record<string, number> } | null;
}

interface SnapChunk {
  chunkId: bigint;
  refcount: number;
}

/** A version-3 snapshot (JSON lines: header, one node per line, one chunk per line) as one object. */
function decodeSnapshot(snapshot: Uint8Array): { nodes: SnapNode[]; chunks: SnapChunk[]; dirCount: number; fileCount: number; nodeCount: number } & Record<string, unknown> {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let end = snapshot.indexOf(10); end >= 0; end = snapshot.indexOf(10, start)) {
    lines.push(snapshot.subarray(start, end));
    start = end + 1;
  }
  const header = decodeMessage(lines[0]!) as { dirCount: number; fileCount: number; nodeCount: number } & Record<string, unknown>;
  const nodeLines = lines.slice(1, 1 + header.nodeCount);
  const chunkLines = lines.slice(1 + header.nodeCount);
  return {
    ...header,
    nodes: nodeLines.map((line) => decodeMessage(line) as SnapNode),
    chunks: chunkLines.map((line) => decodeMessage(line) as SnapChunk),
  };
}

/** Namespace invariants, recomputed from scratch on a snapshot: links, nlink, recursive stats. */
function checkInvariants(snapshot: Uint8Array): void {
  const json = decodeSnapshot(snapshot);
  const nodes = new Map(json.nodes.map((node) => [node.inode, node]));
  type Sums = { inodes: number; dirs: number; files: number; length: number; chunks: number; size: number; realSize: number };
  const zero = (): Sums => ({ inodes: 0, dirs: 0, files: 0, length: 0, chunks: 0, size: 0, realSize: 0 });
  const subtree = (node: SnapNode): Sums => {
    const sum = zero();
    for (const [, inode] of node.dir?.entries ?? []) {
      const child = nodes.get(inode)!;
      const own = child.dir ? subtree(child) : zero();
      const file = child.type === NodeType.FILE ? fileChunkStats({ length: child.length, chunks: child.chunks ?? [] } as unknown as Node) : { chunks: 0, size: 0 };
      sum.inodes += 1 + own.inodes;
      sum.dirs += (child.dir ? 1 : 0) + own.dirs;
      sum.files += (child.type === NodeType.FILE ? 1 : 0) + own.files;
      sum.length += (child.type === NodeType.FILE ? child.length : child.type === NodeType.SYMLINK ? child.target.length : 0) + own.length;
      sum.chunks += file.chunks + own.chunks;
      sum.size += file.size + own.size;
      sum.realSize += file.size * (child.goal ?? 0) + own.realSize;
    }
    return sum;
  };
  for (const node of nodes.values()) {
    for (const [parent, name] of node.parents) {
      const entry = nodes.get(parent)?.dir?.entries.find(([n]) => n === name);
      assert.equal(entry?.[1], node.inode, `edge ${parent}/${name} of ${node.inode}`);
    }
    assert.ok(node.parents.length > 0 || node.detached !== null || node.inode === 1, `orphan ${node.inode}`);
    if (node.dir === null) continue;
    const subdirs = node.dir.entries.filter(([, i]) => nodes.get(i)!.dir !== null).length;
    assert.equal(node.dir.subdirs, subdirs, `subdirs of ${node.inode}`);
    assert.deepEqual(node.dir.stats, subtree(node), `stats of ${node.inode}`);
  }
  // Every chunk is used exactly as often as file index slots name it.
  const uses = new Map<bigint, number>();
  for (const node of nodes.values()) for (const id of node.chunks ?? []) if (id !== 0n) uses.set(id, (uses.get(id) ?? 0) + 1);
  const table = new Map(json.chunks.map((c) => [c.chunkId, c]));
  for (const [id, count] of uses) assert.equal(table.get(id)?.refcount, count, `refcount of chunk ${id}`);
  for (const chunk of json.chunks) assert.equal(chunk.refcount, uses.get(chunk.chunkId) ?? 0, `chunk ${chunk.chunkId} unused`);
  assert.equal(json.dirCount, [...nodes.values()].filter((n) => n.dir !== null).length);
  assert.equal(json.fileCount, [...nodes.values()].filter((n) => n.type === NodeType.FILE).length);
}

function kindCounts(entries: readonly LogEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of entries) counts[e.op.kind] = (counts[e.op.kind] ?? 0) + 1;
  return counts;
}

test("replay: executing a random workload and replaying its entries give the same state", () => {
  const seed = Number(process.env.SHARD_CORE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  try {
    for (let round = 0; round < 5; round++) {
      const { h, entries, midpoint } = runWorkload(seed + round, 1500);
      const replica = fresh();
      for (const entry of entries) replica.apply(replica.decodeEntry(replica.encodeEntry(entry)));
      assert.deepEqual(replica.exportState(), h.m.exportState(), "replica equals leader");
      checkInvariants(h.m.exportState());
      for (const entry of entries) replica.apply(entry);
      assert.deepEqual(replica.exportState(), h.m.exportState(), "re-applying is a no-op");
      const restored = fresh();
      restored.importState(midpoint.snapshot);
      for (const entry of entries.slice(midpoint.at)) restored.apply(entry);
      assert.deepEqual(restored.exportState(), h.m.exportState(), "snapshot + tail equals leader");
      assert.ok(entries.length > 100, "the workload did something");
      if (process.env.SHARD_CORE_VERBOSE) console.log(kindCounts(entries));
    }
  } catch (err) {
    console.error(`replay test failed: reproduce with SHARD_CORE_SEED=${seed}`);
    throw err;
  }
});

test("export/import round-trips and keeps working", () => {
  const { h } = runWorkload(7, 800);
  const copy = fresh();
  copy.importState(h.m.exportState());
  assert.deepEqual(copy.exportState(), h.m.exportState());
  assert.deepEqual(copy.stats(), h.m.stats());
  const a = h.m.execute({ kind: "mkdir", parent: 1, name: "zz", mode: 0o755, umask: 0, copysgid: false }, rootCtx, h.nowMs + 1000);
  const b = copy.execute({ kind: "mkdir", parent: 1, name: "zz", mode: 0o755, umask: 0, copysgid: false }, rootCtx, h.nowMs + 1000);
  assert.deepEqual(b, a);
});

test("snapshots: version 3 is JSON lines with chunks; versions 2 and 1 still import; damage is LogDecodeError", () => {
  const { h } = runWorkload(11, 400);
  const v2 = h.m.exportState();
  const decoded = decodeSnapshot(v2);
  assert.equal(decoded.snapshotVersion, 3);
  assert.equal(decoded.nodes.length, decoded.nodeCount);
  assert.equal(decoded.chunks.length, decoded.chunkCount);
  assert.ok(decoded.chunks.length > 0, "the workload made chunks");
  assert.equal(v2[v2.length - 1], 10, "every line ends with a newline");
  // The same state in the version-1 layout (one JSON document) imports to the same state.
  const { nodeCount: _n, chunkCount: _c, ...rest } = decoded;
  const v1 = encodeMessage({ ...rest, snapshotVersion: 1 });
  const fromV1 = fresh();
  fromV1.importState(v1);
  assert.deepEqual(fromV1.exportState(), v2);
  // An early version-3 snapshot still carries the per-thread re-send memory (replaced by request
  // ids, ADR 0009): it imports, and the field is dropped.
  const lines = new TextDecoder().decode(v2).split("\n");
  const earlyHeader = decodeMessage(new TextEncoder().encode(lines[0]!)) as Record<string, unknown>;
  const withResends = [new TextDecoder().decode(encodeMessage({ ...earlyHeader, resends: [["1:7", { fingerprint: "00", result: { status: 0 } }]] })), ...lines.slice(1)].join("\n");
  const fromEarlyV3 = fresh();
  fromEarlyV3.importState(new TextEncoder().encode(withResends));
  assert.deepEqual(fromEarlyV3.exportState(), v2);
  // A version-2 snapshot (before chunks) imports with an empty chunk table.
  const plain = new Harness();
  plain.mkdir(1, "x");
  const v3 = decodeSnapshot(plain.m.exportState());
  const { chunkCount: _cc, chunkCounters: _cn, chunks: _ch, nodes, ...header } = v3;
  const oldLines = [encodeMessage({ ...header, snapshotVersion: 2 }), ...nodes.map((node) => {
    const { chunks: _nc, ...old } = node;
    return encodeMessage(old);
  })];
  const fromV2 = fresh();
  fromV2.importState(new Uint8Array(oldLines.flatMap((line) => [...line, 10])));
  assert.deepEqual(fromV2.exportState(), plain.m.exportState());
  // A truncated snapshot (cut inside the last line, or a whole line short) is refused.
  const copy = fresh();
  assert.throws(() => copy.importState(v2.subarray(0, v2.length - 5)), LogDecodeError);
  const lastLineStart = v2.lastIndexOf(10, v2.length - 2) + 1;
  assert.throws(() => copy.importState(v2.subarray(0, lastLineStart)), /chunks, its header says/);
});

test("a retried requestId answers the first result and logs nothing", () => {
  const h = new Harness();
  const ctx = { ...rootCtx, requestId: "req-1" };
  const first = h.exec({ kind: "mkdir", parent: 1, name: "d", mode: 0o755, umask: 0, copysgid: false }, ctx);
  assert.notEqual(first.entry, null);
  assert.equal(first.entry!.requestId, "req-1");
  const retry = h.exec({ kind: "mkdir", parent: 1, name: "d", mode: 0o755, umask: 0, copysgid: false }, ctx);
  assert.equal(retry.entry, null);
  assert.deepEqual(retry.result, first.result);
  const replica = fresh();
  for (const entry of h.entries) replica.apply(entry);
  const afterFailover = replica.execute({ kind: "mkdir", parent: 1, name: "d", mode: 0o755, umask: 0, copysgid: false }, ctx, h.nowMs + 5000);
  assert.deepEqual(afterFailover.result, first.result, "a new leader recognises the retry");
  assert.equal(afterFailover.entry, null);
  const other = h.exec({ kind: "mkdir", parent: 1, name: "d", mode: 0o755, umask: 0, copysgid: false }, { ...rootCtx, requestId: "req-2" });
  assert.equal(other.result.status, Status.EEXIST);
});

test("with the production placement a new directory lands in its BLAKE3 slot", async () => {
  const placement = await createPlacement();
  const m = createStateMachine({ shardId: 1, metaId: 1n, slotOfNewDirectory: (p, name) => placement.directorySlot(p, name) });
  const r = m.execute({ kind: "mkdir", parent: 1, name: "projects", mode: 0o755, umask: 0, copysgid: false }, rootCtx, t0Ms);
  assert.equal(r.result.status, Status.OK);
  assert.equal(slotOfInode((r.result as { inode: number }).inode), placement.directorySlot(1, "projects"));
});

test("stamps increase even when the clock goes back", () => {
  const m = fresh();
  const a = m.execute({ kind: "mkdir", parent: 1, name: "a", mode: 0o755, umask: 0, copysgid: false }, rootCtx, t0Ms + 10_000).entry!;
  const b = m.execute({ kind: "mkdir", parent: 1, name: "b", mode: 0o755, umask: 0, copysgid: false }, rootCtx, t0Ms + 5_000).entry!;
  assert.equal(b.stamp.wallMs, a.stamp.wallMs);
  assert.equal(b.stamp.logical, a.stamp.logical + 1);
});

test("an entry that does not fit the state raises ReplayMismatchError", () => {
  const h = new Harness();
  h.mkdir(1, "d");
  const entry = h.entries[0]!;
  const other = fresh();
  other.execute({ kind: "mkdir", parent: 1, name: "d", mode: 0o755, umask: 0, copysgid: false }, rootCtx, t0Ms);
  const shifted = { ...entry, stamp: { ...entry.stamp, wallMs: entry.stamp.wallMs + 10_000_000 } };
  assert.throws(() => other.apply(shifted), ReplayMismatchError);
  const unlink: LogEntry = { ...shifted, op: { kind: "unlink", parent: 1, name: "nope", inode: 5, disposal: "free" } };
  assert.throws(() => fresh().apply(unlink), ReplayMismatchError);
});

test("malformed entry and snapshot bytes raise LogDecodeError", () => {
  const m = fresh();
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.throws(() => m.decodeEntry(bytes("not json")), LogDecodeError);
  assert.throws(() => m.decodeEntry(bytes(JSON.stringify({ version: 2 }))), LogDecodeError);
  const base = { version: 1, stamp: { wallMs: 1, logical: 0, origin: 0 }, caller: { sessionId: 0, uid: 0, sesflags: 0 } };
  assert.throws(() => m.decodeEntry(bytes(JSON.stringify({ ...base, op: { kind: "explode" } }))), LogDecodeError);
  assert.throws(() => m.decodeEntry(bytes(JSON.stringify({ ...base, op: { kind: "link", inode: "1", parent: 1, name: "x" } }))), LogDecodeError);
  const good = { ...base, op: { kind: "link", inode: 1, parent: 1, name: "x" } };
  assert.deepEqual(m.decodeEntry(bytes(JSON.stringify(good))), good);
  assert.throws(() => m.importState(bytes("{}")), LogDecodeError);
  assert.throws(() => m.importState(new Uint8Array([0xff])), LogDecodeError);
});

test("reads never log; malformed commands and contexts are EINVAL", () => {
  const h = new Harness();
  assert.equal(h.exec({ kind: "statfs" }).entry, null);
  assert.equal(h.exec({ kind: "readdir", inode: 1, withAttr: true, maxEntries: 100 }).entry, null);
  const bogus = [
    { kind: "explode" },
    { kind: "mkdir", parent: 1, name: 7, mode: 0o755, umask: 0, copysgid: false },
    { kind: "mkdir", parent: 1, name: "\u0100", mode: 0o755, umask: 0, copysgid: false },
    { kind: "truncate", inode: 1, flags: 0, length: -1 },
    { kind: "flock", inode: 1, reqid: 1, owner: 1, cmd: 1 },
    { kind: "sustained", inodes: "all" },
    null,
  ];
  for (const cmd of bogus) assert.equal(h.run(cmd as unknown as Command).status, Status.EINVAL, JSON.stringify(cmd));
  const badCtx = { ...rootCtx, gids: [] };
  assert.equal(h.run({ kind: "statfs" }, badCtx).status, Status.EINVAL);
});
