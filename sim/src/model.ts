/**
 * A reference model of one POSIX namespace as mfsmaster 3.0.117 implements it (fs_univ_create,
 * fs_univ_unlink, fs_univ_move, fs_univ_link, fs_univ_symlink, fs_setattr, fs_setxattr in
 * mfsmaster/filesystem.c), small enough to be obviously right. The checkers replay the commands
 * the shard committed, in log order, through this model and compare every result.
 *
 * Scope: the commands the simulated clients issue (see workload.ts), for the root export
 * (rootInode 1), sessions without read-only/mapall/ignore-gid flags, nodes without ACLs or extra
 * attributes, callers root or not. Checks are made in mfsmaster's order, so the first failing
 * check decides the status, as there.
 *
 * Inode numbers are not the model's business: the allocator of the real state machine decides
 * them. A creation takes the inode from the result the state machine reported (`allocated`), or
 * from the model's own counter when the model runs alone.
 */
import { limits } from "@antler/base";
import { NodeType, SetMask, Status, XattrMode, type Command, type Ctx, type Name } from "@antler/ops";

export interface ModelNode {
  readonly inode: number;
  readonly type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** Directory entries naming this node (a directory has at most one). */
  readonly parents: { parent: number; name: Name }[];
  /**
   * A file whose last link went but that is kept, still reachable by inode: in the trash
   * (trashtime > 0), or sustained because a session has it open.
   */
  detached: boolean;
  /** A session has the file open (CREATE opens it; the workload never closes). */
  open: boolean;
  readonly children: Map<Name, number> | null;
  readonly target: Name | null;
  readonly xattrs: Map<Name, string>;
}

/** What the model expects back; only these fields are compared. */
export interface Expected {
  readonly status: number;
  readonly inode?: number;
  readonly attr?: ExpectedAttr;
  readonly target?: Name;
  readonly xattrValue?: string;
  /** readdir: every entry as "name inode type", sorted (the order is the server's business). */
  readonly listing?: string;
}

export interface ExpectedAttr {
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  /** Symlinks only: the target length. */
  readonly length?: number;
}

/** Kinds the model understands; other commands are outside the simulated workload. */
export const modelledKinds = new Set<Command["kind"]>([
  "lookup",
  "getattr",
  "mkdir",
  "create",
  "mknod",
  "symlink",
  "readlink",
  "unlink",
  "rmdir",
  "rename",
  "link",
  "setattr",
  "setxattr",
  "getxattr",
  "readdir",
]);

/** mfsmaster's MaxAllowedHardLinks default. */
const maxHardLinks = 32767;

export class NamespaceModel {
  readonly nodes = new Map<number, ModelNode>();
  #nextInode = 2;

  /** Trash time of every file (all inherit the root's); 0: a file's last unlink frees it. */
  readonly #trashTimeSeconds: number;

  constructor(options: { readonly trashTimeSeconds?: number } = {}) {
    this.#trashTimeSeconds = options.trashTimeSeconds ?? limits.trashTimeDefaultSeconds;
    this.nodes.set(limits.rootInode, newNode(limits.rootInode, NodeType.DIRECTORY, 0o777, 0, 0, null));
  }

  /** Trash expiry (a maintenance entry): the inodes must be files in the trash. */
  purge(inodes: readonly number[]): string | null {
    for (const inode of inodes) {
      const node = this.nodes.get(inode);
      if (node?.detached !== true) return `maintenance purged inode ${inode}, which is not in the model's trash`;
      // An expired file that is still open stays, sustained.
      if (!node.open) this.nodes.delete(inode);
    }
    return null;
  }

