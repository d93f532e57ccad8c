/**
 * The primitive changes of the namespace, shared by create, remove, rename and link: adding and
 * removing one directory entry (fsnodes_link / fsnodes_remove_edge) with their effects on nlink,
 * recursive stats and times, and disposing of a node whose last entry went away
 * (fsnodes_unlink): files go to the trash when their trashtime is positive, to "sustained" while
 * some session still holds them open, and are freed otherwise; other nodes are freed.
 */
import { NodeType, type Name } from "@antler/ops";
import { mismatch } from "../errors.ts";
import type { Stamp } from "../hlc.ts";
import type { Disposal } from "../log-entry.ts";
import { deleteNode, isOpen, tombstoneKey, touch, type Node, type State } from "../state.ts";
import { propagateStats, statsOf } from "../stats.ts";
import { pathOf } from "./nodes.ts";

export function addEntry(st: State, parent: Node, child: Node, name: Name, ts: number, stamp: Stamp): void {
  const dir = parent.dir;
  mismatch(dir !== null, `inode ${parent.inode} is not a directory`);
  mismatch(!dir.entries.has(name), `name already used in directory ${parent.inode}`);
  dir.entries.set(name, { inode: child.inode, stamp });
  st.tombstones.delete(tombstoneKey(parent.inode, name));
  child.parents.push({ parent: parent.inode, name });
  if (child.type === NodeType.DIRECTORY) dir.subdirs++;
  propagateStats(st, parent.inode, statsOf(child), 1);
  parent.mtime = parent.ctime = ts;
  child.ctime = ts;
  touch(parent, stamp, "mtime", "ctime");
  touch(child, stamp, "ctime", "parents");
}

export function removeEntry(st: State, parent: Node, child: Node, name: Name, ts: number, stamp: Stamp): void {
  const dir = parent.dir;
  mismatch(dir !== null, `inode ${parent.inode} is not a directory`);
  mismatch(dir.entries.get(name)?.inode === child.inode, `entry does not name inode ${child.inode}`);
  propagateStats(st, parent.inode, statsOf(child), -1);
  dir.entries.delete(name);
  st.tombstones.set(tombstoneKey(parent.inode, name), stamp);
  const at = child.parents.findIndex((e) => e.parent === parent.inode && e.name === name);
  child.parents.splice(at, 1);
  if (child.type === NodeType.DIRECTORY) dir.subdirs--;
  parent.mtime = parent.ctime = ts;
  child.ctime = ts;
  touch(parent, stamp, "mtime", "ctime");
  touch(child, stamp, "ctime", "parents");
}

/** What removing the entry `parent/name` → `child` does to `child` (decided before removal). */
export function disposalOf(st: State, child: Node): Disposal {
  if (child.parents.length > 1) return "keep";
  if (child.type !== NodeType.FILE) return "free";
  if (child.trashtime > 0) return "trash";
  return isOpen(st, child.inode) ? "sustained" : "free";
}

/** Removes the entry and disposes of the node as `expected` says (checked against the state). */
export function unlinkEntry(
  st: State,
  parent: Node,
  child: Node,
  name: Name,
  expected: Disposal,
  ts: number,
  stamp: Stamp,
): void {
  const disposal = disposalOf(st, child);
  mismatch(disposal === expected, `inode ${child.inode} would be ${disposal}, entry says ${expected}`);
  const detaches = disposal === "trash" || disposal === "sustained";
  const path = detaches ? pathOf(st, { parent: parent.inode, name }) : "";
  removeEntry(st, parent, child, name, ts, stamp);
  if (disposal === "trash") {
    child.detached = { kind: "trash", path };
    st.trash.add(child.inode);
    touch(child, stamp, "detached");
  } else if (disposal === "sustained") {
    child.detached = { kind: "sustained", path };
    st.sustained.add(child.inode);
    touch(child, stamp, "detached");
  } else if (disposal === "free") {
    deleteNode(st, child);
  }
}

/** A detached node nobody holds any more: from the trash (time ran out) or sustained. */
export function purgeDetached(st: State, node: Node, stamp: Stamp): "freed" | "sustained" {
  if (node.detached?.kind === "trash" && isOpen(st, node.inode)) {
    st.trash.delete(node.inode);
    st.sustained.add(node.inode);
    node.detached = { kind: "sustained", path: node.detached.path };
    touch(node, stamp, "detached");
    return "sustained";
  }
  deleteNode(st, node);
  return "freed";
}
