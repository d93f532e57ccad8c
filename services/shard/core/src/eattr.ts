/** MooseFS extra attributes (EATTR_* in MFSCommunication.h), set with mfsseteattr. */
export const Eattr = {
  NOOWNER: 0x01,
  NOACACHE: 0x02,
  NOECACHE: 0x04,
  NODATACACHE: 0x08,
  SNAPSHOT: 0x10,
  UNDELETABLE: 0x20,
  APPENDONLY: 0x40,
  IMMUTABLE: 0x80,
} as const;

/** Every defined bit: SETEATTR with other bits is EINVAL. */
export const eattrAll = 0xff;
/** The bits only an ADMIN session may change. */
export const eattrAdminOnly = Eattr.UNDELETABLE | Eattr.APPENDONLY | Eattr.IMMUTABLE;
/** The bits that forbid removing a node. */
export const eattrNoRemove = Eattr.UNDELETABLE | Eattr.IMMUTABLE | Eattr.APPENDONLY;

/** SETxxx tool modes (SMODE_*): the low two bits choose the operation, 4 = recursive. */
export const SetMode = { SET: 0, INCREASE: 1, DECREASE: 2, EXCHANGE: 3, TMASK: 3, RMASK: 4, MAX: 7 } as const;
/** GETxxx tool modes (GMODE_*). */
export const GetMode = { NORMAL: 0, RECURSIVE: 1 } as const;

/** OPEN/CREATE reply oflags (OPEN_KEEPCACHE etc.). */
export const OpenReplyFlag = { KEEPCACHE: 0x01, DIRECTMODE: 0x02, APPENDONLY: 0x04 } as const;

/** LOOKUP lflags beyond the ACCESS_MODE bits (LOOKUP_* in MFSCommunication.h). */
export const LookupFlag = {
  ACCESS_BITS: 0x38ff,
  ACCESS_MODES_RO: 0xff33,
  CHUNK_ZERO_DATA: 0x0100,
  RO_FILESYSTEM: 0x0200,
  KEEPCACHE: 0x0400,
  IMMUTABLE: 0x0800,
  DIRECTMODE: 0x1000,
  APPENDONLY: 0x2000,
} as const;
