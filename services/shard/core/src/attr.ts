/**
 * Attributes as the shard reports them (mfsmaster's fsnodes_fill_attr): MATTR flags, the mode
 * seen through an access ACL, nlink, and the length field (file length, symlink target length,
 * rdev, or a directory's encoded recursive size). The gateway maps uid/gid for mapall sessions.
 */
import { AttrFlag, NodeType, SessionFlag, type Attr } from "@antler/ops";
import { Eattr } from "./eattr.ts";
import { nlinkOf, type Node } from "./state.ts";

/** Who looks at the attributes: NOOWNER nodes look different to non-root users. */
export interface Viewer {
  readonly uid: number;
  readonly sesflags: number;
}

/** mfsmaster's "floating point" directory size: never 0, decimal exponent in the millions. */
export function encodeDirLength(length: number): number {
  if (length <= 0) return 1;
  const n = BigInt(Math.floor(length));
  const scaled = (shift: bigint, base: bigint, pre = 0n): number =>
    Number((((n >> pre) * 100n) >> shift) + base);
  if (n < 0x400n) return Number(n * 100n);
  if (n < 0x100000n) return scaled(10n, 1_000_000n);
  if (n < 0x40000000n) return scaled(20n, 2_000_000n);
  if (n < 0x10000000000n) return scaled(30n, 3_000_000n);
  if (n < 0x4000000000000n) return scaled(40n, 4_000_000n);
  if (n < 0x1000000000000000n) return scaled(40n, 5_000_000n, 10n);
  return scaled(50n, 6_000_000n, 10n);
}

export function attrFlags(node: Node, parent: Node | null, viewer: Viewer): number {
  let flags = 0;
  if (parent !== null && (parent.eattr & Eattr.NOECACHE) !== 0) flags |= AttrFlag.NOECACHE;
  if ((node.eattr & (Eattr.NOOWNER | Eattr.NOACACHE)) !== 0 || (viewer.sesflags & SessionFlag.MAPALL) !== 0) {
    flags |= AttrFlag.NOACACHE;
  }
  flags |= (node.eattr & Eattr.NODATACACHE) === 0 ? AttrFlag.ALLOWDATACACHE : AttrFlag.DIRECTMODE;
  if (node.xattrs === null && node.aclAccess === null && node.aclDefault === null) flags |= AttrFlag.NOXATTR;
  if ((node.eattr & (Eattr.UNDELETABLE | Eattr.IMMUTABLE | Eattr.APPENDONLY)) !== 0) flags |= AttrFlag.UNDELETABLE;
  return flags;
}

/** The 12 mode bits a client sees: with an access ACL the group bits are the ACL mask. */
export function visibleMode(node: Node, viewer: Viewer): number {
  const acl = node.aclAccess;
  let mode = acl === null
    ? node.mode & 0o7777
    : (((acl.userPerm & 7) << 6) | ((acl.mask & 7) << 3) | (acl.otherPerm & 7)) | (node.mode & 0o7000);
  if ((node.eattr & Eattr.NOOWNER) !== 0 && viewer.uid !== 0) {
    // Everybody is the owner of a NOOWNER node: owner rights are copied to group and other.
    mode &= 0o7700;
    mode |= (mode & 0o700) >> 3;
    mode |= (mode & 0o700) >> 6;
  }
  return mode;
}

function lengthField(node: Node): number {
  switch (node.type) {
    case NodeType.FILE:
      return node.length;
    case NodeType.DIRECTORY:
      return encodeDirLength(node.dir!.stats.length);
    case NodeType.SYMLINK:
      return node.target.length;
    default:
      return 0;
  }
}

export function fillAttr(node: Node, parent: Node | null, viewer: Viewer): Attr {
  return {
    type: node.type,
    mode: visibleMode(node, viewer),
    uid: node.uid,
    gid: node.gid,
    atime: node.atime,
    mtime: node.mtime,
    ctime: node.ctime,
    nlink: node.detached === null ? nlinkOf(node) : 0,
    length: lengthField(node),
    rdev: node.type === NodeType.BLOCKDEV || node.type === NodeType.CHARDEV ? node.rdev : 0,
    flags: attrFlags(node, parent, viewer),
    winattr: node.winattr,
  };
}
