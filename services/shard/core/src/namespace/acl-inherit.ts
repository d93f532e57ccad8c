/**
 * Default ACL inheritance of new nodes (posix_acl_copydefaults): a parent's default ACL replaces
 * the umask. A "simple" default ACL (no named entries, no mask) only masks the mode; any other
 * becomes the child's access ACL, combined with the requested mode; directories also inherit it
 * as their own default ACL.
 */
import type { AclRecord } from "../state.ts";

export interface Inherited {
  readonly mode: number;
  readonly aclAccess: AclRecord | null;
  readonly aclDefault: AclRecord | null;
}

const aclUnset = 0xffff;

export function isSimpleAcl(acl: AclRecord): boolean {
  return acl.users.length === 0 && acl.groups.length === 0 && acl.userPerm <= 7 && acl.groupPerm <= 7
    && acl.otherPerm <= 7 && acl.mask === aclUnset;
}

export function copyAcl(acl: AclRecord): AclRecord {
  return { ...acl, users: acl.users.map((e) => ({ ...e })), groups: acl.groups.map((e) => ({ ...e })) };
}

export function inheritAcl(parentDefault: AclRecord, requestedMode: number, directory: boolean): Inherited {
  const aclDefault = directory ? copyAcl(parentDefault) : null;
  const high = requestedMode & 0xfe00;
  if (isSimpleAcl(parentDefault)) {
    const bits = (parentDefault.userPerm << 6) | (parentDefault.groupPerm << 3) | parentDefault.otherPerm;
    return { mode: requestedMode & (0xfe00 | bits), aclAccess: null, aclDefault };
  }
  const userPerm = ((requestedMode >> 6) & 7) & parentDefault.userPerm;
  const groupPerm = parentDefault.groupPerm;
  const otherPerm = (requestedMode & 7) & parentDefault.otherPerm;
  const mask = ((requestedMode >> 3) & 7) & parentDefault.mask;
  // The node's own group bits keep the owning-group entry; clients see the mask instead.
  const mode = high | ((userPerm & 7) << 6) | ((groupPerm & 7) << 3) | (otherPerm & 7);
  const aclAccess = { ...copyAcl(parentDefault), userPerm, groupPerm, otherPerm, mask };
  return { mode, aclAccess, aclDefault };
}
