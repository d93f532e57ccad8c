/**
 * File data requests (protocol §3.4 "File data" and the CHECK / SNAPSHOT tools) → the metadata
 * tier's chunk commands, and their results → the replies mfsmount and the mfs tools expect.
 *
 * | request                          | command        | success reply                          |
 * |----------------------------------|----------------|----------------------------------------|
 * | READ_CHUNK 432                   | readchunk      | 433 chunk location (protocolid 2)      |
 * | WRITE_CHUNK 434                  | writechunk     | 435 chunk location (protocolid 2)      |
 * | WRITE_CHUNK_END 436 (29 / 24-25) | writechunkend  | 437 status                             |
 * | CHECK 440 without index          | checkfile      | 441 `12 × count:32`                    |
 * | CHECK 440 with index             | checkchunk     | 441 `chunkid version n × [ip port type]`|
 * | SNAPSHOT 468                     | snapshot       | 469 status                             |
 *
 * The shard names chunkservers by csid; clients need addresses, which only the gateway's
 * chunkserver registry knows: the `ChunkserverLocator` turns each csid into one at reply time, and
 * a chunkserver it does not know now is left out (as mfsmaster leaves out disconnected servers).
 * Without a locator (no chunk tier configured) the requests whose replies list chunkservers are
 * answered ENOTSUP without asking anyone.
 *
 * Session rules, in mfsmaster's order (matoclserv_fuse_*): export `disable=` bits (EPERM) before
 * the read-only check (EROFS); the chunk index limit (INDEXTOOBIG) is checked here too. All five
 * requests work the same on mount and tools sessions: 3.0.117 tools reach us through the mount's
 * master proxy (a mount session), older ones register rcode 4 (a tools session).
 */
import { codes, type ChunkServerLocation, type ClientRequest, type MasterReply } from "@antler/mfs-wire";
import {
  ChunkOpFlag,
  CopyState,
  SessionFlag,
  Status,
  nameFromBytes,
  type ChunkLocation,
  type CommandKind,
  type CommandOf,
  type Success,
} from "@antler/ops";
import type { ChunkserverLocator, SessionRecord } from "./api.ts";
import { disableBit } from "./exports.ts";
import { anonymousGid, inodeIn, type Caller } from "./identity.ts";
import type { Plan } from "./translate.ts";

export type FileDataRequest = Extract<ClientRequest, { kind: "readchunk" | "writechunk" | "writechunkend" | "check" | "snapshot" }>;

/** mfsmaster's MAX_INDEX: a file has at most 2^31 chunks; a larger index is INDEXTOOBIG. */
export const chunkIndexMax = 0x7fffffff;

/**
 * The index a writechunkend carries when the client used the old WRITE_CHUNK_END form (24/25
 * bytes, clients before 3.0.74), which has none. mfsmaster reads index 0 there but never uses it
 * for the unlock (fs_writeend works by chunk id; the index only addresses CHUNK_HAS_CHANGED
 * notifications), so the shard must find the chunk by `chunkId`; a made-up 0 could name a
 * different chunk of the file.
 */
export const unknownChunkIndex = -1;

/**
 * Clients from 3.0.74 on report data mtimes themselves (AMTIME_INODES), so mfsmaster clears
 * CHUNKOPFLAG_CANMODTIME in their chunkopflags; older ones get it set when they send no flags.
 */
const clientReportsModTimeFrom = 0x0003004a;

/** CHECK_* copy types of a CHECK-with-index reply, as mfsfileinfo prints them (MFSCommunication.h). */
export const CheckCopyType = { VALID: 0, MARKED_FOR_REMOVAL: 1, WRONG_VERSION: 2, WRONG_VERSION_AND_MARKED: 3, INVALID: 4 } as const;

/** CHECK without index always answers 12 counts: copies 0..9, 10 or more, and empty (zero) chunks. */
const checkCountsLength = 12;

/** READ/WRITE_CHUNK, WRITE_CHUNK_END and CHECK carry no credentials: OPEN checked permissions. */
const noCredentials: Caller = { uid: 0, gids: [anonymousGid] };

