/**
 * One sample of every request and reply kind, shared by the round-trip and fuzz tests. The values
 * are chosen to exercise every optional field and both credential forms.
 */
import { NodeType, type Attr } from "@antler/ops";
import type { MasterReply } from "./replies.ts";
import type { ClientRequest } from "./requests.ts";

const enc = new TextEncoder();
const list = { uid: 1000, gids: [1000, 5, 6], form: "list" } as const;
const single = { uid: 1000, gids: [0xffffffff], form: "single" } as const;

export const fileAttr: Attr = {
  type: NodeType.FILE, mode: 0o644, uid: 1000, gid: 1000, atime: 1, mtime: 2, ctime: 3, nlink: 1, length: 100_000, rdev: 0, flags: 0x08, winattr: 0,
};
export const devAttr: Attr = { ...fileAttr, type: NodeType.CHARDEV, length: 0, rdev: 0x0107 };

export const sampleRequests: ClientRequest[] = [
  { kind: "register", rcode: 1 },
  { kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt\0"), path: enc.encode("/\0") },
  { kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt\0"), path: enc.encode("/\0"), sessionId: 7, metaId: 0x1234n, passcode: new Uint8Array(16).fill(9) },
  { kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt\0"), path: new Uint8Array(0), sessionId: 7 },
  { kind: "register", rcode: 3, sessionId: 7, version: 0x000300ea, metaId: 0x1234n },
  { kind: "register", rcode: 3, sessionId: 7, version: 0x000300ea },
  { kind: "register", rcode: 4, sessionId: 7, version: 0x000300ea, metaId: 5n },
  { kind: "register", rcode: 5, version: 0x000300ea, info: enc.encode("meta\0"), sessionId: 1, metaId: 2n },
  { kind: "register", rcode: 6, sessionId: 7, metaId: 0x1234n },
  { kind: "register", rcode: 6, sessionId: 7 },
  { kind: "nop", msgid: 0 },
  { kind: "nop", msgid: null },
  { kind: "getversion", msgid: 3 },
  { kind: "statfs", msgid: 1 },
  { kind: "access", msgid: 2, inode: 1, credentials: list, modemask: 4 },
  { kind: "access", msgid: 2, inode: 1, credentials: single, modemask: 4 },
  { kind: "lookup", msgid: 3, parent: 1, name: enc.encode("d"), credentials: list },
  { kind: "lookup", msgid: 3, parent: 1, name: enc.encode("d"), credentials: single },
  { kind: "getattr", msgid: 4, inode: 1, opened: 0, uid: 0, gid: 0 },
  { kind: "getattr", msgid: 4, inode: 1, opened: null, uid: 5, gid: 6 },
  { kind: "getattr", msgid: 4, inode: 1, opened: null, uid: null, gid: null },
  {
    kind: "setattr", msgid: 5, inode: 3, opened: 1, credentials: list, setmask: 0x60, mode: 0o600, uid: 1, gid: 2, atime: 3, mtime: 4, winattr: 0, sugidclearmode: 4,
  },
  { kind: "readlink", msgid: 6, inode: 9 },
  { kind: "symlink", msgid: 7, parent: 2, name: enc.encode("sym"), path: enc.encode("f\0"), credentials: list },
  { kind: "mknod", msgid: 8, parent: 2, name: enc.encode("fifo"), type: 4, mode: 0o644, umask: 0o22, credentials: list, rdev: 0 },
  { kind: "mkdir", msgid: 9, parent: 1, name: enc.encode("d"), mode: 0o777, umask: 0o22, credentials: single, copysgid: 1 },
  { kind: "unlink", msgid: 10, parent: 2, name: enc.encode("f"), credentials: list },
  { kind: "rmdir", msgid: 11, parent: 1, name: enc.encode("d"), credentials: list },
  { kind: "rename", msgid: 12, parentSrc: 2, nameSrc: enc.encode("a"), parentDst: 1, nameDst: enc.encode("b"), credentials: list },
  { kind: "link", msgid: 13, inode: 3, parentDst: 2, nameDst: enc.encode("hard"), credentials: list },
  { kind: "readdir", msgid: 14, inode: 1, credentials: list, flags: 1, maxEntries: 0xffffffff, nedgeId: 0n },
  { kind: "open", msgid: 15, inode: 3, credentials: list, flags: 0x15 },
  { kind: "open", msgid: 15, inode: 3, credentials: single, flags: 0x01 },
  { kind: "create", msgid: 16, parent: 2, name: enc.encode("f"), mode: 0o666, umask: 0o22, credentials: list },
  { kind: "truncate", msgid: 17, inode: 3, flags: 1, credentials: list, length: 100_000n },
  { kind: "getxattr", msgid: 18, inode: 3, name: enc.encode("user.k"), mode: 0, opened: 0, credentials: list },
  { kind: "getxattr", msgid: 18, inode: 3, name: new Uint8Array(0), mode: 1, opened: 0, credentials: list },
  { kind: "setxattr", msgid: 19, inode: 3, name: enc.encode("user.k"), value: enc.encode("val"), mode: 0, opened: 0, credentials: list },
  { kind: "getfacl", msgid: 20, inode: 3, acltype: 1 },
  {
    kind: "setfacl", msgid: 21, inode: 3, uid: 0, acltype: 1, userPerm: 6, groupPerm: 4, otherPerm: 4, mask: 6,
    users: [{ id: 1000, perm: 6 }], groups: [{ id: 1000, perm: 4 }],
  },
  { kind: "flock", msgid: 22, inode: 3, reqid: 1, owner: 0xe3067c71dcb5f4d8n, cmd: 4 },
  { kind: "posixlock", msgid: 23, inode: 3, reqid: 1, owner: 7n, pid: 99, cmd: 1, type: 2, start: 0n, end: 0xffffffffffffffffn },
  { kind: "timesync", msgid: 0 },
  { kind: "timesync", msgid: null },
  { kind: "sustained", deprecatedCode: false, inodes: [3, 4] },
  { kind: "sustained", deprecatedCode: true, inodes: [] },
  { kind: "amtime", entries: [{ inode: 3, atime: 0, mtime: 17 }] },
  { kind: "gettrashtime", msgid: 24, inode: 3, gmode: 0 },
  { kind: "getsclass", msgid: 25, inode: 3, gmode: 1 },
  { kind: "geteattr", msgid: 26, inode: 3, gmode: 0 },
  { kind: "settrashtime", msgid: 27, inode: 3, uid: 0, trashtime: 3600, smode: 0 },
  { kind: "setsclass", msgid: 28, inode: 3, uid: 0, smode: 0, target: { goal: 2 } },
  { kind: "setsclass", msgid: 28, inode: 3, uid: 0, smode: 4, target: { className: enc.encode("fast"), sourceClassName: null } },
  { kind: "setsclass", msgid: 28, inode: 3, uid: 0, smode: 3, target: { className: enc.encode("fast"), sourceClassName: enc.encode("slow") } },
  { kind: "seteattr", msgid: 29, inode: 3, uid: 0, eattr: 4, smode: 1 },
  { kind: "getdirstats", msgid: 30, inode: 2 },
  { kind: "readchunk", msgid: 31, inode: 3, chunkIndex: 1, chunkOpFlags: 0 },
  { kind: "writechunk", msgid: 32, inode: 3, chunkIndex: 0, chunkOpFlags: null },
  { kind: "writechunkend", msgid: 33, chunkId: 1n, inode: 3, chunkIndex: 0, length: 3n, chunkOpFlags: 0 },
  { kind: "writechunkend", msgid: 33, chunkId: 1n, inode: 3, chunkIndex: null, length: 3n, chunkOpFlags: null },
  { kind: "check", msgid: 34, inode: 3, chunkIndex: null },
  { kind: "check", msgid: 34, inode: 3, chunkIndex: 0 },
  { kind: "snapshot", msgid: 35, inode: 3, parentDst: 2, nameDst: enc.encode("snap"), credentials: list, smode: 0, umask: 0o22 },
];

export const sampleReplies: MasterReply[] = [
  { kind: "status", type: 407, msgid: 3, status: 3 },
  {
    kind: "register-session", version: 0x000300ea, sessionId: 1, metaId: 0x6b07d0ed6a9c537an, sesflags: 8, umask: 0, rootUid: 0, rootGid: 0,
    mapAllUid: 999, mapAllGid: 999, minGoal: 1, maxGoal: 9, minTrashTime: 0, maxTrashTime: 0xffffffff, disables: 0,
  },
  { kind: "register-reconnect", version: 0x000300ea, status: 0 },
  { kind: "register-status", status: 35 },
  { kind: "register-random", random: new Uint8Array(32).fill(7) },
  { kind: "nop" },
  { kind: "chunk-has-changed", inode: 3, chunkIndex: 0, chunkId: 4n, version: 2, length: 100n, truncateFlag: 1 },
  { kind: "fleng-has-changed", inode: 3, length: 100n },
  { kind: "invalidate-chunk-cache" },
  { kind: "version", msgid: 3, version: 0x000300ea, text: enc.encode("3.0.117-1") },
  { kind: "timesync", msgid: 0, usec: 1_795_678_244_276_444n },
  { kind: "statfs", msgid: 1, totalSpace: 10n, availSpace: 9n, freeSpace: 8n, trashSpace: 3n, sustainedSpace: 0n, inodes: 4 },
  { kind: "attr", type: 409, msgid: 4, attr: fileAttr },
  { kind: "attr", type: 411, msgid: 4, attr: devAttr },
  { kind: "lookup", msgid: 5, inode: 3, attr: fileAttr, lflags: null, chunk: null },
  { kind: "lookup", msgid: 5, inode: 3, attr: fileAttr, lflags: 0xff, chunk: null },
  {
    kind: "lookup", msgid: 5, inode: 3, attr: fileAttr, lflags: 0x1ff,
    chunk: { chunkId: 1n, version: 1, servers: [{ ip: 0x0ad53201, port: 9422, version: 0x000300ea, labelMask: 0 }] },
  },
  { kind: "node", type: 419, msgid: 6, inode: 2, attr: fileAttr },
  { kind: "create", msgid: 7, oflags: 0, inode: 3, attr: fileAttr },
  { kind: "open", msgid: 8, oflags: 1, attr: fileAttr },
  { kind: "truncate", msgid: 9, prevLength: 3n, attr: fileAttr },
  { kind: "removed", type: 421, msgid: 10, inode: 3 },
  { kind: "readlink", msgid: 11, path: enc.encode("f\0") },
  { kind: "readdir", msgid: 12, nedgeId: 0n, entries: [{ name: enc.encode("."), inode: 2, attr: fileAttr }, { name: enc.encode(".."), inode: 1, attr: fileAttr }] },
  { kind: "xattr", msgid: 13, length: 3, value: enc.encode("val") },
  { kind: "getfacl", msgid: 14, userPerm: 6, groupPerm: 4, otherPerm: 4, mask: 6, users: [{ id: 1000, perm: 6 }], groups: [] },
  { kind: "posixlock-get", msgid: 15, pid: 0, lockType: 0, start: 0n, end: 0n },
  { kind: "trashtime-counts", msgid: 16, files: [{ value: 86400, count: 1 }], dirs: [] },
  { kind: "sclass-counts", msgid: 17, files: [{ goal: 2, count: 1 }], dirs: [{ className: enc.encode("fast"), count: 2 }] },
  { kind: "eattr-counts", msgid: 18, files: [{ value: 0, count: 1 }], dirs: [] },
  { kind: "set-counts", type: 449, msgid: 19, changed: 1, notChanged: 0, notPermitted: 0 },
  { kind: "dirstats", msgid: 20, form: "mount", inodes: 5, dirs: 1, files: 4, chunks: 2, length: 200_001n, size: 278_528n, realSize: 835_584n },
  { kind: "dirstats", msgid: 20, form: "tools", inodes: 5, dirs: 1, files: 4, chunks: 2, length: 1n, size: 2n, realSize: 3n },
  { kind: "check-counts", msgid: 21, counts: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  { kind: "check-chunk", msgid: 22, chunkId: 1n, version: 2, copies: [{ ip: 0x0ad53201, port: 9422, type: 0 }] },
  { kind: "chunk-location", type: 433, msgid: 23, length: 70_000_000n, chunkId: 0n, version: 0, servers: [] },
];

/** The request each sample reply answers, where the reply layout depends on it. */
export function requestForReply(reply: MasterReply): ClientRequest | null {
  switch (reply.kind) {
    case "register-reconnect": return { kind: "register", rcode: 3, sessionId: 1, version: 0x000300ea };
    case "version": return { kind: "getversion", msgid: reply.msgid };
    case "readdir": return sampleRequests.find((r) => r.kind === "readdir")!;
    case "check-chunk": return { kind: "check", msgid: reply.msgid, inode: 3, chunkIndex: 0 };
    default: return null;
  }
}
