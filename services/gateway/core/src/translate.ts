/**
 * One registered request → what to do with it: a Command for the metadata tier plus how to turn
 * its Result into the MooseFS reply, a reply answered here (read-only session, disabled operation,
 * session limits, not supported), or nothing (housekeeping packets that expect no reply). File
 * data requests (chunks, CHECK, SNAPSHOT) are translated in file-data.ts.
 *
 * Session rules applied here, as mfsmaster applies them before its filesystem code runs:
 * read-only sessions (EROFS for changes), export `disable=` bits (EPERM), goal and trash-time
 * limits of the session (EPERM), the export umask (OR'ed into create modes), maproot/mapall
 * (identity.ts) and the subfolder root (inode 1 ↔ rootInode, both ways).
 */
import { AssertionError } from "@antler/base";
import type { ClientRequest, MasterReply } from "@antler/mfs-wire";
import { codes } from "@antler/mfs-wire";
import {
  AccessMask,
  FlockCmd,
  NodeType,
  OpenFlag,
  PosixLockCmd,
  PosixLockType,
  SessionFlag,
  Status,
  nameFromBytes,
  nameToBytes,
  type Attr,
  type Command,
  type CommandKind,
  type CommandOf,
  type NodeReply,
  type Result,
  type SetCounts,
  type Success,
  type ValueCounts,
} from "@antler/ops";
import type { ChunkserverLocator, SessionRecord } from "./api.ts";
import { disableBit } from "./exports.ts";
import { translateFileData } from "./file-data.ts";
import { anonymousGid, attrOut, inodeIn, inodeOut, mappedCaller, type Caller } from "./identity.ts";

/** The lflags a shard answers when it cannot compute them (shard-core lookup.ts). */
const lookupFlagsUnknown = 0xffff;

/** Which kind of registered connection a request arrived on (GETDIRSTATS answers differ). */
export type SessionKind = "mount" | "tools";

export type Plan =
  /**
   * Ask the metadata tier. A failed result becomes a status reply of `replyType`; a successful one
   * goes through `success`. `replyType` null: the packet expects no reply at all.
   */
  | {
      readonly kind: "call";
      readonly command: Command;
      readonly caller: Caller;
      readonly msgid: number;
      readonly replyType: number | null;
      readonly success: (result: Result) => MasterReply;
    }
  /** Answer here without asking anyone. */
  | { readonly kind: "reply"; readonly reply: MasterReply }
  /** A lock request that may have to wait: retried as its TRY variant until granted. */
  | { readonly kind: "blocking-lock"; readonly msgid: number; readonly replyType: number; readonly command: Command; readonly caller: Caller }
  /** Cancels a waiting blocking lock of the same inode, owner and reqid. */
  | { readonly kind: "lock-interrupt"; readonly msgid: number; readonly replyType: number; readonly inode: number; readonly owner: bigint; readonly reqid: number }
  | { readonly kind: "none" };

function status(type: number, msgid: number, value: number): Plan {
  return { kind: "reply", reply: { kind: "status", type, msgid, status: value } };
}

function disabled(session: SessionRecord, name: keyof typeof disableBit): boolean {
  return (session.disables & (1 << disableBit[name])) !== 0;
}

function readOnly(session: SessionRecord): boolean {
  return (session.sesflags & SessionFlag.READONLY) !== 0;
}

/** SMODE_* in its low two bits: SET 0, INCREASE 1, DECREASE 2, EXCHANGE 3 (sessions_check_goal). */
function withinLimits(smode: number, value: number, min: number, max: number): boolean {
  switch (smode & 3) {
    case 0:
    case 3:
      return value >= min && value <= max;
    case 1:
      return value <= max;
    default:
      return value >= min;
  }
}

function credentialsCaller(credentials: { readonly uid: number; readonly gids: readonly number[] }): Caller {
  return { uid: credentials.uid, gids: credentials.gids };
}

function uidOnlyCaller(uid: number): Caller {
  return { uid, gids: [anonymousGid] };
}

function valueCounts(counts: ValueCounts): { files: { value: number; count: number }[]; dirs: { value: number; count: number }[] } {
  return { files: counts.files.map((c) => ({ ...c })), dirs: counts.dirs.map((c) => ({ ...c })) };
}

