/**
 * SETATTR (fs_setattr) and AMTIME_INODES (fs_amtime_update).
 *
 * SETATTR permission rules of mfsmaster: a non-root caller may change nothing but the mode when
 * the request only clears suid/sgid (the kernel does that on write); otherwise only the owner
 * (or anyone on a NOOWNER node) may chmod, chown, chgrp or set explicit times; *_NOW needs
 * ownership or write permission; only root changes the uid (to another value); a non-root caller
 * chgrps only to one of his groups (unless the session ignores gids); mapall sessions may not
 * chown at all. chown clears suid/sgid per `sugidclearmode`; a non-member setting sgid loses it.
 */
import { AccessMask, SessionFlag, SetMask, Status, type CommandOf, type Result } from "@antler/ops";
import { fillAttr } from "../attr.ts";
import { Eattr } from "../eattr.ts";
import type { AmtimeOp, SetattrOp } from "../log-entry.ts";
import { canAccess } from "../permissions.ts";
import { touch, type Node } from "../state.ts";
import { fail, ok, type Applying, type Planned, type Planning } from "./context.ts";
import { findNode, requireNode, viewerOf } from "./nodes.ts";

type SetattrCmd = CommandOf<"setattr">;

const SugidClear = { NEVER: 0, ALWAYS: 1, OSX: 2, BSD: 3, EXT: 4, XFS: 5 } as const;

/** The kernel clearing suid/sgid on write: allowed to anyone who may write (not checked here). */
function isSugidClear(node: Node, cmd: SetattrCmd, uid: number): boolean {
  return uid !== 0 && cmd.setmask === SetMask.MODE && cmd.mode === (node.mode & 0o1777) && (node.mode & 0o6000) !== 0;
}

function checkPermission(p: Planning, node: Node, cmd: SetattrCmd): Result | null {
  const { uid, gids, sesflags } = p.ctx;
  if (uid === 0) return null;
  const owned = SetMask.MODE | SetMask.UID | SetMask.GID | SetMask.ATIME | SetMask.MTIME;
  if ((sesflags & SessionFlag.MAPALL) !== 0 && (cmd.setmask & (SetMask.UID | SetMask.GID)) !== 0) return fail(Status.EPERM);
  if ((node.eattr & Eattr.NOOWNER) === 0 && uid !== node.uid) {
    if ((cmd.setmask & owned) !== 0) return fail(Status.EPERM);
    if ((cmd.setmask & (SetMask.ATIME_NOW | SetMask.MTIME_NOW)) !== 0 && !canAccess(node, p.ctx, AccessMask.W)) {
      return fail(Status.EACCES);
    }
  }
  if (uid !== cmd.uid && (cmd.setmask & SetMask.UID) !== 0) return fail(Status.EPERM);
  if ((sesflags & SessionFlag.IGNOREGID) === 0 && (cmd.setmask & SetMask.GID) !== 0 && !gids.includes(cmd.gid)) {
    return fail(Status.EPERM);
  }
  return null;
}

/** The suid/sgid bits that survive a chown, per the client's sugidclearmode. */
function sugidKeepMask(node: Node, cmd: SetattrCmd, uid: number): number {
  const dir = node.dir !== null;
  const extLike = (node.mode & 0o010) !== 0 ? 0o1777 : 0o3777;
  switch (cmd.sugidclearmode) {
    case SugidClear.ALWAYS:
      return 0o1777;
    case SugidClear.OSX:
      return uid !== 0 ? 0o1777 : 0o7777;
    case SugidClear.BSD:
      return uid !== 0 && (cmd.setmask & SetMask.GID) !== 0 && node.gid !== cmd.gid ? 0o1777 : 0o7777;
    case SugidClear.EXT:
      return dir ? 0o7777 : extLike;
    case SugidClear.XFS:
      return dir ? (uid !== 0 ? 0o1777 : 0o7777) : extLike;
    default:
      return 0o7777;
  }
}

