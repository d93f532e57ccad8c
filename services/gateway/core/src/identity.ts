/**
 * How a session's export rules change who the caller is and what it sees, as mfsmaster does:
 *
 * - sessions_ugid_remap: uid 0 becomes the maproot uid and the primary gid the maproot gid; with
 *   SESFLAG_MAPALL every other uid becomes the mapall uid and the primary gid the mapall gid. The
 *   other gids of the list stay as sent.
 * - fsnodes_fill_attr: on a MAPALL session, for a caller that was not root, an owner equal to the
 *   mapped uid is shown as the caller's own uid and anything else as 0 (likewise for the group),
 *   and attributes are not cached (MATTR_NOACACHE).
 * - Subfolder mounts: the client calls the session root inode 1; the cluster calls it rootInode.
 */
import { AttrFlag, SessionFlag, type Attr, type Ctx } from "@antler/ops";
import type { SessionRecord } from "./api.ts";

/** The caller as the client sent it, before any mapping. */
export interface Caller {
  readonly uid: number;
  readonly gids: readonly number[];
}

/** A caller for requests that carry no credentials (GETFACL) or only a uid (tool requests). */
export const anonymousGid = 0xffffffff;

export function mappedCaller(session: SessionRecord, caller: Caller): Caller {
  const gids = caller.gids.length > 0 ? [...caller.gids] : [anonymousGid];
  if (caller.uid === 0) {
    gids[0] = session.rootGid;
    return { uid: session.rootUid, gids };
  }
  if ((session.sesflags & SessionFlag.MAPALL) !== 0) {
    gids[0] = session.mapAllGid;
    return { uid: session.mapAllUid, gids };
  }
  return { uid: caller.uid, gids };
}

export function ctxFor(session: SessionRecord, caller: Caller, requestId: string): Ctx {
  const mapped = mappedCaller(session, caller);
  return {
    sessionId: session.sessionId,
    uid: mapped.uid,
    gids: mapped.gids,
    sesflags: session.sesflags,
    rootInode: session.rootInode,
    requestId,
  };
}

/** Client inode → cluster inode. */
export function inodeIn(session: SessionRecord, inode: number): number {
  return inode === 1 ? session.rootInode : inode;
}

/** Cluster inode → client inode. */
export function inodeOut(session: SessionRecord, inode: number): number {
  return inode === session.rootInode ? 1 : inode;
}

/** The attributes as this caller of this session sees them. */
export function attrOut(session: SessionRecord, caller: Caller, attr: Attr): Attr {
  if ((session.sesflags & SessionFlag.MAPALL) === 0) return attr;
  const flags = attr.flags | AttrFlag.NOACACHE;
  if (caller.uid === 0) return { ...attr, flags };
  const mapped = mappedCaller(session, caller);
  const callerGid = caller.gids[0] ?? anonymousGid;
  return {
    ...attr,
    flags,
    uid: attr.uid === mapped.uid ? caller.uid : 0,
    gid: attr.gid === mapped.gids[0] ? callerGid : 0,
  };
}
