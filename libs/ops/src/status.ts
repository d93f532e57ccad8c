/**
 * MooseFS status codes (MFS_ERROR_* in MFSCommunication.h of 3.0.117). They are the error vocabulary
 * of the whole system: the shard returns them, the gateway sends them to clients unchanged.
 */
export const Status = {
  OK: 0,
  EPERM: 1,
  ENOTDIR: 2,
  ENOENT: 3,
  EACCES: 4,
  EEXIST: 5,
  EINVAL: 6,
  ENOTEMPTY: 7,
  CHUNKLOST: 8,
  OUTOFMEMORY: 9,
  INDEXTOOBIG: 10,
  LOCKED: 11,
  NOCHUNKSERVERS: 12,
  NOCHUNK: 13,
  CHUNKBUSY: 14,
  REGISTER: 15,
  NOTDONE: 16,
  NOTOPENED: 17,
  NOTSTARTED: 18,
  WRONGVERSION: 19,
  CHUNKEXIST: 20,
  NOSPACE: 21,
  IO: 22,
  BNUMTOOBIG: 23,
  WRONGSIZE: 24,
  WRONGOFFSET: 25,
  CANTCONNECT: 26,
  WRONGCHUNKID: 27,
  DISCONNECTED: 28,
  CRC: 29,
  DELAYED: 30,
  CANTCREATEPATH: 31,
  MISMATCH: 32,
  EROFS: 33,
  QUOTA: 34,
  BADSESSIONID: 35,
  NOPASSWORD: 36,
  BADPASSWORD: 37,
  ENOATTR: 38,
  ENOTSUP: 39,
  ERANGE: 40,
  NOTFOUND: 41,
  ACTIVE: 42,
  CSNOTPRESENT: 43,
  WAITING: 44,
  EAGAIN: 45,
  EINTR: 46,
  ECANCELED: 47,
  ENOENT_NOCACHE: 48,
  EPERM_NOTADMIN: 49,
  CLASSEXISTS: 50,
  CLASSLIMITREACH: 51,
  NOSUCHCLASS: 52,
  CLASSINUSE: 53,
  // --- Internal statuses: between services only, never sent to a client (the gateway turns
  // --- one that reaches it into EAGAIN after its retries).
  /** The shard does not own the request's slot (stale shard map): the sender retries with the new map. */
  MOVED: 250,
  /** A prepared cross-shard transaction holds an inode the request needs: retry shortly. */
  TXLOCKED: 251,
  /**
   * txprepare: another attempt (txid) of the same client request already committed here — two
   * routers coordinated the request at once. The coordinator answers from that attempt's decision.
   */
  TXTAKEN: 252,
} as const;
export type Status = (typeof Status)[keyof typeof Status];
/** A status other than OK. */
export type ErrorStatus = Exclude<Status, 0>;
