/**
 * Planning one attempt of a coordinated request: reading the facts (txinspect), making the checks
 * no single participant can make (mfsmaster makes them on its one namespace), and splitting the
 * work into TxParts per shard (@antler/ops txn.ts, "Cases").
 *
 * A plan is one of:
 * - an answer without any transaction (a failure found in the facts; a rename onto another link of
 *   the same node, which POSIX says changes nothing);
 * - "direct": every part would be on one shard and no ancestry check is needed, so that shard can
 *   carry out the request alone (the shard forwarded it with an older view of the shard map);
 * - "new-node": mkdir and spilled creates, prepared in two steps because the new node's shard
 *   needs what the parent's shard decides (NewNodeSpec);
 * - "parts": every other case, all participants prepared at once.
 */
import { limits } from "@antler/base";
import {
  NodeType,
  slotOfInode,
  Status,
  type Command,
  type CommandOf,
  type Ctx,
  type Failure,
  type Name,
  type NewNodeCommand,
  type NodeFacts,
  type Result,
  type TxPart,
} from "@antler/ops";
import type { CoordinatorPorts } from "./ports.ts";

/** One shard taking part: the slot tx commands are routed by and its parts, in order. */
export interface Participant {
  readonly shard: number;
  readonly slot: number;
  readonly parts: readonly TxPart[];
}

/** Which node the client's answer names once the parts are committed. */
export type AnswerSpec =
  | { readonly kind: "removed"; readonly inode: number }
  | { readonly kind: "node"; readonly inode: number };

export type Plan =
  | { readonly kind: "answer"; readonly result: Result }
  | { readonly kind: "direct" }
  | {
      readonly kind: "new-node";
      readonly cmd: NewNodeCommand;
      /** The parent's shard (entry-new). */
      readonly entry: { readonly shard: number; readonly slot: number };
      /** The new node's shard and the slot it should get. */
      readonly node: { readonly shard: number; readonly slot: number };
    }
  | {
      /**
       * rename onto another name of the same node: nothing changes (POSIX), but the two names
       * were read from two shards at two moments. The source's shard prepares `source` (which
       * checks, and locks, that the source still names `inode`), the target is read again
       * meanwhile, and the transaction is aborted: both named one node at that moment.
       */
      readonly kind: "same-node";
      readonly source: Participant;
      readonly target: { readonly parent: number; readonly name: Name };
      readonly inode: number;
    }
  | {
      readonly kind: "parts";
      /** In commit order. */
      readonly participants: readonly Participant[];
      /** Shards in the order mfsmaster makes their checks: the first failing one is the answer. */
      readonly checkOrder: readonly number[];
      readonly answer: AnswerSpec;
    };

/** How a planner reads facts: txinspect through the ports with the attempt's ctx. */
export interface PlanContext {
  readonly ports: CoordinatorPorts;
  /** The client's ctx with the attempt's request id. */
  readonly ctx: Ctx;
  /** Whether "direct" is allowed (not for a request that is itself a direct execution of ours). */
  readonly directAllowed: boolean;
}

type Inspection = { readonly node: NodeFacts | null; readonly entry: { readonly inode: number; readonly type: number } | null };

const failure = (status: Failure["status"]): Plan => ({ kind: "answer", result: { status } });

/** The facts of `inode` (and its entry `name`), or the status the shard answered. */
export async function inspect(pc: PlanContext, inode: number, name?: Name, ctx: Ctx = pc.ctx): Promise<Inspection | Failure> {
  const cmd: Command = name === undefined ? { kind: "txinspect", inode } : { kind: "txinspect", inode, name };
  const result = await pc.ports.call(cmd, ctx);
  if (result.status !== Status.OK) return { status: result.status };
  const facts = result as Extract<Result, { status: 0; node: NodeFacts | null }>;
  return { node: facts.node ?? null, entry: facts.entry ?? null };
}

const isFailure = (value: Inspection | Failure): value is Failure => "status" in value;

/** The shard-side view of a set of parts, grouped per shard in the order they were added. */
class PartsBuilder {
  readonly #byShard = new Map<number, { slot: number; parts: TxPart[] }>();