  /**
   * Applies `cmd` as the shard would and returns the expected result. `allocated` is the inode
   * the state machine reported for a successful creation.
   */
  apply(cmd: Command, ctx: Ctx, allocated?: number): Expected {
    switch (cmd.kind) {
      case "lookup": {
        const dir = this.nodes.get(cmd.parent);
        if (dir === undefined) return { status: Status.ENOENT_NOCACHE };
        if (dir.children === null) return { status: Status.ENOTDIR };
        if (!can(dir, ctx, X)) return { status: Status.EACCES };
        // "." and ".." are answered by fs_lookup itself (the root is its own parent).
        if (cmd.name === ".") return { status: Status.OK, inode: cmd.parent, attr: this.attrOf(cmd.parent) };
        if (cmd.name === "..") {
          const up = dir.parents[0]?.parent ?? limits.rootInode;
          return { status: Status.OK, inode: up, attr: this.attrOf(up) };
        }
        const nameError = checkName(cmd.name);
        if (nameError !== null) return nameError;
        const child = dir.children.get(cmd.name);
        if (child === undefined) return { status: Status.ENOENT };
        return { status: Status.OK, inode: child, attr: this.attrOf(child) };
      }
      case "getattr": {
        if (!this.nodes.has(cmd.inode)) return { status: Status.ENOENT };
        return { status: Status.OK, attr: this.attrOf(cmd.inode) };
      }
      case "readdir": {
        const dir = this.nodes.get(cmd.inode);
        if (dir === undefined) return { status: Status.ENOENT };
        if (dir.children === null) return { status: Status.ENOTDIR };
        if (!can(dir, ctx, cmd.withAttr ? R | X : R)) return { status: Status.EACCES };
        const up = dir.parents[0]?.parent ?? limits.rootInode;
        const entries = [`. ${cmd.inode} ${NodeType.DIRECTORY}`, `.. ${up} ${NodeType.DIRECTORY}`];
        for (const [name, inode] of dir.children) entries.push(`${name} ${inode} ${this.nodes.get(inode)!.type}`);
        return { status: Status.OK, listing: entries.sort().join("\n") };
      }
      case "readlink": {
        const node = this.nodes.get(cmd.inode);
        if (node === undefined) return { status: Status.ENOENT };
        if (node.target === null) return { status: Status.EINVAL };
        return { status: Status.OK, target: node.target };
      }
      case "mkdir":
        return this.#create(cmd.parent, cmd.name, NodeType.DIRECTORY, cmd.mode & ~cmd.umask & 0o7777, ctx, null, allocated);
      case "create": {
        // CREATE is mknod + open: the creating session holds the file open.
        const created = this.#create(cmd.parent, cmd.name, NodeType.FILE, cmd.mode & ~cmd.umask & 0o7777, ctx, null, allocated);
        if (created.status === Status.OK) this.nodes.get(created.inode!)!.open = true;
        return created;
      }
      case "mknod":
        return this.#create(cmd.parent, cmd.name, cmd.type as NodeType, cmd.mode & ~cmd.umask & 0o7777, ctx, null, allocated);
      case "symlink": {
        if (cmd.target.length === 0 || cmd.target.length > limits.pathBytesMax || cmd.target.includes("\0")) {
          return { status: Status.EINVAL };
        }
        return this.#create(cmd.parent, cmd.name, NodeType.SYMLINK, 0o777, ctx, cmd.target, allocated);
      }
      case "unlink":
      case "rmdir": {
        const dir = this.nodes.get(cmd.parent);
        if (dir === undefined) return { status: Status.ENOENT };
        if (dir.children === null) return { status: Status.ENOTDIR };
        if (!can(dir, ctx, W | X)) return { status: Status.EACCES };
        const nameError = checkName(cmd.name);
        if (nameError !== null) return nameError;
        const childInode = dir.children.get(cmd.name);
        if (childInode === undefined) return { status: Status.ENOENT };
        const child = this.nodes.get(childInode)!;
        if (!stickyAllows(dir, child, ctx.uid)) return { status: Status.EPERM };
        if (cmd.kind === "unlink" && child.type === NodeType.DIRECTORY) return { status: Status.EPERM };
        if (cmd.kind === "rmdir") {
          if (child.type !== NodeType.DIRECTORY) return { status: Status.ENOTDIR };
          if (child.children!.size > 0) return { status: Status.ENOTEMPTY };
        }
        this.#removeEdge(cmd.parent, cmd.name);
        return { status: Status.OK, inode: childInode };
      }
      case "rename":
        return this.#rename(cmd.parentSrc, cmd.nameSrc, cmd.parentDst, cmd.nameDst, ctx);
      case "link": {
        const node = this.nodes.get(cmd.inode);
        const dst = this.nodes.get(cmd.parentDst);
        if (node === undefined || dst === undefined) return { status: Status.ENOENT };
        if (node.detached) return { status: Status.ENOENT };
        if (node.type === NodeType.DIRECTORY) return { status: Status.EPERM };
        if (node.parents.length >= maxHardLinks) return { status: Status.NOSPACE };
        if (dst.children === null) return { status: Status.ENOTDIR };
        if (!can(dst, ctx, W | X)) return { status: Status.EACCES };
        const nameError = checkName(cmd.nameDst);
        if (nameError !== null) return nameError;
        if (dst.children.has(cmd.nameDst)) return { status: Status.EEXIST };
        this.#addEdge(cmd.parentDst, cmd.nameDst, cmd.inode);
        return { status: Status.OK, inode: cmd.inode, attr: this.attrOf(cmd.inode) };
      }
      case "setattr": {
        const node = this.nodes.get(cmd.inode);
        if (node === undefined) return { status: Status.ENOENT };
        let mode = cmd.mode & 0o7777;
        const root = ctx.uid === 0;
        // fs_setattr's exception (clearing suid/sgid during a write) does not arise: the workload
        // never sets those bits.
        if (!root && node.uid !== ctx.uid && (cmd.setmask & (SetMask.MODE | SetMask.UID | SetMask.GID | SetMask.ATIME | SetMask.MTIME)) !== 0) {
          return { status: Status.EPERM };
        }
        if (!root && node.uid !== ctx.uid && (cmd.setmask & (SetMask.ATIME_NOW | SetMask.MTIME_NOW)) !== 0 && !can(node, ctx, W)) {
          return { status: Status.EACCES };
        }
        if (!root && (cmd.setmask & SetMask.UID) !== 0 && cmd.uid !== ctx.uid) return { status: Status.EPERM };
        if (!root && (cmd.setmask & SetMask.GID) !== 0 && !ctx.gids.includes(cmd.gid)) return { status: Status.EPERM };
        if ((cmd.setmask & (SetMask.UID | SetMask.GID)) !== 0 && (cmd.setmask & SetMask.MODE) !== 0) mode |= node.mode & 0o6000;
        if ((node.mode & 0o6000) !== 0 && (cmd.setmask & (SetMask.UID | SetMask.GID)) !== 0 && cmd.sugidclearmode !== 0) {
          throw new Error("model: sugid clearing is not modelled");
        }
        if ((cmd.setmask & SetMask.UID) !== 0) node.uid = cmd.uid;
        if ((cmd.setmask & SetMask.GID) !== 0) node.gid = cmd.gid;
        if ((cmd.setmask & SetMask.MODE) !== 0) {
          // Only members of the (new) group may set sgid.
          if (!root && (mode & 0o2000) !== 0 && !ctx.gids.includes(node.gid)) mode &= 0o5777;
          node.mode = mode;
        }
        return { status: Status.OK, attr: this.attrOf(cmd.inode) };
      }
      case "setxattr": {
        const node = this.nodes.get(cmd.inode);
        if (node === undefined) return { status: Status.ENOENT };
        if (ctx.uid !== 0 && (cmd.name.startsWith("trusted.") || cmd.name.startsWith("security."))) return { status: Status.EPERM };
        if (ctx.uid !== 0 && ctx.uid !== node.uid && cmd.name.startsWith("system.")) return { status: Status.EPERM };
        if (!cmd.opened && !can(node, ctx, W)) return { status: Status.EACCES };
        if (cmd.name.length === 0 || cmd.name.length > limits.xattrNameBytesMax) return { status: Status.EINVAL };
        if (cmd.mode > XattrMode.REMOVE) return { status: Status.EINVAL };
        const had = node.xattrs.has(cmd.name);
        if ((cmd.mode === XattrMode.REPLACE_ONLY || cmd.mode === XattrMode.REMOVE) && !had) return { status: Status.ENOATTR };
        if (cmd.mode === XattrMode.CREATE_ONLY && had) return { status: Status.EEXIST };
        if (cmd.mode === XattrMode.REMOVE) node.xattrs.delete(cmd.name);
        else node.xattrs.set(cmd.name, bytesKey(cmd.value));
        return { status: Status.OK };
      }
      case "getxattr": {
        const node = this.nodes.get(cmd.inode);
        if (node === undefined) return { status: Status.ENOENT };
        if (ctx.uid !== 0 && cmd.name.startsWith("trusted.")) return { status: Status.EPERM };
        if (!cmd.opened && !can(node, ctx, R)) return { status: Status.EACCES };
        if (cmd.name.length === 0) throw new Error("model: xattr listing is not modelled");
        const value = node.xattrs.get(cmd.name);
        if (value === undefined) return { status: Status.ENOATTR };
        return { status: Status.OK, xattrValue: value };
      }
      default:
        throw new Error(`model: command ${cmd.kind} is not modelled`);
    }
  }

