/**
 * Message codes of the client⇄master link, with MooseFS's names (MFSCommunication.h, v3.0.117,
 * PROTO_BASE 0) so `grep` works across both codebases. Requests are even, replies odd.
 */
export const ANTOAN_NOP = 0;
export const ANTOAN_UNKNOWN_COMMAND = 1;
export const ANTOAN_BAD_COMMAND_SIZE = 2;
export const ANTOAN_GET_VERSION = 10;
export const ANTOAN_VERSION = 11;

export const CLTOMA_FUSE_REGISTER = 400;
export const MATOCL_FUSE_REGISTER = 401;
export const CLTOMA_FUSE_STATFS = 402;
export const MATOCL_FUSE_STATFS = 403;
export const CLTOMA_FUSE_ACCESS = 404;
export const MATOCL_FUSE_ACCESS = 405;
export const CLTOMA_FUSE_LOOKUP = 406;
export const MATOCL_FUSE_LOOKUP = 407;
export const CLTOMA_FUSE_GETATTR = 408;
export const MATOCL_FUSE_GETATTR = 409;
export const CLTOMA_FUSE_SETATTR = 410;
export const MATOCL_FUSE_SETATTR = 411;
export const CLTOMA_FUSE_READLINK = 412;
export const MATOCL_FUSE_READLINK = 413;
export const CLTOMA_FUSE_SYMLINK = 414;
export const MATOCL_FUSE_SYMLINK = 415;
export const CLTOMA_FUSE_MKNOD = 416;
export const MATOCL_FUSE_MKNOD = 417;
export const CLTOMA_FUSE_MKDIR = 418;
export const MATOCL_FUSE_MKDIR = 419;
export const CLTOMA_FUSE_UNLINK = 420;
export const MATOCL_FUSE_UNLINK = 421;
export const CLTOMA_FUSE_RMDIR = 422;
export const MATOCL_FUSE_RMDIR = 423;
export const CLTOMA_FUSE_RENAME = 424;
export const MATOCL_FUSE_RENAME = 425;
export const CLTOMA_FUSE_LINK = 426;
export const MATOCL_FUSE_LINK = 427;
export const CLTOMA_FUSE_READDIR = 428;
export const MATOCL_FUSE_READDIR = 429;
export const CLTOMA_FUSE_OPEN = 430;
export const MATOCL_FUSE_OPEN = 431;
export const CLTOMA_FUSE_READ_CHUNK = 432;
export const MATOCL_FUSE_READ_CHUNK = 433;
export const CLTOMA_FUSE_WRITE_CHUNK = 434;
export const MATOCL_FUSE_WRITE_CHUNK = 435;
export const CLTOMA_FUSE_WRITE_CHUNK_END = 436;
export const MATOCL_FUSE_WRITE_CHUNK_END = 437;
export const CLTOMA_FUSE_APPEND_SLICE = 438;
export const MATOCL_FUSE_APPEND_SLICE = 439;
export const CLTOMA_FUSE_CHECK = 440;
export const MATOCL_FUSE_CHECK = 441;
export const CLTOMA_FUSE_GETTRASHTIME = 442;
export const MATOCL_FUSE_GETTRASHTIME = 443;
export const CLTOMA_FUSE_SETTRASHTIME = 444;
export const MATOCL_FUSE_SETTRASHTIME = 445;
export const CLTOMA_FUSE_GETSCLASS = 446;
export const MATOCL_FUSE_GETSCLASS = 447;
export const CLTOMA_FUSE_SETSCLASS = 448;
export const MATOCL_FUSE_SETSCLASS = 449;
export const CLTOMA_FUSE_GETTRASH = 450;
export const MATOCL_FUSE_GETTRASH = 451;
export const CLTOMA_FUSE_GETDETACHEDATTR = 452;
export const MATOCL_FUSE_GETDETACHEDATTR = 453;
export const CLTOMA_FUSE_GETTRASHPATH = 454;
export const MATOCL_FUSE_GETTRASHPATH = 455;
export const CLTOMA_FUSE_SETTRASHPATH = 456;
export const MATOCL_FUSE_SETTRASHPATH = 457;
export const CLTOMA_FUSE_UNDEL = 458;
export const MATOCL_FUSE_UNDEL = 459;
export const CLTOMA_FUSE_PURGE = 460;
export const MATOCL_FUSE_PURGE = 461;
export const CLTOMA_FUSE_GETDIRSTATS = 462;
export const MATOCL_FUSE_GETDIRSTATS = 463;
export const CLTOMA_FUSE_TRUNCATE = 464;
export const MATOCL_FUSE_TRUNCATE = 465;
export const CLTOMA_FUSE_REPAIR = 466;
export const MATOCL_FUSE_REPAIR = 467;
export const CLTOMA_FUSE_SNAPSHOT = 468;
export const MATOCL_FUSE_SNAPSHOT = 469;
export const CLTOMA_FUSE_GETSUSTAINED = 470;
export const MATOCL_FUSE_GETSUSTAINED = 471;
export const CLTOMA_FUSE_GETEATTR = 472;
export const MATOCL_FUSE_GETEATTR = 473;
export const CLTOMA_FUSE_SETEATTR = 474;
export const MATOCL_FUSE_SETEATTR = 475;
export const CLTOMA_FUSE_QUOTACONTROL = 476;
export const MATOCL_FUSE_QUOTACONTROL = 477;
export const CLTOMA_FUSE_GETXATTR = 478;
export const MATOCL_FUSE_GETXATTR = 479;
export const CLTOMA_FUSE_SETXATTR = 480;
export const MATOCL_FUSE_SETXATTR = 481;
export const CLTOMA_FUSE_CREATE = 482;
export const MATOCL_FUSE_CREATE = 483;
export const CLTOMA_FUSE_PARENTS = 484;
export const MATOCL_FUSE_PARENTS = 485;
export const CLTOMA_FUSE_PATHS = 486;
export const MATOCL_FUSE_PATHS = 487;
export const CLTOMA_FUSE_GETFACL = 488;
export const MATOCL_FUSE_GETFACL = 489;
export const CLTOMA_FUSE_SETFACL = 490;
export const MATOCL_FUSE_SETFACL = 491;
export const CLTOMA_FUSE_FLOCK = 492;
export const MATOCL_FUSE_FLOCK = 493;
export const CLTOMA_FUSE_POSIX_LOCK = 494;
export const MATOCL_FUSE_POSIX_LOCK = 495;
export const CLTOMA_FUSE_ARCHCTL = 496;
export const MATOCL_FUSE_ARCHCTL = 497;
/** Deprecated alias of SUSTAINED_INODES (sent only to masters < 3.0.74); collides with FSYNC's reply. */
export const CLTOMA_FUSE_SUSTAINED_INODES_DEPRECATED = 499;

