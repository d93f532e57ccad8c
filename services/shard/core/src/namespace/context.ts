/**
 * What the command handlers get. A handler of a mutating command comes in two halves:
 * `plan*` validates the command against the state (read only) and returns either a Result
 * (a failure, or a success that changes nothing) or the Op to log; `apply*` performs an Op and
 * computes the command's result from the state afterwards. Live execution and replay share the
 * apply half, so they cannot diverge.
 */
import { Status, type Ctx, type ErrorStatus, type Failure, type Result } from "@antler/ops";
import type { RemoteAttrs } from "../api.ts";
import type { Stamp } from "../hlc.ts";
import type { Caller, Op } from "../log-entry.ts";
import type { State } from "../state.ts";
import type { ServerView } from "../chunks/servers.ts";
import type { WorkRegistry } from "../chunks/work.ts";

export interface Env {
  /** The slot of a new directory (BLAKE3(parent ‖ name) mod 2048 in production). */
  readonly slotOfNewDirectory: (parent: number, name: string) => number;
}

export interface Planning {
  readonly st: State;
  readonly ctx: Ctx;
  /** "Now" in seconds, as the entry will carry it. */
  readonly ts: number;
  /** "Now" in milliseconds (the entry's stamp): judges chunk locks. */
  readonly nowMs: number;
  readonly env: Env;
  /** Leader soft state: the live chunkservers and the chunk work in flight. */
  readonly servers: ServerView;
  readonly work: WorkRegistry;
}

export interface Applying {
  readonly st: State;
  readonly caller: Caller;
  readonly ts: number;
  readonly stamp: Stamp;
}

export type Planned = Op | Result;

export function isResult(planned: Planned): planned is Result {
  return "status" in planned;
}

export function fail(status: ErrorStatus): Failure {
  return { status };
}

export const ok = { status: Status.OK } as const;

/**
 * The command spans shards (@antler/ops txn.ts): the shell passes the unchanged request to the
 * coordinator. Only returned after every check this shard can make in mfsmaster's order.
 */
export interface Forward {
  readonly forward: "coordinator";
}

export const forwardToCoordinator: Forward = { forward: "coordinator" };

export function isForward(value: object): value is Forward {
  return "forward" in value;
}

/** A read whose answer needs attributes of nodes on other shards (api.ts RemoteAttrs). */
export interface RemoteRead {
  readonly remote: RemoteAttrs;
}

export function isRemoteRead(value: object): value is RemoteRead {
  return "remote" in value;
}