  attrOf(inode: number): ExpectedAttr {
    const node = this.nodes.get(inode)!;
    const nlink = node.children !== null ? 2 + this.#subdirs(node) : node.parents.length;
    return {
      type: node.type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      nlink,
      ...(node.type === NodeType.SYMLINK ? { length: node.target!.length } : {}),
    };
  }

  /** Inodes reachable from the root through directory entries. */
  reachable(): Set<number> {
    const seen = new Set<number>();
    const stack = [limits.rootInode as number];
    while (stack.length > 0) {
      const inode = stack.pop()!;
      if (seen.has(inode)) continue;
      seen.add(inode);
      const children = this.nodes.get(inode)?.children;
      if (children) for (const child of children.values()) stack.push(child);
    }
    return seen;
  }

  #create(parent: number, name: Name, type: NodeType, mode: number, ctx: Ctx, target: Name | null, allocated: number | undefined): Expected {
    const dir = this.nodes.get(parent);
    if (dir === undefined) return { status: Status.ENOENT };
    if (dir.children === null) return { status: Status.ENOTDIR };
    if (!can(dir, ctx, W | X)) return { status: Status.EACCES };
    const nameError = checkName(name);
    if (nameError !== null) return nameError;
    if (dir.children.has(name)) return { status: Status.EEXIST };
    const inode = allocated ?? this.#nextInode;
    this.#nextInode = Math.max(this.#nextInode, inode + 1);
    if (this.nodes.has(inode)) throw new Error(`model: inode ${inode} allocated twice`);
    // A set-gid parent passes its group on (fsnodes_create_node).
    const gid = (dir.mode & 0o2000) !== 0 ? dir.gid : (ctx.gids[0] ?? 0);
    this.nodes.set(inode, newNode(inode, type, mode, ctx.uid, gid, target));
    this.#addEdge(parent, name, inode);
    return { status: Status.OK, inode, attr: this.attrOf(inode) };
  }

  #rename(parentSrc: number, nameSrc: Name, parentDst: number, nameDst: Name, ctx: Ctx): Expected {
    const src = this.nodes.get(parentSrc);
    const dst = this.nodes.get(parentDst);
    if (src === undefined || dst === undefined) return { status: Status.ENOENT };
    if (src.children === null) return { status: Status.ENOTDIR };
    if (!can(src, ctx, W | X)) return { status: Status.EACCES };
    const srcNameError = checkName(nameSrc);
    if (srcNameError !== null) return srcNameError;
    const inode = src.children.get(nameSrc);
    if (inode === undefined) return { status: Status.ENOENT };
    const node = this.nodes.get(inode)!;
    if (!stickyAllows(src, node, ctx.uid)) return { status: Status.EPERM };
    if (dst.children === null) return { status: Status.ENOTDIR };
    if (!can(dst, ctx, W | X)) return { status: Status.EACCES };
    if (node.type === NodeType.DIRECTORY) {
      if (this.#isAncestorOrSelf(inode, parentDst)) return { status: Status.EINVAL };
      // Moving a directory to another parent rewrites its "..": that needs W on it.
      if (parentSrc !== parentDst && !can(node, ctx, W)) return { status: Status.EACCES };
    }
    const dstNameError = checkName(nameDst);
    if (dstNameError !== null) return dstNameError;
    const existing = dst.children.get(nameDst);
    if (existing !== undefined) {
      // Onto another link of the same node: POSIX says nothing happens. (mfsmaster would unlink
      // the target first; the kernel never sends this, and the shard follows POSIX.)
      if (existing === inode) return { status: Status.OK, inode, attr: this.attrOf(inode) };
      const victim = this.nodes.get(existing)!;
      if (victim.children !== null && victim.children.size > 0) return { status: Status.ENOTEMPTY };
      if (!stickyAllows(dst, victim, ctx.uid)) return { status: Status.EPERM };
      this.#removeEdge(parentDst, nameDst);
    }
    src.children.delete(nameSrc);
    const edge = node.parents.findIndex((p) => p.parent === parentSrc && p.name === nameSrc);
    node.parents.splice(edge, 1);
    this.#addEdge(parentDst, nameDst, inode);
    return { status: Status.OK, inode, attr: this.attrOf(inode) };
  }

  #isAncestorOrSelf(ancestor: number, inode: number): boolean {
    let current: number | undefined = inode;
    while (current !== undefined) {
      if (current === ancestor) return true;
      current = this.nodes.get(current)?.parents[0]?.parent;
    }
    return false;
  }

  #addEdge(parent: number, name: Name, child: number): void {
    this.nodes.get(parent)!.children!.set(name, child);
    const node = this.nodes.get(child)!;
    node.parents.push({ parent, name });
  }

  #removeEdge(parent: number, name: Name): void {
    const dir = this.nodes.get(parent)!;
    const inode = dir.children!.get(name)!;
    dir.children!.delete(name);
    const node = this.nodes.get(inode)!;
    node.parents.splice(
      node.parents.findIndex((p) => p.parent === parent && p.name === name),
      1,
    );
    if (node.parents.length === 0) {
      // Files go to the trash (when their trash time is > 0) or are sustained while open, and
      // stay reachable by inode; the rest go at once (fsnodes_unlink).
      if (node.type === NodeType.FILE && (this.#trashTimeSeconds > 0 || node.open)) node.detached = true;
      else this.nodes.delete(inode);
    }
  }

  #subdirs(dir: ModelNode): number {
    let n = 0;
    for (const child of dir.children!.values()) if (this.nodes.get(child)!.type === NodeType.DIRECTORY) n++;
    return n;
  }
}

