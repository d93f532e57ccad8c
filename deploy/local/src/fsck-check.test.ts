/**
 * The global fsck check on crafted dumps: a clean two-shard namespace with remote entries, hard
 * links across shards and a trashed file passes; each kind of damage is found and named; two
 * passes keep only what both saw, and a transaction prepared in both reads is reported stuck.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeType, nameFromText, type FsckNode } from "@antler/ops";
import { checkNamespace, confirmFindings, type FsckFindings, type NamespaceDump, type ShardDump } from "./fsck-check.ts";

const slotCount = 2048;
/** Shard 0 owns the even slots, shard 1 the odd ones. */
const slotOwners = Array.from({ length: slotCount }, (_, slot) => slot % 2);
const inodeOf = (slot: number, local: number): number => slot * 2 ** 20 + local;
const n = nameFromText;

const root = 1;
const fileF = inodeOf(0, 2); // shard 0, named by root/f and dirA/h
const dirA = inodeOf(1, 1); // shard 1, remote entry of root
const dirB = inodeOf(2, 5); // shard 0, remote entry of dirA
const fileG = inodeOf(1, 2); // shard 1, local entry of dirA
const trashed = inodeOf(3, 9); // shard 1, in the trash

function dir(inode: number, parents: FsckNode["parents"], entries: NonNullable<FsckNode["entries"]>): FsckNode {
  return { inode, type: NodeType.DIRECTORY, parents, detached: false, entries };
}

function cleanShards(): ShardDump[] {
  return [
    {
      shardId: 0,
      nodes: [
        dir(root, [], [
          { name: n("a"), inode: dirA, type: NodeType.DIRECTORY, remote: true },
          { name: n("f"), inode: fileF, type: NodeType.FILE, remote: false },
        ]),
        { inode: fileF, type: NodeType.FILE, parents: [{ parent: root, name: n("f") }, { parent: dirA, name: n("h") }], detached: false },
        dir(dirB, [{ parent: dirA, name: n("b") }], []),
      ],
      problems: [],
      prepared: [],
    },
    {
      shardId: 1,
      nodes: [
        dir(dirA, [{ parent: root, name: n("a") }], [
          { name: n("b"), inode: dirB, type: NodeType.DIRECTORY, remote: true },
          { name: n("g"), inode: fileG, type: NodeType.SYMLINK, remote: false },
          { name: n("h"), inode: fileF, type: NodeType.FILE, remote: true },
        ]),
        { inode: fileG, type: NodeType.SYMLINK, parents: [{ parent: dirA, name: n("g") }], detached: false },
        { inode: trashed, type: NodeType.FILE, parents: [], detached: true },
      ],
      problems: [],
      prepared: ["7:12#1"],
    },
  ];
}

function check(shards: ShardDump[]): FsckFindings {
  const dump: NamespaceDump = { slotOwners, shards };
  return checkNamespace(dump);
}

/** The clean namespace with `edit` applied to a copy of the nodes of `shardId`. */
function damaged(shardId: number, edit: (nodes: FsckNode[]) => FsckNode[]): ShardDump[] {
  return cleanShards().map((shard) => shard.shardId === shardId ? { ...shard, nodes: edit([...shard.nodes]) } : shard);
}

function replaceNode(nodes: FsckNode[], inode: number, change: (node: FsckNode) => FsckNode): FsckNode[] {
  assert.ok(nodes.some((node) => node.inode === inode), `inode ${inode} is in the dump`);
  return nodes.map((node) => node.inode === inode ? change(node) : node);
}

function assertFinds(findings: FsckFindings, pattern: RegExp): void {
  assert.ok(findings.problems.some((line) => pattern.test(line)), `expected ${pattern} in:\n${findings.problems.join("\n")}`);
}