/** SNAPSHOT_MODE_DELETE (mfsrmsnapshot): the export's unlink/rmdir disables apply instead of snapshot. */
const snapshotModeDelete = 0x80;

export function translateFileData(session: SessionRecord, request: FileDataRequest, locator: ChunkserverLocator | undefined): Plan {
  const readOnly = (session.sesflags & SessionFlag.READONLY) !== 0;
  const disabled = (name: keyof typeof disableBit): boolean => (session.disables & (1 << disableBit[name])) !== 0;
  const inode = (n: number): number => inodeIn(session, n);

  switch (request.kind) {
    case "readchunk": {
      const type = codes.MATOCL_FUSE_READ_CHUNK;
      if (disabled("read")) return status(type, request.msgid, Status.EPERM);
      if (request.chunkIndex > chunkIndexMax) return status(type, request.msgid, Status.INDEXTOOBIG);
      if (locator === undefined) return status(type, request.msgid, Status.ENOTSUP);
      return call({ kind: "readchunk", inode: inode(request.inode), index: request.chunkIndex }, noCredentials, type, request.msgid, (result) => {
        const servers = locate(result.csids, locator);
        // Every listed copy is on a chunkserver that is gone right now: the client retries a
        // status at once, but an empty list only after 10 s (readdata.c).
        if (servers.length === 0 && result.csids.length > 0) return statusReply(type, request.msgid, Status.CSNOTPRESENT);
        return locationReply(type, request.msgid, result, servers);
      });
    }
    case "writechunk": {
      const type = codes.MATOCL_FUSE_WRITE_CHUNK;
      if (disabled("write")) return status(type, request.msgid, Status.EPERM);
      if (readOnly) return status(type, request.msgid, Status.EROFS);
      if (request.chunkIndex > chunkIndexMax) return status(type, request.msgid, Status.INDEXTOOBIG);
      if (locator === undefined) return status(type, request.msgid, Status.ENOTSUP);
      const flags = chunkOpFlags(session, request.chunkOpFlags);
      return call({ kind: "writechunk", inode: inode(request.inode), index: request.chunkIndex, flags }, noCredentials, type, request.msgid, (result) => {
        // The chunk is locked for this client now. Unlike reads, an unreachable chain is answered
        // with the empty list, as mfsmaster does: mfsmount then unlocks the chunk itself
        // (WRITE_CHUNK_END with length 0) and retries later, while after an error status it never
        // unlocks, and every retry would meet LOCKED until the lock expires (chunkWriteLockMs).
        return locationReply(type, request.msgid, result, locate(result.csids, locator));
      });
    }
    case "writechunkend": {
      const type = codes.MATOCL_FUSE_WRITE_CHUNK_END;
      if (disabled("write")) return status(type, request.msgid, Status.EPERM);
      if (readOnly) return status(type, request.msgid, Status.EROFS);
      if (request.length > BigInt(Number.MAX_SAFE_INTEGER)) return status(type, request.msgid, Status.EINVAL);
      const command: CommandOf<"writechunkend"> = {
        kind: "writechunkend",
        inode: inode(request.inode),
        index: request.chunkIndex ?? unknownChunkIndex,
        chunkId: request.chunkId,
        length: Number(request.length),
        flags: chunkOpFlags(session, request.chunkOpFlags),
      };
      return call(command, noCredentials, type, request.msgid, () => statusReply(type, request.msgid, Status.OK));
    }
    case "check": {
      const type = codes.MATOCL_FUSE_CHECK;
      if (request.chunkIndex === null) {
        return call({ kind: "checkfile", inode: inode(request.inode) }, noCredentials, type, request.msgid, (result) => {
          return { kind: "check-counts", msgid: request.msgid, counts: checkCounts(result.counts) };
        });
      }
      if (request.chunkIndex > chunkIndexMax) return status(type, request.msgid, Status.INDEXTOOBIG);
      if (locator === undefined) return status(type, request.msgid, Status.ENOTSUP);
      return call({ kind: "checkchunk", inode: inode(request.inode), index: request.chunkIndex }, noCredentials, type, request.msgid, (result) => {
        const copies: { ip: number; port: number; type: number }[] = [];
        for (const copy of result.copies) {
          const address = locator(copy.csid);
          if (address !== undefined) copies.push({ ip: address.ip, port: address.port, type: checkCopyType(copy.state) });
        }
        return { kind: "check-chunk", msgid: request.msgid, chunkId: result.chunkId, version: result.version, copies };
      });
    }
    case "snapshot": {
      const type = codes.MATOCL_FUSE_SNAPSHOT;
      const forbidden = (request.smode & snapshotModeDelete) !== 0 ? disabled("unlink") || disabled("rmdir") : disabled("snapshot");
      if (forbidden) return status(type, request.msgid, Status.EPERM);
      if (readOnly) return status(type, request.msgid, Status.EROFS);
      const command: CommandOf<"snapshot"> = {
        kind: "snapshot",
        inode: inode(request.inode),
        parentDst: inode(request.parentDst),
        nameDst: nameFromBytes(request.nameDst),
        smode: request.smode,
        umask: request.umask | session.umask,
      };
      return call(command, { uid: request.credentials.uid, gids: request.credentials.gids }, type, request.msgid, () => statusReply(type, request.msgid, Status.OK));
    }
  }
}