  add(ports: CoordinatorPorts, slot: number, part: TxPart): number {
    const shard = ports.shardOfSlot(slot);
    const known = this.#byShard.get(shard);
    if (known === undefined) this.#byShard.set(shard, { slot, parts: [part] });
    else known.parts.push(part);
    return shard;
  }

  get shardCount(): number {
    return this.#byShard.size;
  }

  /** Participants in `order` (duplicates and shards without parts skipped). */
  participants(order: readonly number[]): Participant[] {
    const out: Participant[] = [];
    for (const shard of order) {
      const entry = this.#byShard.get(shard);
      if (entry === undefined || out.some((p) => p.shard === shard)) continue;
      out.push({ shard, slot: entry.slot, parts: entry.parts });
    }
    return out;
  }
}

const unique = (shards: readonly number[]): number[] => [...new Set(shards)];

export function planNewNode(pc: PlanContext, cmd: NewNodeCommand): Plan {
  const { ports } = pc;
  const entrySlot = slotOfInode(cmd.parent);
  const entryShard = ports.shardOfSlot(entrySlot);
  let nodeSlot = ports.slotOfNewDirectory(cmd.parent, cmd.name);
  if (cmd.kind !== "mkdir") {
    // A spilled file: the parent's shard has no room in any of its slots, so the file goes to
    // another shard, spread by the same hash as directories.
    for (let i = 0; i < limits.slotCount && ports.shardOfSlot(nodeSlot) === entryShard; i++) nodeSlot = (nodeSlot + 1) % limits.slotCount;
  }
  const nodeShard = ports.shardOfSlot(nodeSlot);
  if (nodeShard === entryShard) return pc.directAllowed ? { kind: "direct" } : failure(Status.EAGAIN);
  return { kind: "new-node", cmd, entry: { shard: entryShard, slot: entrySlot }, node: { shard: nodeShard, slot: nodeSlot } };
}

export async function planRemove(pc: PlanContext, cmd: CommandOf<"unlink" | "rmdir">): Promise<Plan> {
  const { ports } = pc;
  const parent = await inspect(pc, cmd.parent, cmd.name);
  if (isFailure(parent)) return failure(parent.status);
  if (parent.node === null) return failure(Status.ENOENT);
  if (parent.node.type !== NodeType.DIRECTORY) return failure(Status.ENOTDIR);
  if (parent.entry === null) return failure(Status.ENOENT);
  const inode = parent.entry.inode;
  const parts = new PartsBuilder();
  const entryShard = ports.shardOfSlot(slotOfInode(cmd.parent));
  const nodeShard = ports.shardOfSlot(slotOfInode(inode));
  if (entryShard === nodeShard) return pc.directAllowed ? { kind: "direct" } : failure(Status.EAGAIN);
  const node = await inspect(pc, inode);
  if (isFailure(node)) return failure(node.status);
  // An entry naming a node that does not exist is damage (fsck reports it); for the client the
  // name is as good as gone.
  if (node.node === null) return failure(Status.ENOENT);
  parts.add(ports, slotOfInode(cmd.parent), { op: "entry-remove", parent: cmd.parent, name: cmd.name, inode, kind: cmd.kind, nodeUid: node.node.uid });
  parts.add(ports, slotOfInode(inode), { op: "edge-remove", inode, parent: cmd.parent, name: cmd.name, kind: cmd.kind, ownerUid: node.node.uid });
  // Removals: the entry goes first, so no entry ever names a node that is already gone.
  const order = [entryShard, nodeShard];
  return { kind: "parts", participants: parts.participants(order), checkOrder: order, answer: { kind: "removed", inode } };
}

