/**
 * Chunk work in flight: the leader's memory of chunk commands it sent and waits for (never logged;
 * a new leader starts with none and relies on lock timeouts and housekeeping). It also answers
 * "is this chunk busy?" (mfsmaster's c->operation != NONE) so two operations never overlap on one
 * chunk, and which client requests are still waiting for chunkservers.
 */
import { limits } from "@antler/base";
import type { CommandOf, Ctx } from "@antler/ops";
import type { ChunkCommand } from "../api.ts";
import type { Op } from "../log-entry.ts";

interface ChunkOperation {
  readonly ctx: Ctx;
  readonly inode: number;
  readonly index: number;
  readonly prevChunkId: bigint;
  readonly chunkId: bigint;
  readonly version: number;
  readonly oldVersion: number;
}

export type PendingWork =
  | (ChunkOperation & { readonly kind: "write"; readonly cmd: CommandOf<"writechunk"> })
  | (ChunkOperation & { readonly kind: "truncate"; readonly cmd: CommandOf<"truncate"> })
  /** Housekeeping replications and deletions (outcomes change copies). */
  | { readonly kind: "housekeeping" }
  /** Deletions of copies nobody knows (outcomes change nothing). */
  | { readonly kind: "forget" };

interface Registered {
  readonly work: PendingWork;
  readonly commands: readonly ChunkCommand[];
  readonly startedMs: number;
}

/** How long work may stay unanswered before its chunk (and request) is considered free again. */
const staleAfterMs = 2 * limits.chunkOpTimeoutMs;
/** Work never answered is forgotten after this long (its outcome can no longer arrive). */
const forgetAfterMs = 10 * staleAfterMs;

export class WorkRegistry {
  #nextWorkId = 1;
  readonly #pending = new Map<number, Registered>();
  /** chunk id → work busy with it. */
  readonly #busy = new Map<bigint, number>();
  /** requestId → work that will answer it. */
  readonly #requests = new Map<string, number>();

  add(work: PendingWork, commands: readonly ChunkCommand[], nowMs: number): number {
    this.#forgetAbandoned(nowMs);
    const workId = this.#nextWorkId++;
    this.#pending.set(workId, { work, commands, startedMs: nowMs });
    for (const c of commands) if (work.kind !== "forget") this.#busy.set(c.command.chunkId, workId);
    if ((work.kind === "write" || work.kind === "truncate") && work.ctx.requestId !== undefined) {
      this.#requests.set(work.ctx.requestId, workId);
    }
    if (work.kind === "write" || work.kind === "truncate") this.#busy.set(work.chunkId, workId);
    return workId;
  }

  /** Drops work whose outcome never came (oldest first: the map keeps insertion order). */
  #forgetAbandoned(nowMs: number): void {
    for (const [workId, registered] of this.#pending) {
      if (nowMs - registered.startedMs <= forgetAfterMs) return;
      this.take(workId);
    }
  }

  /** Removes and returns the work (undefined when unknown or already finished). */
  take(workId: number): { work: PendingWork; commands: readonly ChunkCommand[] } | undefined {
    const registered = this.#pending.get(workId);
    if (registered === undefined) return undefined;
    this.#pending.delete(workId);
    for (const [chunkId, id] of [...this.#busy]) if (id === workId) this.#busy.delete(chunkId);
    for (const [requestId, id] of [...this.#requests]) if (id === workId) this.#requests.delete(requestId);
    return registered;
  }

  /**
   * Whether work in flight holds the chunk. Work whose outcome never came back (the shell waits
   * limits.chunkOpTimeoutMs per command) stops holding it after twice that; a late outcome is still
   * accepted.
   */
  isBusy(chunkId: bigint, nowMs: number): boolean {
    const workId = this.#busy.get(chunkId);
    return workId !== undefined && this.#isLive(workId, nowMs);
  }

  isWaiting(requestId: string | undefined, nowMs: number): boolean {
    const workId = requestId === undefined ? undefined : this.#requests.get(requestId);
    return workId !== undefined && this.#isLive(workId, nowMs);
  }

  #isLive(workId: number, nowMs: number): boolean {
    const registered = this.#pending.get(workId);
    return registered !== undefined && nowMs - registered.startedMs <= staleAfterMs;
  }

  /** Replications in flight that read from `csid` (chunkReplicationsPerServerMax bounds them). */
  replicationsFrom(csid: number): number {
    let count = 0;
    for (const { commands } of this.#pending.values()) {
      for (const c of commands) if (c.command.op === "replicate" && c.command.sourceCsid === csid) count++;
    }
    return count;
  }

  /** Drops everything (the state was replaced by importState). */
  clear(): void {
    this.#pending.clear();
    this.#busy.clear();
    this.#requests.clear();
  }
}

/** A plan that needs chunkservers: the op to log now, the work to remember, the commands to send. */
export interface WorkPlan {
  readonly op: Op;
  readonly work: PendingWork;
  readonly commands: readonly ChunkCommand[];
}

export function isWorkPlan(planned: object): planned is WorkPlan {
  return "work" in planned && "commands" in planned;
}
