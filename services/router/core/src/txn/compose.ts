/**
 * The client's answer to a committed coordinated request, from the participants' commit outputs
 * or, when those are empty (the commit was a repeat: another coordinator or a participant's
 * resolver applied it first), from their current state.
 */
import {
  AttrFlag,
  Status,
  type Attr,
  type CommandKind,
  type Ctx,
  type NodeFacts,
  type Result,
  type TxPartOutput,
} from "@antler/ops";
import type { CoordinatorPorts } from "./ports.ts";

/** OPEN/CREATE reply oflags (OPEN_DIRECTMODE, OPEN_APPENDONLY) and the EATTR bits calling for them. */
const OpenReplyFlag = { DIRECTMODE: 0x02, APPENDONLY: 0x04 } as const;
const Eattr = { NODATACACHE: 0x08, APPENDONLY: 0x40 } as const;

function oflagsOfEattr(eattr: number): number {
  let oflags = 0;
  if ((eattr & Eattr.NODATACACHE) !== 0) oflags |= OpenReplyFlag.DIRECTMODE;
  if ((eattr & Eattr.APPENDONLY) !== 0) oflags |= OpenReplyFlag.APPENDONLY;
  return oflags;
}

/** What the answer is about. */
export interface AnswerTarget {
  readonly command: CommandKind;
  /** The removed, moved, linked or created node. */
  readonly inode: number;
}

function attrIn(outputs: readonly TxPartOutput[], inode: number): { attr?: Attr; oflags?: number } | null {
  for (const output of outputs) {
    if (output.op === "node-new" && output.inode === inode && output.attr !== undefined) {
      return { attr: output.attr, ...(output.oflags !== undefined ? { oflags: output.oflags } : {}) };
    }
    if ((output.op === "edge-add" || output.op === "edge-move") && output.attr !== undefined) return { attr: output.attr };
  }
  return null;
}

/**
 * The answer for `target`; `outputs` are the commit outputs of every participant (possibly empty).
 * Looks the node up again when the outputs do not carry what the answer needs.
 */
export async function composeAnswer(ports: CoordinatorPorts, ctx: Ctx, target: AnswerTarget, outputs: readonly TxPartOutput[]): Promise<Result> {
  const { command, inode } = target;
  if (command === "unlink" || command === "rmdir") return { status: Status.OK, inode };
  const found = attrIn(outputs, inode);
  let attr = found?.attr;
  if (attr === undefined) {
    const current = await ports.call({ kind: "getattr", inode, opened: false }, ctx);
    if (current.status !== Status.OK) return current;
    attr = (current as { readonly attr: Attr }).attr;
  }
  if (command !== "create") return { status: Status.OK, inode, attr } as Result;
  let oflags = found?.oflags;
  if (oflags === undefined) {
    const facts = await ports.call({ kind: "txinspect", inode }, ctx);
    const node = facts.status === Status.OK ? (facts as { readonly node: NodeFacts | null }).node : null;
    oflags = node === null ? 0 : oflagsOfEattr(node.eattr);
  }
  // mfsmaster never lets a just-created file's attributes allow the data cache.
  return { status: Status.OK, inode, attr: { ...attr, flags: attr.flags & ~AttrFlag.ALLOWDATACACHE }, oflags };
}