export async function planLink(pc: PlanContext, cmd: CommandOf<"link">): Promise<Plan> {
  const { ports } = pc;
  const nodeShard = ports.shardOfSlot(slotOfInode(cmd.inode));
  const entryShard = ports.shardOfSlot(slotOfInode(cmd.parentDst));
  if (nodeShard === entryShard) return pc.directAllowed ? { kind: "direct" } : failure(Status.EAGAIN);
  const node = await inspect(pc, cmd.inode);
  if (isFailure(node)) return failure(node.status);
  if (node.node === null) return failure(Status.ENOENT);
  const parts = new PartsBuilder();
  parts.add(ports, slotOfInode(cmd.parentDst), {
    op: "entry-add", parent: cmd.parentDst, name: cmd.nameDst, inode: cmd.inode, type: node.node.type, kind: "link", replace: null, replaceUid: 0,
  });
  parts.add(ports, slotOfInode(cmd.inode), { op: "edge-add", inode: cmd.inode, parent: cmd.parentDst, name: cmd.nameDst });
  // The node learns its new edge before the entry names it (as a new node exists before its
  // entry); mfsmaster checks the node before the target directory.
  const order = [nodeShard, entryShard];
  return { kind: "parts", participants: parts.participants(order), checkOrder: order, answer: { kind: "node", inode: cmd.inode } };
}

/** The system's view for walking ancestors: from the real root, whatever the client's mount. */
function ancestryCtx(ctx: Ctx): Ctx {
  return { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: limits.rootInode, ...(ctx.requestId !== undefined ? { requestId: ctx.requestId } : {}) };
}

/**
 * Whether `dir` is `start` or one of its ancestors, walking parent edges up from `start` (whose
 * facts are known) to the root, at most `depthMax` steps. A failure status when the walk cannot
 * finish (a vanished ancestor, a path deeper than allowed, a shard's refusal).
 *
 * A directory a prepared transaction holds may be moving: its parent edge (on its own shard) is
 * the old one until that shard commits, although the move may already be decided and its new
 * entry committed on another shard (participants commit one after the other; a resolver finishes
 * a dead coordinator's commit much later). Walking past it would check the ancestry the
 * directory is leaving, so two moves could form a cycle: TXLOCKED, the attempt is planned again.
 */
async function isAncestorOrSelf(pc: PlanContext, dir: number, start: NodeFacts, depthMax: number): Promise<boolean | Failure> {
  let facts = start;
  for (let steps = 0; ; steps++) {
    if (facts.inode === dir) return true;
    if (facts.locked && facts.inode !== limits.rootInode) return { status: Status.TXLOCKED };
    const up = facts.parents[0];
    if (facts.inode === limits.rootInode || up === undefined) return false;
    if (up.parent === dir) return true;
    // The root is nobody's descendant and never moves: no need to look at it.
    if (up.parent === limits.rootInode) return false;
    if (steps >= depthMax) return { status: Status.EINVAL };
    const next = await inspect(pc, up.parent, undefined, ancestryCtx(pc.ctx));
    if (isFailure(next)) return next;
    // An ancestor removed meanwhile: the destination is (being) detached from the tree.
    if (next.node === null) return { status: Status.ENOENT };
    facts = next.node;
  }
}

/** Whether a rename moves a directory to another parent (those are serialized and ancestry-checked). */
export async function isDirectoryMove(pc: PlanContext, cmd: CommandOf<"rename">): Promise<boolean> {
  if (cmd.parentSrc === cmd.parentDst) return false;
  const source = await inspect(pc, cmd.parentSrc, cmd.nameSrc);
  return !isFailure(source) && source.entry !== null && source.entry.type === NodeType.DIRECTORY;
}