/** A path or symlink target as MooseFS sends it: bytes plus a trailing NUL. */
function withNul(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function withoutNul(bytes: Uint8Array): Uint8Array {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0 ? bytes.subarray(0, bytes.length - 1) : bytes;
}

/**
 * `locator` turns the shard's chunkserver ids into addresses for READ/WRITE_CHUNK and CHECK
 * replies; without it those requests are answered ENOTSUP (file-data.ts).
 */
export function translateRequest(session: SessionRecord, sessionKind: SessionKind, request: ClientRequest, locator?: ChunkserverLocator): Plan {
  const ro = readOnly(session);
  const inode = (n: number): number => inodeIn(session, n);
  const out = (n: number): number => inodeOut(session, n);
  /** A call whose successful result is answered by `success` (typed by the command's kind). */
  function call<K extends CommandKind>(command: CommandOf<K>, caller: Caller, type: number, msgid: number, success: (ok: Success<K>) => MasterReply): Plan {
    return { kind: "call", command, caller, msgid, replyType: type, success: (result) => success(result as Success<K>) };
  }
  /** A call that is answered by a bare status, also on success. */
  function statusCall(command: Command, caller: Caller, type: number, msgid: number): Plan {
    return { kind: "call", command, caller, msgid, replyType: type, success: () => ({ kind: "status", type, msgid, status: Status.OK }) };
  }
  /** A call that expects no reply (housekeeping packets without msgid). */
  function silentCall(command: Command): Plan {
    return { kind: "call", command, caller: uidOnlyCaller(0), msgid: 0, replyType: null, success: () => ({ kind: "nop" }) };
  }

  switch (request.kind) {
    case "statfs": {
      const type = codes.MATOCL_FUSE_STATFS;
      return call({ kind: "statfs" }, { uid: 0, gids: [0] }, type, request.msgid, (result) => {
        return {
          kind: "statfs",
          msgid: request.msgid,
          totalSpace: BigInt(result.totalSpace),
          availSpace: BigInt(result.availSpace),
          freeSpace: BigInt(result.freeSpace),
          trashSpace: BigInt(result.trashSpace),
          sustainedSpace: BigInt(result.sustainedSpace),
          inodes: result.inodes,
        };
      });
    }
    case "access": {
      const type = codes.MATOCL_FUSE_ACCESS;
      if (ro && (request.modemask & AccessMask.W) !== 0) return status(type, request.msgid, Status.EROFS);
      return statusCall({ kind: "access", inode: inode(request.inode), modemask: request.modemask }, credentialsCaller(request.credentials), type, request.msgid);
    }
    case "lookup": {
      const caller = credentialsCaller(request.credentials);
      const type = codes.MATOCL_FUSE_LOOKUP;
      return call({ kind: "lookup", parent: inode(request.parent), name: nameFromBytes(request.name) }, caller, type, request.msgid, (result) => {
        // 0xFFFF from a shard = "unknown" (a node of another shard whose rights its attributes
        // cannot tell): the 40-byte reply without lflags, so mfsmount asks for every access
        // instead of caching bits it would read as read-only and immutable.
        // A read-only session is flagged LOOKUP_RO_FILESYSTEM; mfsmount then refuses writes itself.
        const lflags = result.lflags === lookupFlagsUnknown ? null : ro ? result.lflags | codes.LookupFlag.RO_FILESYSTEM : result.lflags;
        return { kind: "lookup", msgid: request.msgid, inode: out(result.inode), attr: attrOut(session, caller, result.attr), lflags, chunk: null };
      });
    }
    case "getattr": {
      // GETATTR carries `uid gid`, not a CRED block; the 8-byte form has none (mfsmaster uses 12345).
      const caller: Caller = { uid: request.uid ?? 12345, gids: [request.gid ?? 12345] };
      const type = codes.MATOCL_FUSE_GETATTR;
      return call({ kind: "getattr", inode: inode(request.inode), opened: request.opened === 1 }, caller, type, request.msgid, attrReply(session, caller, type, request.msgid));
    }
    case "setattr": {
      const type = codes.MATOCL_FUSE_SETATTR;
      const caller = credentialsCaller(request.credentials);
      // fs_setattr refuses read-only sessions outright, even a setmask-0 "just return attributes".
      if (ro) return status(type, request.msgid, Status.EROFS);
      if ((disabled(session, "chown") && (request.setmask & 0x0c) !== 0) || (disabled(session, "chmod") && (request.setmask & 0x02) !== 0)) {
        return status(type, request.msgid, Status.EPERM);
      }
      return call(
        {
          kind: "setattr",
          inode: inode(request.inode),
          opened: request.opened === 1,
          setmask: request.setmask,
          mode: request.mode,
          uid: request.uid,
          gid: request.gid,
          atime: request.atime,
          mtime: request.mtime,
          winattr: request.winattr,
          sugidclearmode: request.sugidclearmode,
        },
        caller,
        type, request.msgid, attrReply(session, caller, type, request.msgid),
      );
    }
    case "readlink": {
      const type = codes.MATOCL_FUSE_READLINK;
      return call({ kind: "readlink", inode: inode(request.inode) }, { uid: 0, gids: [0] }, type, request.msgid, (result) => {
        return { kind: "readlink", msgid: request.msgid, path: withNul(nameToBytes(result.target)) };
      });
    }
    case "symlink": {
      const type = codes.MATOCL_FUSE_SYMLINK;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "symlink")) return status(type, request.msgid, Status.EPERM);
      // The target's limits (empty, MFS_SYMLINK_MAX) are checked by the shard like every other
      // filesystem rule; only the trailing NUL is wire format.
      const target = withoutNul(request.path);
      const caller = credentialsCaller(request.credentials);
      return call(
        { kind: "symlink", parent: inode(request.parent), name: nameFromBytes(request.name), target: nameFromBytes(target) },
        caller,
        type, request.msgid, nodeReply(session, caller, type, request.msgid),
      );
    }
    case "mknod": {
      const type = codes.MATOCL_FUSE_MKNOD;
      if (ro) return status(type, request.msgid, Status.EROFS);
      const which = request.type === NodeType.FIFO ? "mkfifo" : request.type === NodeType.SOCKET ? "mksock" : request.type === NodeType.FILE ? "create" : "mkdev";
      if (disabled(session, which)) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      return call(
        {
          kind: "mknod",
          parent: inode(request.parent),
          name: nameFromBytes(request.name),
          type: request.type,
          mode: request.mode,
          umask: request.umask | session.umask,
          rdev: request.rdev,
        },
        caller,
        type, request.msgid, nodeReply(session, caller, type, request.msgid),
      );
    }
    case "mkdir": {
      const type = codes.MATOCL_FUSE_MKDIR;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "mkdir")) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      return call(
        {
          kind: "mkdir",
          parent: inode(request.parent),
          name: nameFromBytes(request.name),
          mode: request.mode,
          umask: request.umask | session.umask,
          copysgid: request.copysgid !== 0,
        },
        caller,
        type, request.msgid, nodeReply(session, caller, type, request.msgid),
      );
    }
    case "create": {
      const type = codes.MATOCL_FUSE_CREATE;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "create")) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      return call(
        { kind: "create", parent: inode(request.parent), name: nameFromBytes(request.name), mode: request.mode, umask: request.umask | session.umask },
        caller,
        type,
        request.msgid,
        (result) => {
          return { kind: "create", msgid: request.msgid, oflags: result.oflags, inode: out(result.inode), attr: attrOut(session, caller, result.attr) };
        },
      );
    }
    case "unlink":
    case "rmdir": {
      const type = request.kind === "unlink" ? codes.MATOCL_FUSE_UNLINK : codes.MATOCL_FUSE_RMDIR;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, request.kind)) return status(type, request.msgid, Status.EPERM);
      return call({ kind: request.kind, parent: inode(request.parent), name: nameFromBytes(request.name) }, credentialsCaller(request.credentials), type, request.msgid, (result) => {
        return { kind: "removed", type, msgid: request.msgid, inode: out(result.inode) };
      });
    }
    case "rename": {
      const type = codes.MATOCL_FUSE_RENAME;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "rename") || (request.parentSrc !== request.parentDst && disabled(session, "move"))) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      return call(
        {
          kind: "rename",
          parentSrc: inode(request.parentSrc),
          nameSrc: nameFromBytes(request.nameSrc),
          parentDst: inode(request.parentDst),
          nameDst: nameFromBytes(request.nameDst),
        },
        caller,
        type, request.msgid, nodeReply(session, caller, type, request.msgid),
      );
    }
    case "link": {
      const type = codes.MATOCL_FUSE_LINK;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "link")) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      return call(
        { kind: "link", inode: inode(request.inode), parentDst: inode(request.parentDst), nameDst: nameFromBytes(request.nameDst) },
        caller,
        type, request.msgid, nodeReply(session, caller, type, request.msgid),
      );
    }
    case "readdir": {
      const type = codes.MATOCL_FUSE_READDIR;
      if (disabled(session, "readdir")) return status(type, request.msgid, Status.EPERM);
      const caller = credentialsCaller(request.credentials);
      const withAttr = (request.flags & codes.ReaddirFlag.WITHATTR) !== 0;
      return call({ kind: "readdir", inode: inode(request.inode), withAttr, maxEntries: request.maxEntries }, caller, type, request.msgid, (result) => {
        const entries = result.entries.map((entry) => {
          const name = nameToBytes(entry.name);
          const entryInode = out(entry.inode);
          if (!withAttr) return { name, inode: entryInode, type: entry.attr?.type ?? entry.type };
          // The message is built only on failure: this runs for every entry.
          if (entry.attr === undefined) throw new AssertionError(`readdir result without attributes for ${entry.inode}`);
          return { name, inode: entryInode, attr: attrOut(session, caller, entry.attr) };
        });
        // mfsmaster 3.0.117 echoes the request's nedgeid; mfsmount ignores it.
        return { kind: "readdir", msgid: request.msgid, nedgeId: request.nedgeId, entries };
      });
    }
    case "open": {
      const type = codes.MATOCL_FUSE_OPEN;
      // As fs_opencheck: only a write open is refused on a read-only session.
      if (ro && (request.flags & OpenFlag.WRITE) !== 0) return status(type, request.msgid, Status.EROFS);
      const caller = credentialsCaller(request.credentials);
      return call({ kind: "open", inode: inode(request.inode), flags: request.flags }, caller, type, request.msgid, (result) => {
        return { kind: "open", msgid: request.msgid, oflags: result.oflags, attr: attrOut(session, caller, result.attr) };
      });
    }
    case "truncate": {
      const type = codes.MATOCL_FUSE_TRUNCATE;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "truncate")) return status(type, request.msgid, Status.EPERM);
      if (request.length > BigInt(Number.MAX_SAFE_INTEGER)) return status(type, request.msgid, Status.EINVAL);
      const caller = credentialsCaller(request.credentials);
      return call({ kind: "truncate", inode: inode(request.inode), flags: request.flags, length: Number(request.length) }, caller, type, request.msgid, (result) => {
        return { kind: "truncate", msgid: request.msgid, prevLength: BigInt(result.prevLength), attr: attrOut(session, caller, result.attr) };
      });
    }
    case "getxattr": {
      const type = codes.MATOCL_FUSE_GETXATTR;
      if (request.mode > 1) return status(type, request.msgid, Status.EINVAL);
      return call(
        { kind: "getxattr", inode: inode(request.inode), name: nameFromBytes(request.name), mode: request.mode, opened: request.opened === 1 },
        credentialsCaller(request.credentials),
        type,
        request.msgid,
        (result) => {
          const value = request.mode === 1 ? null : (result.value ?? new Uint8Array(0));
          return { kind: "xattr", msgid: request.msgid, length: value === null ? result.length : value.length, value };
        },
      );
    }
    case "setxattr": {
      const type = codes.MATOCL_FUSE_SETXATTR;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "setxattr")) return status(type, request.msgid, Status.EPERM);
      return statusCall(
        { kind: "setxattr", inode: inode(request.inode), name: nameFromBytes(request.name), value: request.value, mode: request.mode, opened: request.opened === 1 },
        credentialsCaller(request.credentials),
        type,
        request.msgid,
      );
    }
    case "getfacl": {
      const type = codes.MATOCL_FUSE_GETFACL;
      return call({ kind: "getfacl", inode: inode(request.inode), acltype: request.acltype }, uidOnlyCaller(anonymousGid), type, request.msgid, (result) => {
        const acl = result.acl;
        return {
          kind: "getfacl",
          msgid: request.msgid,
          userPerm: acl.userPerm,
          groupPerm: acl.groupPerm,
          otherPerm: acl.otherPerm,
          mask: acl.mask,
          users: acl.users.map((e) => ({ id: e.id, perm: e.perm })),
          groups: acl.groups.map((e) => ({ id: e.id, perm: e.perm })),
        };
      });
    }
    case "setfacl": {
      const type = codes.MATOCL_FUSE_SETFACL;
      if (ro) return status(type, request.msgid, Status.EROFS);
      if (disabled(session, "setfacl")) return status(type, request.msgid, Status.EPERM);
      // All four permissions unset and no named entries removes the ACL.
      const removes =
        request.userPerm === 0xffff && request.groupPerm === 0xffff && request.otherPerm === 0xffff && request.mask === 0xffff &&
        request.users.length === 0 && request.groups.length === 0;
      const acl = removes
        ? null
        : {
            userPerm: request.userPerm,
            groupPerm: request.groupPerm,
            otherPerm: request.otherPerm,
            mask: request.mask,
            users: request.users.map((e) => ({ id: e.id, perm: e.perm })),
            groups: request.groups.map((e) => ({ id: e.id, perm: e.perm })),
          };
      return statusCall({ kind: "setfacl", inode: inode(request.inode), acltype: request.acltype, acl }, uidOnlyCaller(request.uid), type, request.msgid);
    }
    case "flock": {
      const type = codes.MATOCL_FUSE_FLOCK;
      const target = inode(request.inode);
      if (request.cmd === FlockCmd.INTERRUPT) {
        return { kind: "lock-interrupt", msgid: request.msgid, replyType: type, inode: target, owner: request.owner, reqid: request.reqid };
      }
      if (request.cmd > FlockCmd.RELEASE) return status(type, request.msgid, Status.EINVAL);
      const caller = uidOnlyCaller(0);
      if (request.cmd === FlockCmd.LOCK_SHARED || request.cmd === FlockCmd.LOCK_EXCLUSIVE) {
        const tryCmd = request.cmd === FlockCmd.LOCK_SHARED ? FlockCmd.TRY_SHARED : FlockCmd.TRY_EXCLUSIVE;
        return {
          kind: "blocking-lock",
          msgid: request.msgid,
          replyType: type,
          command: { kind: "flock", inode: target, reqid: request.reqid, owner: request.owner, cmd: tryCmd },
          caller,
        };
      }
      return statusCall({ kind: "flock", inode: target, reqid: request.reqid, owner: request.owner, cmd: request.cmd }, caller, type, request.msgid);
    }
    case "posixlock": {
      const type = codes.MATOCL_FUSE_POSIX_LOCK;
      const target = inode(request.inode);
      if (request.cmd === PosixLockCmd.INTERRUPT) {
        return { kind: "lock-interrupt", msgid: request.msgid, replyType: type, inode: target, owner: request.owner, reqid: request.reqid };
      }
      if (request.cmd > PosixLockCmd.INTERRUPT || request.type > PosixLockType.WRLCK) return status(type, request.msgid, Status.EINVAL);
      const command = (cmd: number): CommandOf<"posixlock"> => ({
        kind: "posixlock",
        inode: target,
        reqid: request.reqid,
        owner: request.owner,
        pid: request.pid,
        cmd,
        type: request.type,
        start: request.start,
        end: request.end,
      });
      const caller = uidOnlyCaller(0);
      if (request.cmd === PosixLockCmd.SET && request.type !== PosixLockType.UNLCK) {
        return { kind: "blocking-lock", msgid: request.msgid, replyType: type, command: command(PosixLockCmd.TRY), caller };
      }
      if (request.cmd === PosixLockCmd.GET) {
        return call<"posixlock">(command(PosixLockCmd.GET), caller, type, request.msgid, (result) => {
          const lock = result.lock;
          return lock === undefined
            ? { kind: "posixlock-get", msgid: request.msgid, pid: 0, lockType: PosixLockType.UNLCK, start: 0n, end: 0n }
            : { kind: "posixlock-get", msgid: request.msgid, pid: lock.pid, lockType: lock.type, start: lock.start, end: lock.end };
        });
      }
      return statusCall(command(request.cmd), caller, type, request.msgid);
    }
    case "sustained":
      return silentCall({ kind: "sustained", inodes: request.inodes.filter((n) => n !== 0).map(inode) });
    case "amtime": {
      // As matoclserv: entries without an inode or without any time carry nothing.
      const entries = request.entries.filter((e) => e.inode !== 0 && (e.atime !== 0 || e.mtime !== 0));
      if (entries.length === 0) return { kind: "none" };
      return silentCall({ kind: "amtime", entries: entries.map((e) => ({ inode: inode(e.inode), atime: e.atime, mtime: e.mtime })) });
    }
    case "gettrashtime":
    case "geteattr":
    case "getsclass": {
      const type = request.kind === "gettrashtime" ? codes.MATOCL_FUSE_GETTRASHTIME : request.kind === "geteattr" ? codes.MATOCL_FUSE_GETEATTR : codes.MATOCL_FUSE_GETSCLASS;
      if (request.gmode > 1) return status(type, request.msgid, Status.EINVAL);
      const kind = request.kind === "getsclass" ? "getgoal" : request.kind;
      return call({ kind, inode: inode(request.inode), gmode: request.gmode }, uidOnlyCaller(0), type, request.msgid, (result) => {
        const counts = valueCounts(result);
        if (request.kind === "gettrashtime") return { kind: "trashtime-counts", msgid: request.msgid, ...counts };
        if (request.kind === "geteattr") return { kind: "eattr-counts", msgid: request.msgid, ...counts };
        const goals = (list: { value: number; count: number }[]) => list.map((c) => ({ goal: c.value, count: c.count }));
        return { kind: "sclass-counts", msgid: request.msgid, files: goals(counts.files), dirs: goals(counts.dirs) };
      });
    }
    case "settrashtime": {
      const type = codes.MATOCL_FUSE_SETTRASHTIME;
      if (request.smode > 7) return status(type, request.msgid, Status.EINVAL);
      if (disabled(session, "settrash")) return status(type, request.msgid, Status.EPERM);
      if (!withinLimits(request.smode, request.trashtime, session.minTrashTime, session.maxTrashTime)) return status(type, request.msgid, Status.EPERM);
      if (ro) return status(type, request.msgid, Status.EROFS);
      const caller = uidOnlyCaller(request.uid);
      const uid = mappedCaller(session, caller).uid;
      return call({ kind: "settrashtime", inode: inode(request.inode), uid, trashtime: request.trashtime, smode: request.smode }, caller, type, request.msgid, setCountsReply(type, request.msgid));
    }
    case "setsclass": {
      const type = codes.MATOCL_FUSE_SETSCLASS;
      if (request.smode > 7) return status(type, request.msgid, Status.EINVAL);
      if (disabled(session, "setsclass")) return status(type, request.msgid, Status.EPERM);
      // Storage classes by name are not part of Antler's metadata model (only goals 1..9).
      if (!("goal" in request.target)) return status(type, request.msgid, Status.ENOTSUP);
      const goal = request.target.goal;
      if (goal < 1 || goal > 9) return status(type, request.msgid, Status.EINVAL);
      if (!withinLimits(request.smode, goal, session.minGoal, session.maxGoal)) return status(type, request.msgid, Status.EPERM);
      if (ro) return status(type, request.msgid, Status.EROFS);
      const caller = uidOnlyCaller(request.uid);
      const uid = mappedCaller(session, caller).uid;
      return call({ kind: "setgoal", inode: inode(request.inode), uid, goal, smode: request.smode }, caller, type, request.msgid, setCountsReply(type, request.msgid));
    }
    case "seteattr": {
      const type = codes.MATOCL_FUSE_SETEATTR;
      if (request.smode > 7) return status(type, request.msgid, Status.EINVAL);
      if (disabled(session, "seteattr")) return status(type, request.msgid, Status.EPERM);
      if (ro) return status(type, request.msgid, Status.EROFS);
      const caller = uidOnlyCaller(request.uid);
      const uid = mappedCaller(session, caller).uid;
      return call({ kind: "seteattr", inode: inode(request.inode), uid, eattr: request.eattr, smode: request.smode }, caller, type, request.msgid, setCountsReply(type, request.msgid));
    }
    case "getdirstats": {
      const type = codes.MATOCL_FUSE_GETDIRSTATS;
      return call({ kind: "getdirstats", inode: inode(request.inode) }, uidOnlyCaller(0), type, request.msgid, (result) => {
        return {
          kind: "dirstats",
          msgid: request.msgid,
          form: sessionKind,
          inodes: result.inodes,
          dirs: result.dirs,
          files: result.files,
          chunks: result.chunks,
          length: BigInt(result.length),
          size: BigInt(result.size),
          realSize: BigInt(result.realSize),
        };
      });
    }
    case "readchunk":
    case "writechunk":
    case "writechunkend":
    case "check":
    case "snapshot":
      return translateFileData(session, request, locator);
    case "register":
    case "nop":
    case "getversion":
    case "timesync":
      // Handled by the connection before translation.
      return { kind: "none" };
  }
}

function attrReply(session: SessionRecord, caller: Caller, type: number, msgid: number) {
  return (result: { readonly attr: Attr }): MasterReply => ({ kind: "attr", type, msgid, attr: attrOut(session, caller, result.attr) });
}

function nodeReply(session: SessionRecord, caller: Caller, type: number, msgid: number) {
  return (result: NodeReply): MasterReply => ({ kind: "node", type, msgid, inode: inodeOut(session, result.inode), attr: attrOut(session, caller, result.attr) });
}

function setCountsReply(type: number, msgid: number) {
  return (result: SetCounts): MasterReply => ({ kind: "set-counts", type, msgid, changed: result.changed, notChanged: result.notChanged, notPermitted: result.notPermitted });
}