export const CLTOMA_FUSE_SUSTAINED_INODES = 700;
export const CLTOMA_FUSE_AMTIME_INODES = 701;
export const MATOCL_FUSE_CHUNK_HAS_CHANGED = 702;
export const MATOCL_FUSE_FLENG_HAS_CHANGED = 703;
export const CLTOMA_FUSE_TIME_SYNC = 704;
export const MATOCL_FUSE_TIME_SYNC = 705;
export const MATOCL_FUSE_INVALIDATE_CHUNK_CACHE = 706;

/** REGISTER rcodes. */
export const RegisterCode = {
  GETRANDOM: 1,
  NEWSESSION: 2,
  RECONNECT: 3,
  TOOLS: 4,
  NEWMETASESSION: 5,
  CLOSESESSION: 6,
} as const;

/** The 64-byte blob opening every REGISTER of a 3.0.117 client (FUSE_REGISTER_BLOB_ACL). */
export const registerBlobAcl = "DjI1GAQDULI5d2YjA26ypc3ovkhjvhciTQVx3CS4nYgtBoUcsljiVpsErJENHaw0";

/** READDIR request flags (GETDIR_FLAG_*). */
export const ReaddirFlag = { WITHATTR: 0x01, ADDTOCACHE: 0x02 } as const;

/** LOOKUP reply lflags (LOOKUP_*). */
export const LookupFlag = {
  ACCESS_BITS: 0x38ff,
  CHUNK_ZERO_DATA: 0x0100,
  RO_FILESYSTEM: 0x0200,
  KEEPCACHE: 0x0400,
  IMMUTABLE: 0x0800,
  DIRECTMODE: 0x1000,
  APPENDONLY: 0x2000,
} as const;

/** The reply type of each request type that has one (request code + 1 on this link). */
export function replyTypeOf(requestType: number): number | null {
  if (requestType === CLTOMA_FUSE_TIME_SYNC) return MATOCL_FUSE_TIME_SYNC;
  if (requestType >= CLTOMA_FUSE_REGISTER && requestType <= CLTOMA_FUSE_ARCHCTL && requestType % 2 === 0) return requestType + 1;
  if (requestType === ANTOAN_GET_VERSION) return ANTOAN_VERSION;
  return null;
}
