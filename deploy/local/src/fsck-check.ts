/**
 * The global namespace check of `antler fsck`, pure: the dumps of every shard in, the problems
 * out. Each shard checks itself (its `problems`); what only the whole cluster can see is checked
 * here, because an entry and the node it names may live on different shards (a remote entry):
 *
 * - every entry names an existing node, of the entry's type, that has the matching parent edge,
 *   and a remote entry is exactly one whose node lives on another shard;
 * - every edge of a node has its entry; a node's edge count equals the entries naming it (nlink);
 * - every non-root node that is not detached (trash, sustained) has an edge, a directory exactly
 *   one, the root none; detached nodes have none;
 * - every directory reaches the root by its parents (no cycles);
 * - every node lives on the shard that owns its slot, and on one shard only.
 *
 * A dump is read page by page while the cluster serves, so one pass can see an operation half
 * done (the node created on one shard, the entry not yet on the other). `confirmFindings` keeps
 * only what two passes a few seconds apart both found; a transaction still prepared in both is
 * stuck (its participants resolve any prepared transaction after limits.txResolveAfterMs).
 */
import { limits } from "@antler/base";
import { NodeType, nameToText, slotOfInode, type FsckNode, type Name } from "@antler/ops";

/** What one shard answered to its fsckdump pages, the pages concatenated. */
export interface ShardDump {
  readonly shardId: number;
  readonly nodes: readonly FsckNode[];
  readonly problems: readonly string[];
  readonly prepared: readonly string[];
}

export interface NamespaceDump {
  /** The shard map: slotOwners[slot] = the shard owning that slot. */
  readonly slotOwners: readonly number[];
  readonly shards: readonly ShardDump[];
}

export interface ShardCounts {
  readonly shardId: number;
  readonly nodes: number;
  readonly dirs: number;
  readonly files: number;
  /** Symlinks, devices, fifos, sockets. */
  readonly others: number;
  /** Nodes in the trash or sustained (open after their last unlink). */
  readonly detached: number;
}

export interface PendingTxn {
  readonly shardId: number;
  readonly txid: string;
}

export interface FsckFindings {
  readonly shards: readonly ShardCounts[];
  /** One line each, in a stable order for the same dump. */
  readonly problems: readonly string[];
  /** Transactions prepared and undecided when read (normal while operations run). */
  readonly pending: readonly PendingTxn[];
}

interface Located {
  readonly node: FsckNode;
  readonly shardId: number;
}

type Entry = NonNullable<FsckNode["entries"]>[number];

const typeNames: Readonly<Record<number, string>> = {
  [NodeType.FILE]: "file",
  [NodeType.DIRECTORY]: "directory",
  [NodeType.SYMLINK]: "symlink",
  [NodeType.FIFO]: "fifo",
  [NodeType.BLOCKDEV]: "block device",
  [NodeType.CHARDEV]: "char device",
  [NodeType.SOCKET]: "socket",
};

function typeName(type: number): string {
  return typeNames[type] ?? `type ${type}`;
}

/** parent/name for messages; names are byte strings, shown as quoted UTF-8. */
function place(parent: number, name: Name): string {
  return `${parent}/${JSON.stringify(nameToText(name))}`;
}

function isValidName(name: Name): boolean {
  return name.length > 0 && name.length <= limits.nameBytesMax && name !== "." && name !== ".." &&
    !name.includes("/") && !name.includes("\0");
}