test("a clean two-shard namespace with remote entries and a cross-shard hard link passes", () => {
  const findings = check(cleanShards());
  assert.deepEqual(findings.problems, []);
  assert.deepEqual(findings.pending, [{ shardId: 1, txid: "7:12#1" }]);
  assert.deepEqual(findings.shards, [
    { shardId: 0, nodes: 3, dirs: 2, files: 1, others: 0, detached: 0 },
    { shardId: 1, nodes: 3, dirs: 1, files: 1, others: 1, detached: 1 },
  ]);
});

test("an entry naming a node that exists nowhere is found, with the shard it should be on", () => {
  const findings = check(damaged(0, (nodes) => nodes.filter((node) => node.inode !== dirB)));
  assertFinds(findings, new RegExp(`^entry ${dirA}/"b" → inode ${dirB}: no such node \\(expected on shard 0\\)$`));
});

test("an entry whose type differs from its node's is found", () => {
  const findings = check(damaged(1, (nodes) => replaceNode(nodes, dirA, (node) => ({
    ...node, entries: node.entries!.map((entry) => entry.inode === fileG ? { ...entry, type: NodeType.FILE } : entry),
  }))));
  assert.deepEqual(findings.problems, [`entry ${dirA}/"g" → inode ${fileG}: entry says file, node is a symlink`]);
});

test("an entry whose node lacks the edge, and the link count that no longer matches, are found", () => {
  const findings = check(damaged(0, (nodes) => replaceNode(nodes, fileF, (node) => ({
    ...node, parents: node.parents.filter((edge) => edge.parent !== dirA),
  }))));
  assert.deepEqual([...findings.problems].sort(), [
    `entry ${dirA}/"h" → inode ${fileF}: the node has no parent edge for it`,
    `inode ${fileF}: 1 parent edges but 2 entries name it (link count)`,
  ]);
});

test("an edge without its entry is found", () => {
  const findings = check(damaged(1, (nodes) => replaceNode(nodes, dirA, (node) => ({
    ...node, entries: node.entries!.filter((entry) => entry.inode !== fileF),
  }))));
  assertFinds(findings, new RegExp(`^inode ${fileF}: parent edge ${dirA}/"h" has no entry in directory ${dirA}$`));
  assertFinds(findings, /2 parent edges but 1 entries name it/);
});

test("an orphan (attached, no edges) is found; a trashed node without edges is not", () => {
  const orphan = inodeOf(5, 3);
  const findings = check(damaged(1, (nodes) => [...nodes, { inode: orphan, type: NodeType.FILE, parents: [], detached: false }]));
  assert.deepEqual(findings.problems, [`inode ${orphan} (file): orphan, no entry names it`]);
});

test("a detached node that still has edges is found", () => {
  const findings = check(damaged(1, (nodes) => replaceNode(nodes, fileG, (node) => ({ ...node, detached: true }))));
  assert.deepEqual(findings.problems, [`inode ${fileG}: detached (trash or sustained) but has 1 parent edges`]);
});

test("a directory with two parents is found", () => {
  const shards = damaged(0, (nodes) => replaceNode(
    replaceNode(nodes, dirB, (node) => ({ ...node, parents: [...node.parents, { parent: root, name: n("b2") }] })),
    root,
    (node) => ({ ...node, entries: [...node.entries!, { name: n("b2"), inode: dirB, type: NodeType.DIRECTORY, remote: false }] }),
  ));
  const findings = check(shards);
  assert.deepEqual(findings.problems, [`directory ${dirB} has 2 parents (${dirA}/"b", 1/"b2")`]);
});

test("directories that are each other's parent form a cycle that does not reach the root", () => {
  const x = inodeOf(4, 1);
  const y = inodeOf(6, 1);
  const findings = check(damaged(0, (nodes) => [
    ...nodes,
    dir(x, [{ parent: y, name: n("x") }], [{ name: n("y"), inode: y, type: NodeType.DIRECTORY, remote: false }]),
    dir(y, [{ parent: x, name: n("y") }], [{ name: n("x"), inode: x, type: NodeType.DIRECTORY, remote: false }]),
  ]));
  assert.equal(findings.problems.length, 1, findings.problems.join("\n"));
  assertFinds(findings, new RegExp(`^directories form a cycle, not reaching the root: (${x} → ${y} → ${x}|${y} → ${x} → ${y})$`));
});