function computeOp(p: Planning, node: Node, cmd: SetattrCmd): SetattrOp {
  const { uid, gids } = p.ctx;
  const chown = (cmd.setmask & (SetMask.UID | SetMask.GID)) !== 0;
  let storedMode = node.mode;
  let requested = cmd.mode & 0o7777;
  // chown+chmod from the kernel: keep the current suid/sgid, then clear them ourselves.
  if (chown && (cmd.setmask & SetMask.MODE) !== 0) requested |= node.mode & 0o6000;
  if (chown && (node.mode & 0o6000) !== 0) {
    const keep = sugidKeepMask(node, cmd, uid);
    storedMode &= keep;
    requested &= keep;
  }
  const gid = (cmd.setmask & SetMask.GID) !== 0 ? cmd.gid : node.gid;
  let aclMode: number | null = null;
  if ((cmd.setmask & SetMask.MODE) !== 0) {
    if (uid !== 0 && (requested & 0o2000) !== 0 && !gids.includes(gid)) requested &= 0o5777;
    if (node.aclAccess !== null) {
      aclMode = requested;
      storedMode = (storedMode & 0o070) | (requested & 0o7707);
    } else {
      storedMode = requested;
    }
  }
  const pick = (bit: number, value: number, now: number, current: number): number =>
    (cmd.setmask & now) !== 0 ? p.ts : (cmd.setmask & bit) !== 0 ? value : current;
  return {
    kind: "setattr",
    inode: node.inode,
    mode: storedMode,
    uid: (cmd.setmask & SetMask.UID) !== 0 ? cmd.uid : node.uid,
    gid,
    atime: pick(SetMask.ATIME, cmd.atime, SetMask.ATIME_NOW, node.atime),
    mtime: pick(SetMask.MTIME, cmd.mtime, SetMask.MTIME_NOW, node.mtime),
    winattr: (cmd.setmask & SetMask.WINATTR) !== 0 ? cmd.winattr : node.winattr,
    aclMode,
  };
}

export function planSetattr(p: Planning, cmd: SetattrCmd): Planned {
  if ((p.ctx.sesflags & SessionFlag.READONLY) !== 0) return fail(Status.EROFS);
  const node = findNode(p.st, p.ctx.rootInode, cmd.inode, cmd.opened);
  if (node === null) return fail(Status.ENOENT);
  if ((node.eattr & Eattr.IMMUTABLE) !== 0) return fail(Status.EPERM);
  if (!isSugidClear(node, cmd, p.ctx.uid)) {
    const refused = checkPermission(p, node, cmd);
    if (refused !== null) return refused;
  }
  // Even "setmask 0" changes ctime in mfsmaster, so every accepted SETATTR is logged.
  return computeOp(p, node, cmd);
}

export function applySetattr(a: Applying, op: SetattrOp): Result {
  const node = requireNode(a.st, op.inode);
  node.mode = op.mode;
  if (op.aclMode !== null && node.aclAccess !== null) {
    const m = op.aclMode;
    const acl = node.aclAccess;
    node.aclAccess = {
      ...acl,
      userPerm: (acl.userPerm & 0xfff8) | ((m >> 6) & 7),
      mask: (acl.mask & 0xfff8) | ((m >> 3) & 7),
      otherPerm: (acl.otherPerm & 0xfff8) | (m & 7),
    };
  }
  Object.assign(node, { uid: op.uid, gid: op.gid, atime: op.atime, mtime: op.mtime, winattr: op.winattr });
  node.ctime = a.ts;
  touch(node, a.stamp, "mode", "uid", "gid", "atime", "mtime", "ctime", "winattr");
  if (op.aclMode !== null) touch(node, a.stamp, "aclAccess");
  return { status: Status.OK, attr: fillAttr(node, null, viewerOf(a.caller)) };
}

/** Whether an atime read at `atime` moves the stored atime (mfsmaster's default relatime mode). */
function atimeAdvances(node: Node, atime: number): boolean {
  if (node.atime >= atime) return false;
  const day = 86_400;
  return (node.atime <= node.ctime && atime >= node.ctime) || (node.atime <= node.mtime && atime >= node.mtime)
    || node.atime + day < atime;
}

export function planAmtime(p: Planning, cmd: CommandOf<"amtime">): Planned {
  const changes: AmtimeOp["changes"][number][] = [];
  const touched = new Map<number, { atime: number; mtime: number; ctime: number }>();
  for (const entry of cmd.entries) {
    const node = findNode(p.st, p.ctx.rootInode, entry.inode, true);
    if (node === null) continue;
    const current = touched.get(node.inode) ?? { atime: node.atime, mtime: node.mtime, ctime: node.ctime };
    const view = { ...node, ...current };
    const next = { ...current };
    if (atimeAdvances(view, entry.atime)) next.atime = entry.atime;
    if (current.mtime < entry.mtime) next.mtime = next.ctime = entry.mtime;
    if (next.atime !== current.atime || next.mtime !== current.mtime) touched.set(node.inode, next);
  }
  for (const [inode, times] of touched) changes.push({ inode, ...times });
  return changes.length === 0 ? ok : { kind: "amtime", changes };
}

export function applyAmtime(a: Applying, op: AmtimeOp): Result {
  for (const change of op.changes) {
    const node = requireNode(a.st, change.inode);
    node.atime = change.atime;
    node.mtime = change.mtime;
    node.ctime = change.ctime;
    touch(node, a.stamp, "atime", "mtime", "ctime");
  }
  return ok;
}
