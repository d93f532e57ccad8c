/**
 * TXINSPECT: the facts the coordinator plans a cross-shard operation with (@antler/ops txn.ts
 * NodeFacts). Raw state, not filtered by the caller's session: the coordinator (and each
 * participant's txprepare) applies the session's rules itself.
 *
 * An inode that does not exist but is reserved by a prepared transaction (its node-new part) is a
 * node being created: its entry may already be committed on the parent's shard (that shard's
 * resolver does not wait for this one), so an entry can name it before it exists. Answering "no
 * such node" would make the coordinator treat the entry as damage (and, say, replace it without
 * removing the node's edge, leaving the new directory an orphan): TXLOCKED instead, so the
 * coordinator plans again once the transaction is decided here.
 */
import { Status, type CommandOf, type NodeFacts, type Result } from "@antler/ops";
import type { Node, State } from "../state.ts";
import { lockingTx } from "../txn/index.ts";
import type { Planning } from "./context.ts";
import { entryType } from "./nodes.ts";

export function nodeFactsOf(st: State, node: Node): NodeFacts {
  return {
    inode: node.inode,
    type: node.type,
    uid: node.uid,
    gid: node.gid,
    mode: node.mode & 0o7777,
    eattr: node.eattr,
    parents: node.parents.map((e) => ({ parent: e.parent, name: e.name })),
    entryCount: node.dir?.entries.size ?? 0,
    locked: lockingTx(st, [node.inode]) !== null,
  };
}

export function readTxinspect(p: Planning, cmd: CommandOf<"txinspect">): Result {
  const node = p.st.nodes.get(cmd.inode);
  if (node === undefined) return lockingTx(p.st, [cmd.inode]) === null ? { status: Status.OK, node: null } : { status: Status.TXLOCKED };
  const facts = nodeFactsOf(p.st, node);
  if (cmd.name === undefined || node.dir === null) return { status: Status.OK, node: facts };
  const entry = node.dir.entries.get(cmd.name);
  return {
    status: Status.OK,
    node: facts,
    entry: entry === undefined ? null : { inode: entry.inode, type: entryType(p.st, entry) },
  };
}
