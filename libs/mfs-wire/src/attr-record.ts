/**
 * The attribute record ATTR, 36 bytes for clients ≥ 3.0.93 (protocol §3.2):
 *
 *   flags:8 type:4|mode:12 uid:32 gid:32 atime:32 mtime:32 ctime:32 nlink:32 length:64 winattr:8
 *
 * For block and character devices the 8 bytes of `length` are `rdev:32` followed by 4 zero bytes.
 */
import { NodeType, type Attr } from "@antler/ops";
import { DecodeError } from "./errors.ts";
import type { Reader } from "./reader.ts";
import type { Writer } from "./writer.ts";

export const attrRecordBytes = 36;

function isDevice(type: number): boolean {
  return type === NodeType.BLOCKDEV || type === NodeType.CHARDEV;
}

export function writeAttr(writer: Writer, attr: Attr): void {
  writer.u8(attr.flags);
  writer.u16(((attr.type & 0x0f) << 12) | (attr.mode & 0x0fff));
  writer.u32(attr.uid).u32(attr.gid);
  writer.u32(attr.atime).u32(attr.mtime).u32(attr.ctime);
  writer.u32(attr.nlink);
  if (isDevice(attr.type)) {
    writer.u32(attr.rdev).u32(0);
  } else {
    writer.u64(attr.length);
  }
  writer.u8(attr.winattr);
}

export function readAttr(reader: Reader): Attr {
  const flags = reader.u8("attr flags");
  // mfsmount tells the new record from the ancient one by flags < 64.
  if (flags >= 64) throw new DecodeError(`attr flags ${flags} >= 64`);
  const typeMode = reader.u16("attr type/mode");
  const type = typeMode >> 12;
  if (type < NodeType.FILE || type > NodeType.SOCKET) throw new DecodeError(`attr node type ${type}`);
  const uid = reader.u32("attr uid");
  const gid = reader.u32("attr gid");
  const atime = reader.u32("attr atime");
  const mtime = reader.u32("attr mtime");
  const ctime = reader.u32("attr ctime");
  const nlink = reader.u32("attr nlink");
  let length = 0;
  let rdev = 0;
  if (isDevice(type)) {
    rdev = reader.u32("attr rdev");
    if (reader.u32("attr rdev padding") !== 0) throw new DecodeError("attr rdev padding is not zero");
  } else {
    length = reader.u64Number("attr length");
  }
  const winattr = reader.u8("attr winattr");
  return { type: type as NodeType, mode: typeMode & 0x0fff, uid, gid, atime, mtime, ctime, nlink, length, rdev, flags, winattr };
}