/** chunkopflags as mfsmaster passes them on: CANMODTIME only for clients that do not report mtimes. */
function chunkOpFlags(session: SessionRecord, sent: number | null): number {
  const flags = sent ?? ChunkOpFlag.CAN_MODTIME;
  return session.clientVersion >= clientReportsModTimeFrom ? flags & ~ChunkOpFlag.CAN_MODTIME : flags;
}

/** Addresses of the chunkservers, in the shard's order; ones unknown right now are left out. */
function locate(csids: readonly number[], locator: ChunkserverLocator): ChunkServerLocation[] {
  const servers: ChunkServerLocation[] = [];
  for (const csid of csids) {
    const address = locator(csid);
    if (address !== undefined) servers.push({ ip: address.ip, port: address.port, version: address.version, labelMask: address.labelMask });
  }
  return servers;
}

function locationReply(type: number, msgid: number, location: ChunkLocation, servers: ChunkServerLocation[]): MasterReply {
  return { kind: "chunk-location", type, msgid, length: BigInt(location.length), chunkId: location.chunkId, version: location.version, servers };
}

/**
 * The copy state a shard reports → mfsfileinfo's copy type. mfsmaster shows a copy that is busy
 * (being modified) as valid; a state this gateway does not know is shown as invalid.
 */
export function checkCopyType(state: number): number {
  switch (state) {
    case CopyState.VALID:
    case CopyState.BUSY:
      return CheckCopyType.VALID;
    case CopyState.TO_DELETE:
      return CheckCopyType.MARKED_FOR_REMOVAL;
    case CopyState.WRONG_VERSION:
      return CheckCopyType.WRONG_VERSION;
    default:
      return CheckCopyType.INVALID;
  }
}

/**
 * Exactly the 12 counts mfscheckfile reads (a 52-byte reply; any other length is "wrong answer"):
 * missing ones are 0, extra ones are dropped.
 */
function checkCounts(counts: readonly number[]): number[] {
  return Array.from({ length: checkCountsLength }, (_, i) => counts[i] ?? 0);
}

function status(type: number, msgid: number, value: number): Plan {
  return { kind: "reply", reply: statusReply(type, msgid, value) };
}

function statusReply(type: number, msgid: number, value: number): MasterReply {
  return { kind: "status", type, msgid, status: value };
}

function call<K extends CommandKind>(command: CommandOf<K>, caller: Caller, type: number, msgid: number, success: (ok: Success<K>) => MasterReply): Plan {
  return { kind: "call", command, caller, msgid, replyType: type, success: (result) => success(result as Success<K>) };
}