export function checkNamespace(dump: NamespaceDump): FsckFindings {
  const problems: string[] = [];
  const report = (line: string): void => {
    problems.push(line);
  };
  const located = new Map<number, Located>();
  const counts: ShardCounts[] = [];
  const pending: PendingTxn[] = [];

  for (const shard of dump.shards) {
    for (const line of shard.problems) report(`shard ${shard.shardId}: ${line}`);
    for (const txid of shard.prepared) pending.push({ shardId: shard.shardId, txid });
    let dirs = 0;
    let files = 0;
    let others = 0;
    let detached = 0;
    for (const node of shard.nodes) {
      if (node.type === NodeType.DIRECTORY) dirs++;
      else if (node.type === NodeType.FILE) files++;
      else others++;
      if (node.detached) detached++;
      const earlier = located.get(node.inode);
      if (earlier !== undefined) {
        report(`inode ${node.inode}: on shard ${earlier.shardId} and on shard ${shard.shardId}`);
        continue;
      }
      located.set(node.inode, { node, shardId: shard.shardId });
      const slot = slotOfInode(node.inode);
      const owner = dump.slotOwners[slot];
      if (owner === undefined) {
        report(`inode ${node.inode} on shard ${shard.shardId}: slot ${slot} is not in the shard map`);
      } else if (owner !== shard.shardId) {
        report(`inode ${node.inode} on shard ${shard.shardId}: its slot ${slot} belongs to shard ${owner}`);
      }
    }
    counts.push({ shardId: shard.shardId, nodes: shard.nodes.length, dirs, files, others, detached });
  }

  const root = located.get(limits.rootInode);
  if (root === undefined) {
    report(`root directory (inode ${limits.rootInode}) is missing`);
  } else if (root.node.type !== NodeType.DIRECTORY) {
    report(`root inode ${limits.rootInode} is a ${typeName(root.node.type)}, not a directory`);
  }

  // Entries: each names an existing node of its type that has the matching edge.
  const entriesOf = new Map<number, Map<Name, Entry>>();
  const namingCount = new Map<number, number>();
  for (const { node: dir, shardId } of located.values()) {
    const entries = dir.entries ?? [];
    if (dir.type !== NodeType.DIRECTORY) {
      if (entries.length > 0) report(`inode ${dir.inode}: a ${typeName(dir.type)} with ${entries.length} entries`);
      continue;
    }
    const byName = new Map<Name, Entry>();
    entriesOf.set(dir.inode, byName);
    for (const entry of entries) {
      const where = place(dir.inode, entry.name);
      if (!isValidName(entry.name)) report(`entry ${where}: invalid name`);
      if (byName.has(entry.name)) {
        report(`entry ${where}: the name appears twice in directory ${dir.inode}`);
        continue;
      }
      byName.set(entry.name, entry);
      namingCount.set(entry.inode, (namingCount.get(entry.inode) ?? 0) + 1);
      const target = located.get(entry.inode);
      const owner = dump.slotOwners[slotOfInode(entry.inode)];
      if (target === undefined) {
        const expected = owner === undefined ? "its slot is not in the shard map" : `expected on shard ${owner}`;
        report(`entry ${where} → inode ${entry.inode}: no such node (${expected})`);
        continue;
      }
      if (target.node.type !== entry.type) {
        report(`entry ${where} → inode ${entry.inode}: entry says ${typeName(entry.type)}, node is a ${typeName(target.node.type)}`);
      }
      const isRemote = target.shardId !== shardId;
      if (entry.remote !== isRemote) {
        const says = entry.remote ? "remote" : "local";
        report(`entry ${where} → inode ${entry.inode}: marked ${says} but the node is on shard ${target.shardId} (directory on shard ${shardId})`);
      }
      const hasEdge = target.node.parents.some((edge) => edge.parent === dir.inode && edge.name === entry.name);
      if (!hasEdge) report(`entry ${where} → inode ${entry.inode}: the node has no parent edge for it`);
    }
  }

  // Edges: each has its entry; attachment rules per kind of node; nlink.
  for (const { node } of located.values()) {
    const edges = node.parents;
    const isRoot = node.inode === limits.rootInode;
    if (isRoot && edges.length > 0) report(`root directory has ${edges.length} parent edges`);
    if (node.detached && edges.length > 0) {
      report(`inode ${node.inode}: detached (trash or sustained) but has ${edges.length} parent edges`);
    }
    if (!isRoot && !node.detached && edges.length === 0) {
      report(`inode ${node.inode} (${typeName(node.type)}): orphan, no entry names it`);
    }
    if (node.type === NodeType.DIRECTORY && edges.length > 1) {
      report(`directory ${node.inode} has ${edges.length} parents (${edges.map((edge) => place(edge.parent, edge.name)).join(", ")})`);
    }
    const seen = new Set<string>();
    for (const edge of edges) {
      const where = place(edge.parent, edge.name);
      const key = `${edge.parent}/${edge.name}`;
      if (seen.has(key)) {
        report(`inode ${node.inode}: parent edge ${where} appears twice`);
        continue;
      }
      seen.add(key);
      const parent = located.get(edge.parent);
      if (parent === undefined) {
        report(`inode ${node.inode}: parent edge ${where} names a directory that does not exist`);
        continue;
      }
      if (parent.node.type !== NodeType.DIRECTORY) {
        report(`inode ${node.inode}: parent edge ${where} names a ${typeName(parent.node.type)}`);
        continue;
      }
      const entry = entriesOf.get(edge.parent)?.get(edge.name);
      if (entry === undefined) {
        report(`inode ${node.inode}: parent edge ${where} has no entry in directory ${edge.parent}`);
      } else if (entry.inode !== node.inode) {
        report(`inode ${node.inode}: parent edge ${where}, but that entry names inode ${entry.inode}`);
      }
    }
    const named = namingCount.get(node.inode) ?? 0;
    if (seen.size !== named) {
      report(`inode ${node.inode}: ${seen.size} parent edges but ${named} entries name it (link count)`);
    }
  }

  findCycles(located, report);
  return { shards: counts, problems, pending };
}

