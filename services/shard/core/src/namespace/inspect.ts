/**
 * TXINSPECT: the facts the coordinator plans a cross-shard operation with (@antler/ops txn.ts
 * NodeFacts). Raw state, not filtered by the caller's session: the coordinator (and each
 * participant's txprepare) applies the session's rules itself.
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
  if (node === undefined) return { status: Status.OK, node: null };
  const facts = nodeFactsOf(p.st, node);
  if (cmd.name === undefined || node.dir === null) return { status: Status.OK, node: facts };
  const entry = node.dir.entries.get(cmd.name);
  return {
    status: Status.OK,
    node: facts,
    entry: entry === undefined ? null : { inode: entry.inode, type: entryType(p.st, entry) },
  };
}
