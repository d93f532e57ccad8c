/**
 * A stand-in state machine built on the reference model: log entries are the commands themselves
 * (with the inode they allocated). It lets the harness, the checkers and the broken driver
 * variants be tested on their own, independent of the real shard core; the simulation proper
 * runs the real `createStateMachine` from @antler/shard-core.
 */
import { decodeMessage, encodeMessage, readOnlyKinds, Status, type Attr, type Command, type Ctx, type Result } from "@antler/ops";
import { NamespaceModel, type Expected, type ExpectedAttr } from "./model.ts";
import type { StateMachine } from "./shard-driver.ts";

interface ModelEntry {
  readonly cmd: Command;
  readonly ctx: Ctx;
  readonly inode: number | null;
}

function toAttr(attr: ExpectedAttr): Attr {
  return {
    type: attr.type,
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    atime: 0,
    mtime: 0,
    ctime: 0,
    nlink: attr.nlink,
    length: attr.length ?? 0,
    rdev: 0,
    flags: 0,
    winattr: 0,
  };
}

export function createModelStateMachine(): StateMachine & { readonly model: NamespaceModel } {
  const model = new NamespaceModel();
  // As the real machine: a logged request's result is remembered by its request id, and a
  // repeated id is answered from memory.
  const remembered = new Map<string, Result>();
  const remember = (ctx: Ctx, result: Result): void => {
    if (ctx.requestId !== undefined) remembered.set(ctx.requestId, result);
  };
  const toResult = (cmd: Command, expected: Expected): Result => {
    if (expected.status !== Status.OK) return { status: expected.status } as Result;
    const attr = expected.attr === undefined ? undefined : toAttr(expected.attr);
    switch (cmd.kind) {
      case "lookup":
        return { status: 0, inode: expected.inode!, attr: attr!, lflags: 0 };
      case "create":
        return { status: 0, inode: expected.inode!, attr: attr!, oflags: 0 };
      case "readlink":
        return { status: 0, target: expected.target! };
      case "getxattr": {
        const hex = expected.xattrValue!;
        const value = Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
        return { status: 0, length: value.length, value };
      }
      case "setxattr":
        return { status: 0 };
      case "unlink":
      case "rmdir":
        return { status: 0, inode: expected.inode! };
      default:
        if (expected.inode !== undefined) return { status: 0, inode: expected.inode, attr: attr! } as Result;
        return { status: 0, attr: attr! } as Result;
    }
  };
  return {
    model,
    execute(cmd, ctx) {
      if (cmd.kind === "readdir") {
        const expected = model.apply(cmd, ctx);
        if (expected.status !== Status.OK) return { result: { status: expected.status } as Result, entry: null };
        const entries = expected.listing!.split("\n").map((line) => {
          const [name, inode, type] = line.split(" ");
          const attr = cmd.withAttr ? toAttr(model.attrOf(Number(inode))) : undefined;
          return { name: name!, inode: Number(inode), type: Number(type), ...(attr === undefined ? {} : { attr }) };
        });
        return { result: { status: 0, entries }, entry: null };
      }
      const recalled = ctx.requestId === undefined ? undefined : remembered.get(ctx.requestId);
      if (recalled !== undefined) return { result: recalled, entry: null };
      const expected = model.apply(cmd, ctx);
      const result = toResult(cmd, expected);
      const wrote = expected.status === Status.OK && !readOnlyKinds.has(cmd.kind);
      if (wrote) remember(ctx, result);
      return { result, entry: wrote ? ({ cmd, ctx, inode: expected.inode ?? null } satisfies ModelEntry) : null };
    },
    apply(entry) {
      const e = entry as ModelEntry;
      const expected = model.apply(e.cmd, e.ctx, e.inode ?? undefined);
      if (expected.status !== Status.OK) throw new Error(`replay of ${e.cmd.kind} failed with ${expected.status}`);
      remember(e.ctx, toResult(e.cmd, expected));
    },
    maintain: () => null,
    encodeEntry: (entry: never) => encodeMessage(entry),
    decodeEntry: (bytes) => decodeMessage(bytes) as ModelEntry,
  };
}
