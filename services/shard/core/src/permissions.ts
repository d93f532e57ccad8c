/**
 * POSIX permission checks exactly as mfsmaster 3.0.117 makes them (fsnodes_accessmode,
 * posix_acl_accmode, fsnodes_sticky_access). An "access mode" is a bit set over the eight
 * request masks 0..7 (R=4, W=2, X=1): bit (1 << mask) is set when that combination is allowed.
 */
import { AttrFlag, SessionFlag, type Attr } from "@antler/ops";
import { Eattr } from "./eattr.ts";
import type { AclRecord, Node } from "./state.ts";

/** MODE_TO_ACCMODE: rwx bits → allowed request masks. */
const accessModeOfBits = [0x01, 0x03, 0x05, 0x0f, 0x11, 0x33, 0x55, 0xff] as const;

export const fullAccess = 0xff;

/** The caller as permission checks see it (after maproot/mapall). */
export interface Who {
  readonly uid: number;
  readonly gids: readonly number[];
  readonly sesflags: number;
}

function accessOfBits(bits: number): number {
  return accessModeOfBits[bits & 7]!;
}

function aclAccessMode(acl: AclRecord, node: Node, who: Who): number {
  if (who.uid === node.uid) return accessOfBits(acl.userPerm);
  for (const entry of acl.users) {
    if (entry.id === who.uid) return accessOfBits(entry.perm & acl.mask);
  }
  // Every matching group entry adds its rights; only when none matches do "other" rights apply.
  let matched = false;
  let mode = 0;
  if (who.gids.includes(node.gid)) {
    mode |= accessOfBits(acl.groupPerm & acl.mask);
    matched = true;
  }
  for (const entry of acl.groups) {
    if (who.gids.includes(entry.id)) {
      mode |= accessOfBits(entry.perm & acl.mask);
      matched = true;
    }
  }
  return matched ? mode : accessOfBits(acl.otherPerm);
}

export function accessMode(node: Node, who: Who): number {
  if (who.uid === 0) return fullAccess;
  if (node.aclAccess !== null) return aclAccessMode(node.aclAccess, node, who);
  if (who.uid === node.uid || (node.eattr & Eattr.NOOWNER) !== 0) return accessOfBits(node.mode >> 6);
  if ((who.sesflags & SessionFlag.IGNOREGID) !== 0) return accessOfBits((node.mode >> 3) | node.mode);
  if (who.gids.includes(node.gid)) return accessOfBits(node.mode >> 3);
  return accessOfBits(node.mode);
}

/** Whether `who` may do `mask` (a combination of AccessMask bits) on `node`. */
export function canAccess(node: Node, who: Who, mask: number): boolean {
  return (accessMode(node, who) & (1 << (mask & 7))) !== 0;
}

/** The sticky-directory rule for removing or replacing `node` in `parent`. */
export function stickyAllows(parent: Node, node: Node, uid: number): boolean {
  if (uid === 0 || (parent.mode & 0o1000) === 0) return true;
  if (uid === parent.uid || (parent.eattr & Eattr.NOOWNER) !== 0) return true;
  return uid === node.uid || (node.eattr & Eattr.NOOWNER) !== 0;
}

/** Whether `who` is the owner in the sense of chmod/utimes (or the node is NOOWNER). */
export function ownsOrNoOwner(node: Node, uid: number): boolean {
  return uid === 0 || uid === node.uid || (node.eattr & Eattr.NOOWNER) !== 0;
}

/**
 * accessMode computed from a node's attributes alone (the node lives on another shard); null when
 * the attributes cannot tell: the node may have an access ACL (no NOXATTR flag) and the caller is
 * neither root nor the owner. The visible mode already folds NOOWNER in (owner rights everywhere).
 */
export function accessModeOfAttr(attr: Attr, who: Who): number | null {
  if (who.uid === 0) return fullAccess;
  if (who.uid === attr.uid) return accessOfBits(attr.mode >> 6);
  if ((attr.flags & AttrFlag.NOXATTR) === 0) return null;
  if ((who.sesflags & SessionFlag.IGNOREGID) !== 0) return accessOfBits((attr.mode >> 3) | attr.mode);
  if (who.gids.includes(attr.gid)) return accessOfBits(attr.mode >> 3);
  return accessOfBits(attr.mode);
}