test("a node on a shard that does not own its slot, and an inode on two shards, are found", () => {
  const moved = cleanShards().map((shard) => {
    if (shard.shardId === 0) return { ...shard, nodes: shard.nodes.filter((node) => node.inode !== dirB) };
    return { ...shard, nodes: [...shard.nodes, dir(dirB, [{ parent: dirA, name: n("b") }], [])] };
  });
  const findings = check(moved);
  assertFinds(findings, new RegExp(`^inode ${dirB} on shard 1: its slot 2 belongs to shard 0$`));
  // dirA's entry says remote, but the node now sits on dirA's own shard.
  assertFinds(findings, new RegExp(`^entry ${dirA}/"b" → inode ${dirB}: marked remote but the node is on shard 1`));

  const twice = damaged(1, (nodes) => [...nodes, { inode: fileF, type: NodeType.FILE, parents: [], detached: true }]);
  assertFinds(check(twice), new RegExp(`^inode ${fileF}: on shard 0 and on shard 1$`));
});

test("a local entry naming a node of another shard is found (remote flag wrong)", () => {
  const findings = check(damaged(0, (nodes) => replaceNode(nodes, root, (node) => ({
    ...node, entries: node.entries!.map((entry) => entry.inode === dirA ? { ...entry, remote: false } : entry),
  }))));
  assert.deepEqual(findings.problems, [`entry 1/"a" → inode ${dirA}: marked local but the node is on shard 1 (directory on shard 0)`]);
});

test("the shards' own problems are reported under their shard; a missing root is found", () => {
  const shards = cleanShards().map((shard) => shard.shardId === 1 ? { ...shard, problems: ["chunk 5: refcount 2, 1 files"] } : shard);
  assert.deepEqual(check(shards).problems, ["shard 1: chunk 5: refcount 2, 1 files"]);
  const rootless = check(damaged(0, (nodes) => nodes.filter((node) => node.inode !== root)));
  assertFinds(rootless, /^root directory \(inode 1\) is missing$/);
  // dirA's edge now names a directory that does not exist.
  assertFinds(rootless, new RegExp(`^inode ${dirA}: parent edge 1/"a" names a directory that does not exist$`));
});

test("an entry with an invalid name or named twice in one directory is found", () => {
  const findings = check(damaged(0, (nodes) => replaceNode(nodes, root, (node) => ({
    ...node, entries: [...node.entries!, { name: n("a/b"), inode: dirB, type: NodeType.DIRECTORY, remote: false }, node.entries![1]!],
  }))));
  assertFinds(findings, /^entry 1\/"a\/b": invalid name$/);
  assertFinds(findings, /^entry 1\/"f": the name appears twice in directory 1$/);
});

test("two passes keep the problems both saw; a transaction prepared in both reads is stuck", () => {
  const first: FsckFindings = {
    shards: [], problems: ["persistent", "transient"],
    pending: [{ shardId: 0, txid: "a#1" }, { shardId: 1, txid: "b#1" }],
  };
  const second: FsckFindings = {
    shards: [{ shardId: 0, nodes: 1, dirs: 1, files: 0, others: 0, detached: 0 }],
    problems: ["persistent", "new"],
    pending: [{ shardId: 0, txid: "a#1" }, { shardId: 1, txid: "c#1" }],
  };
  const confirmed = confirmFindings(first, second, 3_000);
  assert.deepEqual(confirmed.problems, ["persistent", 'shard 0: transaction "a#1" still prepared after 3 s']);
  assert.deepEqual(confirmed.pending, [{ shardId: 1, txid: "c#1" }]);
  assert.deepEqual(confirmed.shards, second.shards);
});
