/**
 * Shape checks of transaction parts and their outputs. Parts arrive decoded from JSON in a
 * txprepare command (from the coordinator) and come back from the log in txprepare entries; both
 * must have exactly the fields their `op` promises before any handler touches them, so a
 * malformed command is EINVAL and a malformed entry a LogDecodeError instead of a crash.
 */
import { limits } from "@antler/base";
import { NodeType, type TxPart, type TxPartOutput } from "@antler/ops";

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isU32(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= 0xffffffff;
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length <= limits.symlinkBytesMax && !/[^\x00-\xff]/.test(value);
}

function isAclEntries(value: unknown): boolean {
  return Array.isArray(value) && value.length <= limits.aclEntriesMax && value.every((e) => isObject(e) && isU32(e.id) && isInt(e.perm));
}

function isAclOrNull(value: unknown): boolean {
  if (value === null) return true;
  if (!isObject(value)) return false;
  return [value.userPerm, value.groupPerm, value.otherPerm, value.mask].every(isInt) && isAclEntries(value.users) && isAclEntries(value.groups);
}

function isEdge(value: unknown): boolean {
  return isObject(value) && isU32(value.parent) && isName(value.name);
}

function isNewNodeCommand(cmd: unknown): boolean {
  if (!isObject(cmd) || !isU32(cmd.parent) || !isName(cmd.name)) return false;
  switch (cmd.kind) {
    case "mkdir": return isInt(cmd.mode) && isInt(cmd.umask) && typeof cmd.copysgid === "boolean";
    case "create": return isInt(cmd.mode) && isInt(cmd.umask);
    case "mknod": return isInt(cmd.type) && isInt(cmd.mode) && isInt(cmd.umask) && isU32(cmd.rdev);
    case "symlink": return isName(cmd.target);
    default: return false;
  }
}

/** The node types each new-node command makes (MKNOD: files, FIFOs, devices, sockets). */
const typesOfKind: Readonly<Record<string, readonly number[]>> = {
  mkdir: [NodeType.DIRECTORY],
  create: [NodeType.FILE],
  symlink: [NodeType.SYMLINK],
  mknod: [NodeType.FILE, NodeType.FIFO, NodeType.BLOCKDEV, NodeType.CHARDEV, NodeType.SOCKET],
};

export function isNewNodeSpec(spec: unknown): boolean {
  if (!isObject(spec) || typeof spec.kind !== "string" || !Object.hasOwn(typesOfKind, spec.kind)) return false;
  const ints = [spec.type, spec.mode, spec.uid, spec.gid, spec.rdev, spec.goal, spec.trashtime, spec.eattr];
  return ints.every(isU32) && typesOfKind[spec.kind]!.includes(spec.type as number) && isName(spec.target)
    && isAclOrNull(spec.aclAccess) && isAclOrNull(spec.aclDefault);
}

export function isTxPart(part: unknown): part is TxPart {
  if (!isObject(part)) return false;
  switch (part.op) {
    case "entry-new":
      return isNewNodeCommand(part.cmd);
    case "node-new":
      return isNewNodeSpec(part.spec) && isU32(part.slot) && part.slot < limits.slotCount && isU32(part.parent) && isName(part.name);
    case "entry-remove":
      return isU32(part.parent) && isName(part.name) && isU32(part.inode) && isU32(part.nodeUid)
        && (part.kind === "unlink" || part.kind === "rmdir" || part.kind === "rename");
    case "entry-add":
      return isU32(part.parent) && isName(part.name) && isU32(part.inode) && isU32(part.type)
        && (part.kind === "link" || part.kind === "rename") && (part.replace === null || isU32(part.replace)) && isU32(part.replaceUid);
    case "edge-add":
      return isU32(part.inode) && isU32(part.parent) && isName(part.name);
    case "edge-remove":
      return isU32(part.inode) && isU32(part.parent) && isName(part.name)
        && (part.kind === "unlink" || part.kind === "rmdir" || part.kind === "replaced") && (part.ownerUid === undefined || isU32(part.ownerUid));
    case "edge-move":
      return isU32(part.inode) && isEdge(part.from) && isEdge(part.to) && (part.ownerUid === undefined || isU32(part.ownerUid));
    default:
      return false;
  }
}

export function isTxParts(parts: unknown): parts is readonly TxPart[] {
  return Array.isArray(parts) && parts.length > 0 && parts.length <= txPartsMax && parts.every(isTxPart);
}

/** More parts than any coordinated operation needs (a rename has at most four, on four shards). */
export const txPartsMax = 8;

function isAttr(value: unknown): boolean {
  if (!isObject(value)) return false;
  const ints = [value.type, value.mode, value.uid, value.gid, value.atime, value.mtime, value.ctime, value.nlink, value.length, value.rdev, value.flags, value.winattr];
  return ints.every(isInt);
}

export function isTxPartOutput(output: unknown): output is TxPartOutput {
  if (!isObject(output)) return false;
  switch (output.op) {
    case "entry-new":
      return isNewNodeSpec(output.spec);
    case "node-new":
      return isU32(output.inode) && (output.attr === undefined || isAttr(output.attr)) && (output.oflags === undefined || isInt(output.oflags));
    case "edge-add":
    case "edge-move":
      return output.attr === undefined || isAttr(output.attr);
    case "entry-remove":
    case "entry-add":
    case "edge-remove":
      return true;
    default:
      return false;
  }
}

export function isTxPartOutputs(outputs: unknown): outputs is readonly TxPartOutput[] {
  return Array.isArray(outputs) && outputs.length <= txPartsMax && outputs.every(isTxPartOutput);
}

function isCaller(value: unknown): boolean {
  return isObject(value) && isU32(value.sessionId) && isU32(value.uid) && isInt(value.sesflags);
}

/** A prepared transaction as a snapshot carries it (state.ts PreparedTxn). */
export function isPreparedTxn(value: unknown): boolean {
  if (!isObject(value)) return false;
  return typeof value.txid === "string" && typeof value.clientRequestId === "string" && isInt(value.preparedAtMs)
    && isCaller(value.caller) && isTxParts(value.parts) && isTxPartOutputs(value.outputs)
    && (value.outputs as unknown[]).length === (value.parts as unknown[]).length
    && Array.isArray(value.locks) && value.locks.every(isU32);
}
