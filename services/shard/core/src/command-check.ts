/**
 * Shape checks of incoming commands and contexts. Commands arrive decoded from JSON, so a buggy
 * or hostile sender could put anything in them; a command that does not have the fields its kind
 * promises is answered EINVAL instead of reaching (and crashing) a handler.
 */
import { limits } from "@antler/base";
import type { Command, Ctx } from "@antler/ops";
import { isTxParts } from "./txn/index.ts";

type Field = "u32" | "int" | "length" | "name" | "bool" | "bigint" | "bytes" | "acl?" | "u32[]" | "amtimes" | "copies" | "bigint[]"
  | "name?" | "u32?" | "string" | "txparts";

const u32 = "u32";
const schemas: Record<Command["kind"], Record<string, Field>> = {
  statfs: {},
  access: { inode: u32, modemask: "int" },
  lookup: { parent: u32, name: "name" },
  getattr: { inode: u32, opened: "bool" },
  setattr: {
    inode: u32, opened: "bool", setmask: "int", mode: "int", uid: u32, gid: u32, atime: u32, mtime: u32,
    winattr: "int", sugidclearmode: "int",
  },
  readlink: { inode: u32 },
  symlink: { parent: u32, name: "name", target: "name" },
  mknod: { parent: u32, name: "name", type: "int", mode: "int", umask: "int", rdev: u32 },
  mkdir: { parent: u32, name: "name", mode: "int", umask: "int", copysgid: "bool" },
  create: { parent: u32, name: "name", mode: "int", umask: "int" },
  unlink: { parent: u32, name: "name" },
  rmdir: { parent: u32, name: "name" },
  rename: { parentSrc: u32, nameSrc: "name", parentDst: u32, nameDst: "name" },
  link: { inode: u32, parentDst: u32, nameDst: "name" },
  readdir: { inode: u32, withAttr: "bool", maxEntries: "int" },
  open: { inode: u32, flags: "int" },
  truncate: { inode: u32, flags: "int", length: "length" },
  getxattr: { inode: u32, name: "name", mode: "int", opened: "bool" },
  setxattr: { inode: u32, name: "name", value: "bytes", mode: "int", opened: "bool" },
  getfacl: { inode: u32, acltype: "int" },
  setfacl: { inode: u32, acltype: "int", acl: "acl?" },
  flock: { inode: u32, reqid: "int", owner: "bigint", cmd: "int" },
  posixlock: {
    inode: u32, reqid: "int", owner: "bigint", pid: "int", cmd: "int", type: "int", start: "bigint", end: "bigint",
  },
  sustained: { inodes: "u32[]" },
  amtime: { entries: "amtimes" },
  closesession: {},
  gettrashtime: { inode: u32, gmode: "int" },
  settrashtime: { inode: u32, uid: u32, trashtime: u32, smode: "int" },
  getgoal: { inode: u32, gmode: "int" },
  setgoal: { inode: u32, uid: u32, goal: "int", smode: "int" },
  geteattr: { inode: u32, gmode: "int" },
  seteattr: { inode: u32, uid: u32, eattr: "int", smode: "int" },
  getdirstats: { inode: u32 },
  readchunk: { inode: u32, index: u32 },
  writechunk: { inode: u32, index: u32, flags: "int" },
  writechunkend: { inode: u32, index: "int", chunkId: "bigint", length: "length", flags: "int" },
  checkfile: { inode: u32 },
  checkchunk: { inode: u32, index: u32 },
  snapshot: { inode: u32, parentDst: u32, nameDst: "name", smode: "int", umask: "int" },
  chunkscopies: { slot: u32, csid: u32, fullReport: "bool", copies: "copies" },
  chunksgone: { slot: u32, csid: u32, chunkIds: "bigint[]" },
  chunkserverreset: { csid: u32 },
  txinspect: { inode: u32, name: "name?" },
  txprepare: { slot: u32, txid: "string", parts: "txparts", clientRequestId: "string" },
  txcommit: { slot: u32, txid: "string", newInode: "u32?" },
  txabort: { slot: u32, txid: "string" },
  fsckdump: { slot: u32, afterInode: u32, max: "int" },
};

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

function isU32(v: unknown): boolean {
  return isInt(v) && v >= 0 && v <= 0xffffffff;
}

function isName(v: unknown): boolean {
  return typeof v === "string" && !/[^\x00-\xff]/.test(v);
}

function isAclEntry(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const entry = e as Record<string, unknown>;
  return isU32(entry.id) && isInt(entry.perm);
}

function isAclEntries(v: unknown): boolean {
  return Array.isArray(v) && v.length <= limits.aclEntriesMax && v.every(isAclEntry);
}

function isAcl(v: unknown): boolean {
  if (v === null) return true;
  if (typeof v !== "object") return false;
  const acl = v as Record<string, unknown>;
  return [acl.userPerm, acl.groupPerm, acl.otherPerm, acl.mask].every(isInt) && isAclEntries(acl.users) && isAclEntries(acl.groups);
}

function isAmtimes(v: unknown): boolean {
  return Array.isArray(v) && v.length <= limits.inodeListEntriesMax && v.every((e: unknown) => {
    const entry = e as Record<string, unknown> | null;
    return typeof entry === "object" && entry !== null && isU32(entry.inode) && isU32(entry.atime) && isU32(entry.mtime);
  });
}

function isCopies(v: unknown): boolean {
  return Array.isArray(v) && v.length <= limits.chunkReportBatchMax && v.every((e: unknown) => {
    const copy = e as Record<string, unknown> | null;
    return typeof copy === "object" && copy !== null && typeof copy.chunkId === "bigint" && isU32(copy.version);
  });
}

function fieldOk(field: Field, v: unknown): boolean {
  switch (field) {
    case "u32": return isU32(v);
    case "int": return isInt(v);
    case "length": return isInt(v) && v >= 0;
    case "name": return isName(v);
    case "bool": return typeof v === "boolean";
    case "bigint": return typeof v === "bigint";
    case "bytes": return v instanceof Uint8Array;
    case "acl?": return isAcl(v);
    case "u32[]": return Array.isArray(v) && v.length <= limits.inodeListEntriesMax && v.every(isU32);
    case "amtimes": return isAmtimes(v);
    case "copies": return isCopies(v);
    case "bigint[]": return Array.isArray(v) && v.length <= limits.chunkReportBatchMax && v.every((e) => typeof e === "bigint");
    case "name?": return v === undefined || isName(v);
    case "u32?": return v === undefined || isU32(v);
    case "string": return typeof v === "string";
    case "txparts": return isTxParts(v);
  }
}

export function isWellFormedCommand(cmd: unknown): cmd is Command {
  if (typeof cmd !== "object" || cmd === null) return false;
  const kind = (cmd as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !Object.hasOwn(schemas, kind)) return false;
  const fields = schemas[kind as Command["kind"]];
  return Object.entries(fields).every(([name, field]) => fieldOk(field, (cmd as Record<string, unknown>)[name]));
}

export function isWellFormedCtx(ctx: unknown): ctx is Ctx {
  if (typeof ctx !== "object" || ctx === null) return false;
  const c = ctx as Record<string, unknown>;
  const gids = c.gids;
  return isU32(c.sessionId) && isU32(c.uid) && isInt(c.sesflags) && isU32(c.rootInode)
    && Array.isArray(gids) && gids.length > 0 && gids.length <= limits.groupsMax && gids.every(isU32)
    && (c.requestId === undefined || typeof c.requestId === "string");
}