function newNode(inode: number, type: NodeType, mode: number, uid: number, gid: number, target: Name | null): ModelNode {
  return {
    inode,
    type,
    mode,
    uid,
    gid,
    parents: [],
    detached: false,
    open: false,
    children: type === NodeType.DIRECTORY ? new Map() : null,
    target,
    xattrs: new Map(),
  };
}

const R = 4;
const W = 2;
const X = 1;

/** fsnodes_access_ext without ACLs: root may do anything, else owner, group or other bits. */
function can(node: ModelNode, ctx: Ctx, mask: number): boolean {
  if (ctx.uid === 0) return true;
  const bits = ctx.uid === node.uid ? (node.mode >> 6) & 7 : ctx.gids.includes(node.gid) ? (node.mode >> 3) & 7 : node.mode & 7;
  return (bits & mask) === mask;
}

/** fsnodes_sticky_access: in a sticky directory only root and the owners of the directory or the entry remove it. */
function stickyAllows(dir: ModelNode, node: ModelNode, uid: number): boolean {
  return uid === 0 || (dir.mode & 0o1000) === 0 || uid === dir.uid || uid === node.uid;
}

/** fsnodes_namecheck: 1..255 bytes, no NUL or '/', not "." or "..". */
function checkName(name: Name): Expected | null {
  if (name.length === 0 || name.length > limits.nameBytesMax || name === "." || name === ".." || name.includes("\0") || name.includes("/")) {
    return { status: Status.EINVAL };
  }
  return null;
}

