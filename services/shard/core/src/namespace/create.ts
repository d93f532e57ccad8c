/**
 * MKNOD, MKDIR, CREATE and SYMLINK (fs_univ_create, fs_univ_symlink, fsnodes_create_node).
 * Checks in mfsmaster's order: read-only session, node type / symlink target, parent exists, is a
 * directory, is not immutable, caller may write and search it, the name is valid and free.
 * The new node inherits goal and trashtime (files, directories), extra attributes, the setgid
 * group (and for directories with copysgid the setgid bit) and default ACLs from the parent.
 */
import { limits } from "@antler/base";
import { AccessMask, AttrFlag, NodeType, SessionFlag, Status, type CommandOf, type Name, type NewNodeCommand, type NewNodeSpec, type Result } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { chooseInode, owns, ownsAllSlots, takeInode } from "../alloc.ts";
import { fillAttr } from "../attr.ts";
import { Eattr, OpenReplyFlag } from "../eattr.ts";
import type { NewNodeOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { addNode, newNode, type Node } from "../state.ts";
import { inheritAcl, type Inherited } from "./acl-inherit.ts";
import { fail, forwardToCoordinator, type Applying, type Forward, type Planned, type Planning } from "./context.ts";
import { addEntry } from "./links.ts";
import { findNode, isValidName, requireNode, viewerOf } from "./nodes.ts";
import { registerOpen } from "./open-files.ts";

interface NewNodeRequest {
  readonly kind: NewNodeOp["kind"];
  readonly parent: number;
  readonly name: Name;
  readonly type: number;
  readonly mode: number;
  readonly umask: number;
  readonly rdev: number;
  readonly copysgid: boolean;
  readonly target: Name;
}

const creatableTypes: ReadonlySet<number> = new Set([
  NodeType.FILE, NodeType.DIRECTORY, NodeType.FIFO, NodeType.BLOCKDEV, NodeType.CHARDEV, NodeType.SOCKET,
]);

const eattrNotInherited = Eattr.SNAPSHOT | Eattr.UNDELETABLE | Eattr.APPENDONLY | Eattr.IMMUTABLE;

function checkTarget(target: Name): boolean {
  return target.length > 0 && target.length <= limits.symlinkBytesMax && !target.includes("\0");
}

function checkParent(p: Planning, req: NewNodeRequest): Node | Result {
  const parent = findNode(p.st, p.ctx.rootInode, req.parent, false);
  if (parent === null) return fail(Status.ENOENT);
  if (parent.dir === null) return fail(Status.ENOTDIR);
  if ((parent.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!canAccess(parent, p.ctx, AccessMask.W | AccessMask.X)) return fail(Status.EACCES);
  if (!isValidName(req.name)) return fail(Status.EINVAL);
  if (parent.dir.entries.has(req.name)) return fail(Status.EEXIST);
  return parent;
}

function modeAndAcls(parent: Node, req: NewNodeRequest): Inherited {
  const mode = req.mode & 0o7777;
  if (parent.aclDefault !== null) return inheritAcl(parent.aclDefault, mode, req.type === NodeType.DIRECTORY);
  return { mode: mode & ~req.umask & 0o7777, aclAccess: null, aclDefault: null };
}

function buildOp(p: Planning, parent: Node, req: NewNodeRequest, inode: number): NewNodeOp {
  const isDir = req.type === NodeType.DIRECTORY;
  const inherits = isDir || req.type === NodeType.FILE;
  const inherited = modeAndAcls(parent, req);
  let mode = inherited.mode;
  let gid = p.ctx.gids[0] ?? 0;
  if ((parent.mode & 0o2000) !== 0) {
    gid = parent.gid;
    if (req.copysgid && isDir) mode |= 0o2000;
  }
  const eattrMask = isDir ? eattrNotInherited : eattrNotInherited | Eattr.NOECACHE;
  return {
    kind: req.kind,
    parent: parent.inode,
    name: req.name,
    inode,
    type: req.type,
    mode,
    uid: p.ctx.uid,
    gid,
    rdev: req.type === NodeType.BLOCKDEV || req.type === NodeType.CHARDEV ? req.rdev : 0,
    target: req.target,
    goal: inherits ? parent.goal : 0,
    trashtime: inherits ? parent.trashtime : p.st.defaultTrashtime,
    eattr: parent.eattr & ~eattrMask,
    aclAccess: inherited.aclAccess,
    aclDefault: inherited.aclDefault,
  };
}

/**
 * After every check: a new directory whose slot (by its name) another shard owns, or a node for
 * which no owned slot has room (a "spilled create"), is made by the coordinator (txn.ts). Only
 * when this shard owns every slot is a full shard NOSPACE, as in mfsmaster.
 */
function planNewNode(p: Planning, req: NewNodeRequest): Planned | Forward {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  if (req.kind === "symlink" ? !checkTarget(req.target) : !creatableTypes.has(req.type)) return fail(Status.EINVAL);
  const parent = checkParent(p, req);
  if ("status" in parent) return parent;
  const slot = req.type === NodeType.DIRECTORY ? p.env.slotOfNewDirectory(parent.inode, req.name) : slotOfInode(parent.inode);
  if (!owns(p.st, slot)) return forwardToCoordinator;
  const inode = chooseInode(p.st, slot);
  if (inode === null) return ownsAllSlots(p.st) ? fail(Status.NOSPACE) : forwardToCoordinator;
  return buildOp(p, parent, req, inode);
}

const noTarget = { rdev: 0, copysgid: false, target: "" };

function requestOf(cmd: NewNodeCommand): NewNodeRequest {
  switch (cmd.kind) {
    case "mknod": return { ...cmd, ...noTarget, rdev: cmd.rdev };
    case "mkdir": return { ...cmd, ...noTarget, type: NodeType.DIRECTORY, copysgid: cmd.copysgid };
    case "create": return { ...cmd, ...noTarget, type: NodeType.FILE };
    case "symlink": return { ...cmd, ...noTarget, type: NodeType.SYMLINK, mode: 0o777, umask: 0, target: cmd.target };
  }
}

/**
 * The entry-new part of a cross-shard transaction (txn/): validates a new-node command exactly
 * as planNewNode does and computes the new node's spec (the same buildOp), without an inode —
 * the node's own shard allocates that.
 */
export function planNewNodeSpec(p: Planning, cmd: NewNodeCommand): NewNodeSpec | Result {
  const req = requestOf(cmd);
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  if (req.kind === "symlink" ? !checkTarget(req.target) : !creatableTypes.has(req.type)) return fail(Status.EINVAL);
  const parent = checkParent(p, req);
  if ("status" in parent) return parent;
  const { parent: _parent, name: _name, inode: _inode, ...spec } = buildOp(p, parent, req, 0);
  return spec;
}

export function planMknod(p: Planning, cmd: CommandOf<"mknod">): Planned | Forward {
  return planNewNode(p, { ...cmd, ...noTarget, rdev: cmd.rdev });
}

export function planMkdir(p: Planning, cmd: CommandOf<"mkdir">): Planned | Forward {
  return planNewNode(p, { ...cmd, ...noTarget, type: NodeType.DIRECTORY, copysgid: cmd.copysgid });
}

export function planCreate(p: Planning, cmd: CommandOf<"create">): Planned | Forward {
  return planNewNode(p, { ...cmd, ...noTarget, type: NodeType.FILE });
}

export function planSymlink(p: Planning, cmd: CommandOf<"symlink">): Planned | Forward {
  return planNewNode(p, { ...cmd, ...noTarget, type: NodeType.SYMLINK, mode: 0o777, umask: 0, target: cmd.target });
}

/** OPEN/CREATE oflags a node's extra attributes call for. */
export function openFlagsOf(node: Node): number {
  let oflags = 0;
  if ((node.eattr & Eattr.NODATACACHE) !== 0) oflags |= OpenReplyFlag.DIRECTMODE;
  if ((node.eattr & Eattr.APPENDONLY) !== 0) oflags |= OpenReplyFlag.APPENDONLY;
  return oflags;
}

export function applyNewNode(a: Applying, op: NewNodeOp): Result {
  const parent = requireNode(a.st, op.parent);
  takeInode(a.st, op.inode);
  const node = newNode(op.inode, op.type as NodeType, a.ts, a.stamp);
  Object.assign(node, {
    mode: op.mode, uid: op.uid, gid: op.gid, rdev: op.rdev, target: op.target, goal: op.goal,
    trashtime: op.trashtime, eattr: op.eattr, aclAccess: op.aclAccess, aclDefault: op.aclDefault,
  });
  addNode(a.st, node);
  addEntry(a.st, parent, node, op.name, a.ts, a.stamp);
  const attr = fillAttr(node, parent, viewerOf(a.caller));
  if (op.kind !== "create") return { status: Status.OK, inode: node.inode, attr };
  registerOpen(a.st, a.caller.sessionId, node.inode);
  // mfsmaster never lets a just-created file's attributes allow the data cache.
  const flags = attr.flags & ~AttrFlag.ALLOWDATACACHE;
  return { status: Status.OK, inode: node.inode, attr: { ...attr, flags }, oflags: openFlagsOf(node) };
}
