/**
 * Operations that span shards (ARCHITECTURE §5): the vocabulary between the coordinating router
 * and the shards, and the durable decision record.
 *
 * Where data lives once the namespace is sharded:
 * - a node (inode, attributes, its parent edges, a directory's own entries) lives on the shard
 *   owning the inode's slot;
 * - a directory entry lives with its parent directory, and may name an inode of another shard
 *   (a "remote entry": the parent's shard keeps the name, the inode and its type).
 * So an operation touches more than one shard when the new node's slot is elsewhere (mkdir, a
 * spilled create), or an entry and the node it names are on different shards (unlink/rmdir of a
 * remote entry, link, rename), or a directory moves to a new parent in a sharded cluster (the
 * coordinator serializes those and checks ancestry, so no cycle can form).
 *
 * Life of such an operation:
 *   1. The client's request reaches the shard owning its routing inode, as any request. That
 *      shard answers it alone when it can; otherwise its core says `forward` and the shard server
 *      passes the unchanged request (same reply inbox, headers, request id) to `coordinatorSubject`.
 *   2. The coordinator (the router holding the coordinator lease) reads the facts it needs
 *      (`txinspect`), plans the parts per shard and sends `txprepare` to every participant:
 *      each validates its parts against its state (POSIX rules, permissions), LOGS the prepared
 *      transaction with its locks (the inodes it touches) and answers its outputs.
 *   3. All prepared: the coordinator writes the decision "commit" to the decision bucket with
 *      create-only semantics (`txDecisionKey`). Whoever creates the key first decides: a
 *      participant that waited too long for a decision writes "abort" the same way, and the
 *      coordinator's "commit" then fails, so the two can never disagree.
 *   4. `txcommit` to every participant (the one creating a node first, so an entry never names a
 *      node that does not exist yet; removals in the other order); each logs the commit and
 *      applies its parts. The client's answer is composed from the commit outputs.
 *   5. Once every participant acknowledged, the decision key is deleted.
 * Stale facts: a fact read while a decided transaction is still being committed elsewhere answers
 * TXLOCKED (txinspect of an inode reserved by a prepared node-new; an ancestry walk through a
 * directory held by a prepared transaction) and the coordinator plans again. txprepare is
 * idempotent by txid AND equal parts: the same txid with other parts is TXLOCKED. Directory moves
 * also hold a compare-and-set `movelock` record in the decision bucket (ADR 0008).
 * A participant holding a prepared transaction older than limits.txResolveAfterMs resolves it
 * itself from the decision bucket (commit / abort; absent → it writes "abort"). A retry of the
 * client's request (same request id) after the coordinator died finds, on the shard, the request
 * remembered as "decided by a transaction" and is forwarded to the coordinator again, which finds
 * the decision and composes the answer from the participants' current state.
 */
import type { Attr } from "./attr.ts";
import type { Acl, CommandOf } from "./command.ts";
import type { Name } from "./names.ts";

/** Requests the coordinator handles; only the coordinator lease holder subscribes. */
export const coordinatorSubject = "antler.coord";
/** The coordinator lease, in the lease bucket next to the shards' leases. */
export const coordinatorLeaseKey = "coordinator";
/** KV bucket of transaction decisions (replicated like the lease bucket). */
export const txnBucket = "antler-txn";

