/** Node types as on the wire (TYPE_* in MFSCommunication.h). */
export const NodeType = {
  FILE: 1,
  DIRECTORY: 2,
  SYMLINK: 3,
  FIFO: 4,
  BLOCKDEV: 5,
  CHARDEV: 6,
  SOCKET: 7,
} as const;
export type NodeType = (typeof NodeType)[keyof typeof NodeType];

/** MATTR_* bits of the attribute record's first byte. */
export const AttrFlag = {
  NOACACHE: 0x01,
  NOECACHE: 0x02,
  ALLOWDATACACHE: 0x04,
  /** The node has no xattrs and no ACLs: the client may answer getxattr from its cache. */
  NOXATTR: 0x08,
  DIRECTMODE: 0x10,
  UNDELETABLE: 0x20,
} as const;

/**
 * Attributes of a node, as the shard reports them. The gateway turns this into the 36-byte ATTR
 * record (applying the session's mapall to uid/gid). Times are seconds.
 */
export interface Attr {
  readonly type: NodeType;
  /** Permission bits incl. suid/sgid/sticky (low 12 bits). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
  readonly nlink: number;
  /** File length; directory: the encoded recursive size; symlink: target length. */
  readonly length: number;
  /** Device number for block/char devices, else 0. */
  readonly rdev: number;
  /** MATTR_* flags. */
  readonly flags: number;
  readonly winattr: number;
}