function bytesKey(value: Uint8Array): string {
  return Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares a state machine result with the model's expectation; a description of the first difference, or null. */
export function compareResult(expected: Expected, actual: { readonly status: number } & Record<string, unknown>): string | null {
  if (expected.status !== actual.status) return `status ${actual.status}, model expects ${expected.status}`;
  if (expected.status !== 0) return null;
  if (expected.inode !== undefined && actual["inode"] !== expected.inode) return `inode ${String(actual["inode"])}, model expects ${expected.inode}`;
  if (expected.attr !== undefined) {
    const attr = actual["attr"] as Record<string, number> | undefined;
    if (attr === undefined) return "no attr in the result";
    for (const key of ["type", "mode", "uid", "gid", "nlink", "length"] as const) {
      const want = expected.attr[key];
      if (want === undefined) continue;
      const got = key === "mode" ? attr[key]! & 0o7777 : attr[key];
      if (got !== want) return `attr.${key} ${String(got)}, model expects ${want}`;
    }
  }
  if (expected.target !== undefined && actual["target"] !== expected.target) return `target ${JSON.stringify(actual["target"])}, model expects ${JSON.stringify(expected.target)}`;
  if (expected.listing !== undefined) {
    const entries = actual["entries"] as readonly { name: Name; inode: number; type: number; attr?: { type: number } }[] | undefined;
    if (entries === undefined) return "no entries in the result";
    const listing = entries.map((e) => `${e.name} ${e.inode} ${e.attr?.type ?? e.type}`).sort().join("\n");
    if (listing !== expected.listing) return `directory listing [${listing.replaceAll("\n", ", ")}], model expects [${expected.listing.replaceAll("\n", ", ")}]`;
  }
  if (expected.xattrValue !== undefined) {
    const value = actual["value"];
    if (!(value instanceof Uint8Array) || bytesKey(value) !== expected.xattrValue) return "xattr value differs from the model";
  }
  return null;
}