/** NATS KV keys allow [-/_=.a-zA-Z0-9]; anything else in a txid is escaped as _XX (hex). */
export function txDecisionKey(txid: string): string {
  let key = "tx.";
  for (const ch of txid) {
    key += /[-_=a-zA-Z0-9]/.test(ch) ? ch : `_${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
  }
  return key;
}

/**
 * The id of attempt `attempt` (1, 2, …) of the client request `requestId`: deterministic, so a
 * retried request finds the decision of its earlier attempts.
 */
export function txidOf(requestId: string, attempt: number): string {
  return `${requestId}#${attempt}`;
}

/** The client commands a coordinator can carry out across shards. */
export type CoordinatedKind = "mkdir" | "mknod" | "create" | "symlink" | "unlink" | "rmdir" | "rename" | "link";
export type NewNodeCommand = CommandOf<"mkdir" | "mknod" | "create" | "symlink">;

/** Everything a new node is made of, decided by the shard of its parent (inheritance). */
export interface NewNodeSpec {
  readonly kind: "mkdir" | "mknod" | "create" | "symlink";
  readonly type: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly target: Name;
  readonly goal: number;
  readonly trashtime: number;
  readonly eattr: number;
  readonly aclAccess: Acl | null;
  readonly aclDefault: Acl | null;
}

/**
 * One primitive of a transaction, carried out by the shard that owns what it names. A shard's
 * parts are applied in order, in one log entry, at commit. "entry-*" parts run on the shard of
 * `parent`; "node-*" and "edge-*" parts on the shard of `inode` (or of `slot`).
 */
export type TxPart =
  /** Validate `cmd` as that command would be (parent exists, permissions, name free); reserve the name. Output: spec. */
  | { readonly op: "entry-new"; readonly cmd: NewNodeCommand }
  /** Allocate an inode in `slot` (or another owned slot with room) for `spec`; at commit create it under parent/name. Output: inode. */
  | { readonly op: "node-new"; readonly spec: NewNodeSpec; readonly slot: number; readonly parent: number; readonly name: Name }
  /**
   * Remove parent/name, which must name `inode`. `kind` selects the checks (unlink/rmdir/rename:
   * write+search on parent, read-only session, immutable parent); `nodeUid` is the named node's
   * owner for the sticky-bit rule.
   */
  | { readonly op: "entry-remove"; readonly parent: number; readonly name: Name; readonly inode: number; readonly kind: "unlink" | "rmdir" | "rename"; readonly nodeUid: number }
  /**
   * Add parent/name → inode (of `type`). `replace` = the inode the name must name now and that
   * the new entry replaces (rename over an existing target; its owner `replaceUid` for the sticky
   * rule), or null when the name must be free.
   */
  | {
      readonly op: "entry-add";
      readonly parent: number;
      readonly name: Name;
      readonly inode: number;
      readonly type: number;
      readonly kind: "link" | "rename";
      readonly replace: number | null;
      readonly replaceUid: number;
    }
  /** link: one more edge parent/name on `inode` (not a directory; not immutable). Output: attr. */
  | { readonly op: "edge-add"; readonly inode: number; readonly parent: number; readonly name: Name }
  /**
   * The edge parent/name of `inode` goes away: unlink (not a directory), rmdir (a directory, empty),
   * replaced (the target of a rename; a directory must be empty). The node is then disposed of as
   * an unlink would (trash, sustained, freed, or kept while other edges remain). `ownerUid`: the
   * node's owner as the entry's shard judged the sticky-bit rule by it (`nodeUid` / `replaceUid`);
   * a node whose owner changed since is stale facts (TXLOCKED: planned again). Absent in parts
   * prepared before it existed.
   */
  | {
      readonly op: "edge-remove";
      readonly inode: number;
      readonly parent: number;
      readonly name: Name;
      readonly kind: "unlink" | "rmdir" | "replaced";
      readonly ownerUid?: number;
    }
  /** rename: the edge from.parent/from.name of `inode` becomes to.parent/to.name (`ownerUid` as in edge-remove). Output: attr. */
  | {
      readonly op: "edge-move";
      readonly inode: number;
      readonly from: { readonly parent: number; readonly name: Name };
      readonly to: { readonly parent: number; readonly name: Name };
      readonly ownerUid?: number;
    };

/** What a prepared or committed part answers, in the order of the parts. */
export type TxPartOutput =
  | { readonly op: "entry-new"; readonly spec: NewNodeSpec }
  | { readonly op: "node-new"; readonly inode: number; readonly attr?: Attr; readonly oflags?: number }
  | { readonly op: "edge-add" | "edge-move"; readonly attr?: Attr }
  | { readonly op: "entry-remove" | "entry-add" | "edge-remove" };

/** The facts the coordinator plans with (txinspect). */
export interface NodeFacts {
  readonly inode: number;
  readonly type: number;
  readonly uid: number;
  readonly gid: number;
  /** Permission bits as stored (sticky bit 0o1000 included). */
  readonly mode: number;
  readonly eattr: number;
  /** Directory entries naming this node (a directory has one; the root none). */
  readonly parents: readonly { readonly parent: number; readonly name: Name }[];
  /** Directories: number of entries (0 = empty). */
  readonly entryCount: number;
  /** Whether a prepared transaction holds this node now. */
  readonly locked: boolean;
}

/** The durable decision (JSON in the decision bucket under txDecisionKey(txid)). */
export interface TxDecision {
  readonly decision: "commit" | "abort";
  readonly txid: string;
  /** Shard ids taking part, in commit order. */
  readonly participants: readonly number[];
  /** The inode a node-new part allocated (entry-new parts need it at commit). */
  readonly newInode?: number;
  /**
   * The node the client's answer names (the removed, moved or linked one), so a coordinator
   * finishing the decision later can answer a retried request. Only informative for participants.
   */
  readonly answerInode?: number;
  /** Who wrote it: "coordinator" or "shard.<id>" (a participant resolving it). */
  readonly by: string;
}

/** One page of a shard's namespace for `antler fsck`. */
export interface FsckNode {
  readonly inode: number;
  readonly type: number;
  /** Entries naming this node (remote parents included). */
  readonly parents: readonly { readonly parent: number; readonly name: Name }[];
  /** In the trash or sustained (no entries expected). */
  readonly detached: boolean;
  /** Directories: their entries (`remote`: the inode lives on another shard). */
  readonly entries?: readonly { readonly name: Name; readonly inode: number; readonly type: number; readonly remote: boolean }[];
}
