/**
 * Everything the checkers need to know about a run, recorded as it happens: what each leader
 * sent to the log (which execution made each entry), what the log stored (in order), which
 * execution each reply came from, and what each client asked and got back, when.
 */
import type { Command, Ctx, Result } from "@antler/ops";
import type { StoredMessage } from "./jetstream.ts";
import { decodeRecord, type Execution } from "./shard-driver.ts";
import type { MetaRequestRef, ShardObserver } from "./shard-node.ts";

export interface CommittedRecord {
  readonly seq: number;
  readonly msgId: string;
  readonly node: string;
  readonly epoch: number;
  /** The state machine's encoded entries. */
  readonly entries: readonly Uint8Array[];
  readonly atMs: number;
}

/** One client operation, from its first send to the reply the client accepted. */
export interface ClientOp {
  readonly client: string;
  readonly requestId: string;
  readonly cmd: Command;
  readonly ctx: Ctx;
  readonly invokedMs: number;
  respondedMs?: number;
  /** The result as the client decoded it (through the gateway and the codec, or directly). */
  result?: Result;
  /** The execution whose reply the client accepted. */
  execId?: string;
  attempts: number;
}

/** A command's full content as text. */
export function describeCommand(cmd: Command): string {
  return JSON.stringify(cmd, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Array.from(v) : v));
}

export class History implements ShardObserver {
  /** msgId → the executions behind the batch's entries (null: maintenance). */
  readonly batches = new Map<string, readonly (Execution<MetaRequestRef> | null)[]>();
  readonly replies = new Map<string, { readonly node: string; readonly execution: Execution<MetaRequestRef> }>();
  readonly log: CommittedRecord[] = [];
  readonly seqOfMsgId = new Map<string, number>();
  readonly ops: ClientOp[] = [];
  /** Every start of serving: which replica, in which epoch, from which sequence. */
  readonly servings: { readonly node: string; readonly epoch: number; readonly seq: number; readonly atMs: number }[] = [];
  readonly events: string[] = [];
  /** requestId → the command it was first seen with; a second, different command is a bug. */
  readonly #commandOfRequest = new Map<string, string>();
  /** The first request id seen with two different commands, described. */
  requestIdReuse: string | null = null;
  readonly #now: () => number;
  readonly #traceLimit: number;
  readonly #commandKey: (cmd: Command) => string;

  /** `commandKey`: what makes two commands under one request id the same command. */
  constructor(now: () => number, traceLimit = 200, commandKey: (cmd: Command) => string = describeCommand) {
    this.#now = now;
    this.#traceLimit = traceLimit;
    this.#commandKey = commandKey;
  }

  /** A short trail of notable events, printed with a failure. */
  note(text: string): void {
    this.events.push(`${this.#now()}ms ${text}`);
    if (this.events.length > this.#traceLimit) this.events.shift();
  }

  appendSent(_node: string, msgId: string, writes: readonly (Execution<MetaRequestRef> | null)[]): void {
    if (!this.batches.has(msgId)) this.batches.set(msgId, writes);
    for (const write of writes) if (write !== null) this.#noteRequestId(write.ctx.requestId, write.cmd);
  }

  replied(node: string, execId: string, execution: Execution<MetaRequestRef>): void {
    this.replies.set(execId, { node, execution });
    this.#noteRequestId(execution.ctx.requestId, execution.cmd);
  }

  /**
   * A request id names one client request: the shard answers a repeated id with the result it
   * remembered, so an id reused for another command gets another command's answer.
   */
  #noteRequestId(requestId: string | undefined, cmd: Command): void {
    // txprepare is the exception by design: a coordinator that re-runs an attempt (after a crash,
    // or a second router during a lease handover) prepares the same txid from newer facts under
    // the same call id, and shards never answer txprepare from request-id memory — it is
    // idempotent by txid and parts (an equal prepare gets its outputs, another one TXLOCKED).
    if (requestId === undefined || cmd.kind === "txprepare") return;
    const text = this.#commandKey(cmd);
    const first = this.#commandOfRequest.get(requestId);
    if (first === undefined) this.#commandOfRequest.set(requestId, text);
    else if (first !== text && this.requestIdReuse === null) this.requestIdReuse = `request id ${requestId} was used for ${first} and then for ${text}`;
  }

  serving(node: string, epoch: number, seq: number): void {
    this.servings.push({ node, epoch, seq, atMs: this.#now() });
    this.note(`${node} leads epoch ${epoch} from seq ${seq}`);
  }

  steppedDown(node: string, reason: string): void {
    this.note(`${node} stepped down: ${reason}`);
  }

  stored(message: StoredMessage): void {
    const body = decodeRecord(message.data);
    const msgId = message.msgId ?? `seq-${message.seq}`;
    this.log.push({ seq: message.seq, msgId, node: body.node, epoch: body.epoch, entries: body.entries, atMs: message.storedAtMs });
    this.seqOfMsgId.set(msgId, message.seq);
  }
}
