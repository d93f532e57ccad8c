/**
 * What execute() decides before a command reaches its handler in a sharded namespace:
 * - MOVED: the command's routing slot (@antler/ops routeOf) belongs to another shard (the router's
 *   shard map was stale); the router looks the slot up again and re-sends. Commands for every
 *   shard ("all") are never MOVED, and neither is a command because of its session root: the
 *   gateway sends the session root's real inode, and a root on another shard is only a problem
 *   for findNode (which copes, namespace/nodes.ts).
 * - TXLOCKED: a mutating command names an inode a prepared transaction holds (txn/): the shard
 *   server re-executes it shortly (limits.txLockedRetryMs).
 */
import { limits } from "@antler/base";
import { routeOf, slotOfInode, type Command } from "@antler/ops";
import { owns } from "./alloc.ts";
import type { State } from "./state.ts";

/** The slot a command is routed by; null for commands every shard gets. */
export function routingSlot(cmd: Command): number | null {
  const route = routeOf(cmd);
  if (route === "all") return null;
  return "slot" in route ? route.slot : slotOfInode(route.inode);
}

/**
 * Whether the command should have gone to another shard. A slot outside the slot space (an inode
 * number no shard could own) is not MOVED: no shard map names it, so the handler answers (ENOENT).
 */
export function isMoved(st: State, cmd: Command): boolean {
  const slot = routingSlot(cmd);
  return slot !== null && slot < limits.slotCount && !owns(st, slot);
}

/** The inode the entry `parent`/`name` names here (local or remote), if any. */
function entryInode(st: State, parent: number, name: string): number | undefined {
  return st.nodes.get(parent)?.dir?.entries.get(name)?.inode;
}

/**
 * The inodes a mutating command touches, for the transaction locks: the inodes it names
 * (inode, parent, parentSrc, parentDst) and, for unlink/rmdir/rename, the nodes the names it
 * removes or replaces name now.
 */
export function touchedInodes(st: State, cmd: Command): number[] {
  const touched: number[] = [];
  const fields = cmd as Partial<Record<"inode" | "parent" | "parentSrc" | "parentDst", unknown>>;
  for (const value of [fields.inode, fields.parent, fields.parentSrc, fields.parentDst]) {
    if (typeof value === "number") touched.push(value);
  }
  const named = (parent: number, name: string): void => {
    const inode = entryInode(st, parent, name);
    if (inode !== undefined) touched.push(inode);
  };
  if (cmd.kind === "unlink" || cmd.kind === "rmdir") named(cmd.parent, cmd.name);
  if (cmd.kind === "rename") {
    named(cmd.parentSrc, cmd.nameSrc);
    named(cmd.parentDst, cmd.nameDst);
  }
  return touched;
}