/**
 * Every directory that is attached must reach the root by following its parent. Each walk stops
 * at a directory already decided, so the whole check is linear in the number of directories.
 * Chains that end elsewhere (a missing parent, an orphan) were reported above; cycles are
 * reported here, once each.
 */
function findCycles(located: ReadonlyMap<number, Located>, report: (line: string) => void): void {
  const decided = new Map<number, "reaches" | "cut" | "walking">();
  decided.set(limits.rootInode, "reaches");
  const parentOf = (inode: number): number | undefined => {
    const parent = located.get(inode)?.node.parents[0]?.parent;
    if (parent === undefined) return undefined;
    return located.get(parent)?.node.type === NodeType.DIRECTORY ? parent : undefined;
  };
  for (const { node } of located.values()) {
    if (node.type !== NodeType.DIRECTORY || node.detached || decided.has(node.inode)) continue;
    const path: number[] = [];
    let current: number | undefined = node.inode;
    let outcome: "reaches" | "cut" = "cut";
    while (current !== undefined) {
      const known = decided.get(current);
      if (known === "reaches" || known === "cut") {
        outcome = known;
        break;
      }
      if (known === "walking") {
        const cycle = path.slice(path.indexOf(current));
        const shown = cycle.slice(0, 8).join(" → ") + (cycle.length > 8 ? ` … (${cycle.length} directories)` : "");
        report(`directories form a cycle, not reaching the root: ${shown} → ${current}`);
        break;
      }
      decided.set(current, "walking");
      path.push(current);
      current = parentOf(current);
    }
    for (const inode of path) decided.set(inode, outcome);
  }
}

/**
 * What two passes agree on: problems found by both (a problem seen once was an operation in
 * flight), plus every transaction that stayed prepared on the same shard from the first read to
 * the second, which is `delayMs` later.
 */
export function confirmFindings(first: FsckFindings, second: FsckFindings, delayMs: number): FsckFindings {
  const before = new Set(first.problems);
  const problems = second.problems.filter((line) => before.has(line));
  const earlier = new Set(first.pending.map((txn) => `${txn.shardId}\0${txn.txid}`));
  const pending: PendingTxn[] = [];
  for (const txn of second.pending) {
    if (earlier.has(`${txn.shardId}\0${txn.txid}`)) {
      problems.push(`shard ${txn.shardId}: transaction ${JSON.stringify(txn.txid)} still prepared after ${delayMs / 1000} s`);
    } else {
      pending.push(txn);
    }
  }
  return { shards: second.shards, problems, pending };
}