export async function planRename(pc: PlanContext, cmd: CommandOf<"rename">, depthMax: number): Promise<Plan> {
  const { ports } = pc;
  const [source, target] = await Promise.all([inspect(pc, cmd.parentSrc, cmd.nameSrc), inspect(pc, cmd.parentDst, cmd.nameDst)]);
  if (isFailure(source)) return failure(source.status);
  if (isFailure(target)) return failure(target.status);
  if (source.node === null || target.node === null) return failure(Status.ENOENT);
  if (source.node.type !== NodeType.DIRECTORY || target.node.type !== NodeType.DIRECTORY) return failure(Status.ENOTDIR);
  if (source.entry === null) return failure(Status.ENOENT);
  const inode = source.entry.inode;
  const replaced = target.entry;
  const moved = await inspect(pc, inode);
  if (isFailure(moved)) return failure(moved.status);
  if (moved.node === null) return failure(Status.ENOENT);
  if (replaced !== null && replaced.inode === inode) {
    // Never "direct": the source's shard forwards this very rename when the node is remote.
    const slot = slotOfInode(cmd.parentSrc);
    const part: TxPart = { op: "entry-remove", parent: cmd.parentSrc, name: cmd.nameSrc, inode, kind: "rename", nodeUid: moved.node.uid };
    return { kind: "same-node", source: { shard: ports.shardOfSlot(slot), slot, parts: [part] }, target: { parent: cmd.parentDst, name: cmd.nameDst }, inode };
  }
  let replacedFacts: NodeFacts | null = null;
  if (replaced !== null) {
    const facts = await inspect(pc, replaced.inode);
    if (isFailure(facts)) return failure(facts.status);
    replacedFacts = facts.node;
    // Like mfsmaster (and the single-shard rename), the types of source and target are not
    // compared (the kernel already did: MooseFS has no EISDIR); only a non-empty directory is
    // never replaced.
    if (replacedFacts !== null && replacedFacts.type === NodeType.DIRECTORY && replacedFacts.entryCount > 0) return failure(Status.ENOTEMPTY);
  }
  const directoryMove = moved.node.type === NodeType.DIRECTORY && cmd.parentSrc !== cmd.parentDst;
  if (directoryMove) {
    const cycle = await isAncestorOrSelf(pc, inode, target.node, depthMax);
    if (cycle === true) return failure(Status.EINVAL);
    if (cycle !== false) return failure(cycle.status);
  }
  const parts = new PartsBuilder();
  const sourceShard = parts.add(ports, slotOfInode(cmd.parentSrc), {
    op: "entry-remove", parent: cmd.parentSrc, name: cmd.nameSrc, inode, kind: "rename", nodeUid: moved.node.uid,
  });
  const targetShard = parts.add(ports, slotOfInode(cmd.parentDst), {
    op: "entry-add",
    parent: cmd.parentDst,
    name: cmd.nameDst,
    inode,
    type: moved.node.type,
    kind: "rename",
    replace: replaced === null ? null : replaced.inode,
    replaceUid: replacedFacts === null ? 0 : replacedFacts.uid,
  });
  const nodeShard = parts.add(ports, slotOfInode(inode), {
    op: "edge-move", inode, from: { parent: cmd.parentSrc, name: cmd.nameSrc }, to: { parent: cmd.parentDst, name: cmd.nameDst }, ownerUid: moved.node.uid,
  });
  // A target entry naming a node that does not exist (damage fsck reports) is just replaced.
  const replacedShard =
    replaced === null || replacedFacts === null
      ? null
      : parts.add(ports, slotOfInode(replaced.inode), {
          op: "edge-remove", inode: replaced.inode, parent: cmd.parentDst, name: cmd.nameDst, kind: "replaced", ownerUid: replacedFacts.uid,
        });
  if (parts.shardCount === 1 && !directoryMove) return pc.directAllowed ? { kind: "direct" } : failure(Status.EAGAIN);
  // Entries change first (the new name appears, the old one goes), then the nodes follow: the
  // moved node's edge and the replaced node's disposal. mfsmaster checks in the same order.
  const order = unique([sourceShard, targetShard, nodeShard, ...(replacedShard === null ? [] : [replacedShard])]);
  return { kind: "parts", participants: parts.participants(order), checkOrder: order, answer: { kind: "node", inode } };
}

/** The inodes `part` touches: what its participant locks while the transaction is prepared. */
export function touchedInodes(part: TxPart): number[] {
  switch (part.op) {
    case "entry-new":
      return [part.cmd.parent];
    case "node-new":
      return [part.parent];
    case "entry-remove":
      return [part.parent, part.inode];
    case "entry-add":
      return part.replace === null ? [part.parent, part.inode] : [part.parent, part.inode, part.replace];
    case "edge-add":
    case "edge-remove":
      return [part.inode, part.parent];
    case "edge-move":
      return [part.inode, part.from.parent, part.to.parent];
  }
}
