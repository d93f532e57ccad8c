/**
 * Helpers for the state machine's tests: a machine with a deterministic directory placement and
 * a test clock, callers (root, users, groups) and short-hands for common commands. Used only by
 * *.test.ts files.
 */
import { isFailure, nameFromText, type Attr, type Command, type Ctx, type Result, type Status, type Success } from "@antler/ops";
import type { ChunkCommandOutcome, ChunkserverView, ChunkWork, Execution, LogEntry, MetadataStateMachine } from "./api.ts";
import { createStateMachine, type StateMachineOptions } from "./machine.ts";

export const t0Ms = 1_700_000_000_000;

/** A stand-in for BLAKE3 placement: deterministic and spread over a few slots. */
export function testSlotOfNewDirectory(parent: number, name: string): number {
  let h = parent;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 2048;
  return h % 7;
}

export function ctxOf(uid: number, gids: readonly number[] = [uid], sessionId = 1, extra: Partial<Ctx> = {}): Ctx {
  return { sessionId, uid, gids, sesflags: 0, rootInode: 1, ...extra };
}

export const rootCtx = ctxOf(0, [0]);

/** A live chunkserver for observeChunkservers: 1 TiB, `usedPercent` used. */
export function server(csid: number, usedPercent = 10, state: ChunkserverView["state"] = "registered"): ChunkserverView {
  const totalSpace = 1n << 40n;
  return { csid, labelMask: 0, totalSpace, availSpace: totalSpace - (totalSpace * BigInt(usedPercent)) / 100n, state };
}

/** Every command of a ChunkWork answered with `status` (0 = OK), or per csid. */
export function outcomesOf(work: ChunkWork, status: number | ((csid: number) => number) = 0): ChunkCommandOutcome[] {
  return work.commands.map((c) => ({
    csid: c.csid,
    chunkId: c.command.chunkId,
    status: typeof status === "number" ? status : status(c.csid),
  }));
}

export class Harness {
  readonly m: MetadataStateMachine;
  readonly entries: LogEntry[] = [];
  nowMs = t0Ms;
  readonly #options: Partial<StateMachineOptions>;

  constructor(options: Partial<StateMachineOptions> = {}) {
    this.#options = options;
    this.m = Harness.machine(options);
  }

  static machine(options: Partial<StateMachineOptions> = {}): MetadataStateMachine {
    return createStateMachine({ shardId: 1, metaId: 42n, slotOfNewDirectory: testSlotOfNewDirectory, rootCreatedSeconds: t0Ms / 1000, ...options });
  }

  /** A fresh machine with the same options that applied every entry so far. */
  replayed(): MetadataStateMachine {
    const fresh = Harness.machine(this.#options);
    for (const entry of this.entries) fresh.apply(fresh.decodeEntry(fresh.encodeEntry(entry)));
    return fresh;
  }

  /** Completes chunk work the way the shell does, keeping its entry. */
  finish(work: ChunkWork | undefined, status: number | ((csid: number) => number) = 0): Execution {
    if (work === undefined) throw new Error("no chunk work to finish");
    this.nowMs += 10;
    const execution = this.m.finishChunkWork(work.workId, outcomesOf(work, status), this.nowMs);
    if (execution.entry !== null) this.entries.push(execution.entry);
    return execution;
  }

  housekeep(): Execution {
    this.nowMs += 1000;
    const execution = this.m.housekeepChunks(this.nowMs);
    if (execution.entry !== null) this.entries.push(execution.entry);
    return execution;
  }

  exec(cmd: Command, ctx: Ctx = rootCtx): Execution {
    this.nowMs += 1000;
    const execution = this.m.execute(cmd, ctx, this.nowMs);
    if (execution.entry !== null) this.entries.push(execution.entry);
    return execution;
  }

  run(cmd: Command, ctx: Ctx = rootCtx): Result {
    return this.exec(cmd, ctx).result;
  }

  /** Runs a command that must succeed and returns its result. */
  ok<C extends Command>(cmd: C, ctx: Ctx = rootCtx): Success<C["kind"]> {
    const result = this.run(cmd, ctx);
    if (isFailure(result)) throw new Error(`${cmd.kind} failed with status ${result.status}`);
    return result as Success<C["kind"]>;
  }

  status(cmd: Command, ctx: Ctx = rootCtx): Status {
    return this.run(cmd, ctx).status;
  }

  mkdir(parent: number, name: string, ctx: Ctx = rootCtx, mode = 0o755): number {
    return this.ok({ kind: "mkdir", parent, name: nameFromText(name), mode, umask: 0, copysgid: true }, ctx).inode;
  }

  create(parent: number, name: string, ctx: Ctx = rootCtx, mode = 0o644): number {
    return this.ok({ kind: "create", parent, name: nameFromText(name), mode, umask: 0 }, ctx).inode;
  }

  attr(inode: number, ctx: Ctx = rootCtx): Attr {
    return this.ok({ kind: "getattr", inode, opened: true }, ctx).attr;
  }

  lookup(parent: number, name: string, ctx: Ctx = rootCtx): Result {
    return this.run({ kind: "lookup", parent, name: nameFromText(name) }, ctx);
  }

  names(dir: number, ctx: Ctx = rootCtx): string[] {
    return this.ok({ kind: "readdir", inode: dir, withAttr: false, maxEntries: 0xffffffff }, ctx).entries.map((e) => e.name);
  }
}
