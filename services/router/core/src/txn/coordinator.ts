/**
 * The coordinator of operations spanning shards (@antler/ops txn.ts, "Life of such an operation"):
 * for one client request it finds what earlier attempts decided, or plans a new attempt, prepares
 * every participant, writes the decision create-only, commits and answers. Pure: every effect
 * goes through CoordinatorPorts.
 *
 * Attempts. Attempt n of request r is transaction txidOf(r, n). Before planning, the decisions of
 * attempts 1, 2, … are read: a "commit" is finished (committed again everywhere — txcommit is
 * idempotent — and answered from the participants), an "abort" moves on to the next number, and
 * the first number without a decision is run. An attempt whose prepare finds an inode held by
 * another transaction (TXLOCKED), or whose "commit" loses to a participant's "abort", is aborted
 * and retried as the next number after a random backoff growing with the attempt (capped).
 * Conflicts are retried until the request has waited limits.txConflictPatienceMs (or made
 * limits.txAttemptsMax attempts): a lock can belong to a transaction whose coordinator died
 * after preparing it — also the request's own earlier attempt, whose re-run from the client's
 * retry finds its own locks (a directory move's ancestry walk refuses to pass them) — and such a
 * lock goes only when the participants' resolvers abort it, txResolveAfterMs after the prepare.
 *
 * Failures. Any participant that may hold a prepared transaction (its prepare succeeded, or its
 * answer was lost) is told to abort after "abort" is stored, so its resolver agrees even if our
 * txabort never arrives. A commit that cannot reach its participant is retried until the request's
 * patience runs out; the decision is durable and the participant's resolver applies it later.
 *
 * Locks. Transactions touching a common inode (mkdirs in one directory) queue for it here, in
 * arrival order, for the time from prepare to the last commit — the time the participants hold
 * the same inodes locked — so they do not collide at the shards and starve each other with
 * aborts and backoffs. Directory moves to another parent also run one at a time, from the
 * ancestry check to the last commit, so two moves can never together form a cycle: here, and in
 * the cluster under the durable move lock (move-lock.ts), because the coordinator lease does not
 * stop a paused former holder; the lock is fenced after the prepares, before "commit" is stored.
 *
 * One request id is coordinated at most once at a time here: a duplicate (the gateway's hedge, a
 * shard forwarding a retry) waits for the running one and gets the same answer. Recent successful
 * answers are remembered, so a retry after the decision was forgotten still gets its answer.
 */
import { limits } from "@antler/base";
import {
  Status,
  txidOf,
  type Command,
  type CommandKind,
  type Ctx,
  type ErrorStatus,
  type MetaRequest,
  type NewNodeSpec,
  type Result,
  type TxDecision,
  type TxPartOutput,
} from "@antler/ops";
import { composeAnswer, type AnswerTarget } from "./compose.ts";
import { isDirectoryMove, planLink, planNewNode, planRemove, planRename, touchedInodes, type Participant, type Plan, type PlanContext } from "./plan.ts";
import { ShardUnavailableError, type CoordinatorPorts } from "./ports.ts";
import { MoveLock } from "./move-lock.ts";
import { InodeLocks, SerialLock } from "./serial-lock.ts";

/** The client commands carried out here (@antler/ops CoordinatedKind). */
const coordinatedKinds: ReadonlySet<CommandKind> = new Set<CommandKind>(["mkdir", "mknod", "create", "symlink", "unlink", "rmdir", "rename", "link"]);
const newNodeKinds: ReadonlySet<CommandKind> = new Set<CommandKind>(["mkdir", "mknod", "create", "symlink"]);

export interface CoordinatorOptions {
  /** Attempts at most before a conflicting request gets EAGAIN (limits.txAttemptsMax). */
  readonly attemptsMax?: number;
  /** A conflicting request gets EAGAIN once it has waited this long (limits.txConflictPatienceMs). */
  readonly conflictPatienceMs?: number;
  /** Backoff between conflicting attempts: random up to this × attempt (limits.txConflictBackoffMs)... */
  readonly conflictBackoffMs?: number;
  /** ...and at most this (limits.txConflictBackoffMaxMs). */
  readonly conflictBackoffMaxMs?: number;
  /** Ancestors a directory move may walk (limits.txAncestryDepthMax). */
  readonly ancestryDepthMax?: number;
  /** How long a commit keeps trying an unreachable participant (limits.txCommitPatienceMs). */
  readonly commitPatienceMs?: number;
  /** Successful answers remembered for retries (limits.txAnswersRememberedMax). */
  readonly answersRememberedMax?: number;
  /** The directory-move lock of a silent holder is taken over after this (limits.txMoveLockStaleMs). */
  readonly moveLockStaleMs?: number;
}

/**
 * How an attempt ended: an answer for the client, a conflict to retry as the next attempt, or
 * "taken": another attempt of the request committed (a participant answered TXTAKEN).
 */
type AttemptOutcome = { readonly kind: "answer"; readonly result: Result } | { readonly kind: "retry" } | { readonly kind: "taken" };

const answer = (result: Result): AttemptOutcome => ({ kind: "answer", result });
const statusOnly = (status: ErrorStatus): AttemptOutcome => answer({ status });
/** The request ids of our own direct executions end so: such a request is never made direct again. */
const directSuffix = "/direct";

/** Per-call request ids inside a transaction: `${txid}/<n>` (@antler/ops txn.ts). */
const CallNumber = { inspect: 0, prepare: 1, commit: 2, abort: 3, answer: 4 } as const;

export class Coordinator {
  readonly #ports: CoordinatorPorts;
  readonly #attemptsMax: number;
  readonly #conflictPatienceMs: number;
  readonly #conflictBackoffMs: number;
  readonly #conflictBackoffMaxMs: number;
  readonly #ancestryDepthMax: number;
  readonly #commitPatienceMs: number;
  readonly #answersRememberedMax: number;
  readonly #moves = new SerialLock();
  readonly #moveLock: MoveLock;
  readonly #inodes = new InodeLocks();
  readonly #running = new Map<string, Promise<Result>>();
  readonly #answers = new Map<string, Result>();

  constructor(ports: CoordinatorPorts, options: CoordinatorOptions = {}) {
    this.#ports = ports;
    this.#attemptsMax = options.attemptsMax ?? limits.txAttemptsMax;
    this.#conflictPatienceMs = options.conflictPatienceMs ?? limits.txConflictPatienceMs;
    this.#conflictBackoffMs = options.conflictBackoffMs ?? limits.txConflictBackoffMs;
    this.#conflictBackoffMaxMs = options.conflictBackoffMaxMs ?? limits.txConflictBackoffMaxMs;
    this.#ancestryDepthMax = options.ancestryDepthMax ?? limits.txAncestryDepthMax;
    this.#commitPatienceMs = options.commitPatienceMs ?? limits.txCommitPatienceMs;
    this.#answersRememberedMax = options.answersRememberedMax ?? limits.txAnswersRememberedMax;
    const moveLockStaleMs = options.moveLockStaleMs ?? limits.txMoveLockStaleMs;
    // Waiting for the lock outlasts its staleness, so a lock a dead holder left is taken over.
    this.#moveLock = new MoveLock(ports, moveLockStaleMs, 2 * moveLockStaleMs);
  }

  /** Requests being coordinated now. */
  get running(): number {
    return this.#running.size;
  }

  /** Carries out `request` across shards and answers what the client gets. Never rejects. */
  coordinate(request: MetaRequest): Promise<Result> {
    const requestId = request.ctx.requestId;
    if (requestId === undefined || requestId === "" || !coordinatedKinds.has(request.cmd.kind)) return Promise.resolve({ status: Status.EINVAL });
    const remembered = this.#answers.get(requestId);
    if (remembered !== undefined) return Promise.resolve(remembered);
    const running = this.#running.get(requestId);
    if (running !== undefined) return running;
    const promise = this.#coordinateOnce(request, requestId).finally(() => this.#running.delete(requestId));
    this.#running.set(requestId, promise);
    return promise;
  }

  async #coordinateOnce(request: MetaRequest, requestId: string): Promise<Result> {
    let attempts = 0;
    let result: Result;
    try {
      [result, attempts] = await this.#attempts(request, requestId);
    } catch (err) {
      // A store or shard that stayed unreachable: the client retries later; whatever was decided
      // is carried out by the participants' resolvers meanwhile.
      this.#ports.event?.({ kind: "failed", command: request.cmd.kind, detail: err instanceof Error ? err.message : String(err) });
      result = { status: Status.EAGAIN };
    }
    if (result.status === Status.OK) this.#remember(requestId, result);
    this.#ports.event?.({ kind: "coordinated", command: request.cmd.kind, status: result.status, attempts });
    return result;
  }

  #remember(requestId: string, result: Result): void {
    this.#answers.set(requestId, result);
    if (this.#answers.size > this.#answersRememberedMax) {
      const oldest = this.#answers.keys().next();
      if (oldest.done !== true) this.#answers.delete(oldest.value);
    }
  }

  async #attempts(request: MetaRequest, requestId: string): Promise<[Result, number]> {
    const patienceEndMs = this.#ports.nowMs() + this.#conflictPatienceMs;
    for (let attempt = 1; attempt <= this.#attemptsMax; attempt++) {
      const txid = txidOf(requestId, attempt);
      const stored = await this.#ports.readDecision(txid);
      if (stored !== null) {
        if (stored.decision === "abort") continue;
        this.#ports.event?.({ kind: "recovered", txid });
        return [await this.#finishStored(request, stored), attempt];
      }
      const outcome = await this.#attempt(request, txid, requestId.endsWith(directSuffix));
      if (outcome.kind === "answer") return [outcome.result, attempt];
      if (outcome.kind === "taken") {
        // Another router ran an attempt of this request at the same time (a lease handover) and
        // it committed: that attempt's decision answers the client.
        const committed = await this.#committedAttempt(requestId);
        this.#ports.event?.({ kind: "recovered", txid: committed?.txid ?? txid });
        return [committed === null ? { status: Status.EAGAIN } : await this.#finishStored(request, committed), attempt];
      }
      this.#ports.event?.({ kind: "conflict", txid });
      if (this.#ports.nowMs() >= patienceEndMs) return [{ status: Status.EAGAIN }, attempt];
      const backoffMs = Math.min(this.#conflictBackoffMs * attempt, this.#conflictBackoffMaxMs);
      await this.#ports.sleep(backoffMs * this.#ports.random());
    }
    return [{ status: Status.EAGAIN }, this.#attemptsMax];
  }

  /**
   * The committed attempt of `requestId`, read from the decisions (null once they were forgotten,
   * txDecisionRetainMs after the commit: the client then retries and gets EAGAIN). Read in
   * batches: another router's attempt numbers are not ours.
   */
  async #committedAttempt(requestId: string): Promise<TxDecision | null> {
    const batch = 20;
    for (let first = 1; first <= this.#attemptsMax; first += batch) {
      const numbers = Array.from({ length: Math.min(batch, this.#attemptsMax - first + 1) }, (_, i) => first + i);
      const stored = await Promise.all(numbers.map((n) => this.#ports.readDecision(txidOf(requestId, n))));
      const committed = stored.find((d) => d?.decision === "commit");
      if (committed !== undefined && committed !== null) return committed;
    }
    return null;
  }

  /** One attempt: plan, prepare, decide, commit. Directory moves run it under the move lock. */
  async #attempt(request: MetaRequest, txid: string, isDirect: boolean): Promise<AttemptOutcome> {
    const pc: PlanContext = { ports: this.#ports, ctx: callCtx(request.ctx, txid, CallNumber.inspect), directAllowed: !isDirect };
    const cmd = request.cmd;
    if (cmd.kind === "rename" && (await isDirectoryMove(pc, cmd))) {
      // One at a time here (no point in competing for the durable lock with ourselves), and one
      // at a time in the cluster (move-lock.ts): from the ancestry check to the last commit.
      return this.#moves.run(() => this.#underMoveLock(txid, (fence) => this.#planned(request, txid, () => planRename(pc, cmd, this.#ancestryDepthMax), fence)));
    }
    return this.#planned(request, txid, () => plan(pc, cmd, this.#ancestryDepthMax));
  }

  /**
   * Runs a directory move holding the cluster's move lock. `work` gets the fence: called once
   * every participant is prepared, it says whether the lock is still ours (false: abandon).
   */
  async #underMoveLock(txid: string, work: (fence: () => Promise<boolean>) => Promise<AttemptOutcome>): Promise<AttemptOutcome> {
    let held = await this.#moveLock.acquire(txid);
    if (held === null) {
      this.#ports.event?.({ kind: "failed", command: "rename", detail: "the directory-move lock stayed held" });
      return statusOnly(Status.EAGAIN);
    }
    try {
      return await work(async () => {
        const fenced = await this.#moveLock.fence(txid, held!);
        if (fenced === null) return false;
        held = fenced;
        return true;
      });
    } finally {
      await this.#moveLock.release(held);
    }
  }

  /** `fence` (directory moves): asked after the prepares, before "commit" is stored. */
  async #planned(request: MetaRequest, txid: string, makePlan: () => Promise<Plan>, fence?: () => Promise<boolean>): Promise<AttemptOutcome> {
    const planned = await makePlan();
    switch (planned.kind) {
      case "answer":
        // A fact was held by a prepared transaction (txinspect of a node still being created,
        // whose entry a resolver committed first): plan again once it is decided.
        if (planned.result.status === Status.TXLOCKED) return { kind: "retry" };
        return answer(planned.result);
      case "direct":
        // Our own request id for it: the shard does not know it as taken by a transaction.
        return answer(await this.#ports.call(request.cmd, { ...plainCtx(request.ctx), requestId: `${txid}${directSuffix}` }));
      case "new-node":
        return this.#inodes.run([planned.cmd.parent], () => this.#newNode(request, txid, planned));
      case "same-node":
        return this.#sameNode(request, txid, planned);
      case "parts": {
        const inodes = planned.participants.flatMap((p) => p.parts.flatMap(touchedInodes));
        const target = { command: request.cmd.kind, inode: planned.answer.inode };
        return this.#inodes.run(inodes, () => this.#transaction(request, txid, planned.participants, planned.checkOrder, target, fence));
      }
    }
  }

  /** mkdir and spilled creates: the parent's shard decides the spec, then the node's shard allocates. */
  async #newNode(request: MetaRequest, txid: string, planned: Extract<Plan, { kind: "new-node" }>): Promise<AttemptOutcome> {
    const requestId = request.ctx.requestId!;
    const entry = await this.#prepare(request.ctx, txid, requestId, { shard: planned.entry.shard, slot: planned.entry.slot, parts: [{ op: "entry-new", cmd: planned.cmd }] });
    if (entry.kind !== "prepared") return this.#abandon(request, txid, [entry]);
    const specOutput = entry.outputs[0];
    // A shard answering something else is not following the protocol: undo, and refuse.
    if (specOutput?.op !== "entry-new") return this.#abandon(request, txid, [entry], Status.EINVAL);
    const spec: NewNodeSpec = specOutput.spec;
    const node = await this.#prepare(request.ctx, txid, requestId, {
      shard: planned.node.shard,
      slot: planned.node.slot,
      parts: [{ op: "node-new", spec, slot: planned.node.slot, parent: planned.cmd.parent, name: planned.cmd.name }],
    });
    if (node.kind !== "prepared") return this.#abandon(request, txid, [node, entry]);
    const nodeOutput = node.outputs[0];
    if (nodeOutput?.op !== "node-new") return this.#abandon(request, txid, [node, entry], Status.EINVAL);
    // The node's shard commits first: an entry never names a node that does not exist yet.
    const participants = [node.participant, entry.participant];
    return this.#decideAndCommit(request, txid, participants, nodeOutput.inode, { command: request.cmd.kind, inode: nodeOutput.inode });
  }

  /** A rename onto another name of the same node: confirmed under the source's lock, then undone. */
  async #sameNode(request: MetaRequest, txid: string, planned: Extract<Plan, { kind: "same-node" }>): Promise<AttemptOutcome> {
    const source = await this.#prepare(request.ctx, txid, request.ctx.requestId!, planned.source);
    if (source.kind !== "prepared") return this.#abandon(request, txid, [source]);
    let confirmed: Result | null = null;
    try {
      const ctx = callCtx(request.ctx, txid, CallNumber.inspect);
      const target = await this.#ports.call({ kind: "txinspect", inode: planned.target.parent, name: planned.target.name }, ctx);
      const entry = target.status === Status.OK ? (target as { readonly entry?: { readonly inode: number } | null }).entry : null;
      if (entry?.inode === planned.inode) confirmed = await composeAnswer(this.#ports, callCtx(request.ctx, txid, CallNumber.answer), { command: "rename", inode: planned.inode }, []);
    } catch (err) {
      if (!(err instanceof ShardUnavailableError)) throw err;
      confirmed = { status: Status.EAGAIN };
    }
    // Nothing was to change: the transaction only held the source still while the target was read.
    const undone = await this.#abandon(request, txid, [source], Status.EAGAIN);
    if (undone.kind === "answer" && undone.result.status === Status.OK) return undone;
    // The target changed meanwhile: plan again from fresh facts.
    return confirmed === null ? { kind: "retry" } : answer(confirmed);
  }

  /** Prepares every participant at once; on any failure aborts them all. */
  async #transaction(
    request: MetaRequest,
    txid: string,
    participants: readonly Participant[],
    checkOrder: readonly number[],
    target: AnswerTarget,
    fence?: () => Promise<boolean>,
  ): Promise<AttemptOutcome> {
    const requestId = request.ctx.requestId!;
    const prepared = await Promise.all(participants.map((participant) => this.#prepare(request.ctx, txid, requestId, participant)));
    if (prepared.some((p) => p.kind !== "prepared")) {
      const ordered = [...prepared].sort((a, b) => checkOrder.indexOf(a.participant.shard) - checkOrder.indexOf(b.participant.shard));
      return this.#abandon(request, txid, ordered);
    }
    if (fence !== undefined && !(await fence())) {
      // Another coordinator took the move lock over while we stalled: our ancestry check may be
      // stale. Undo, and try again (under the lock) from fresh facts.
      const undone = await this.#abandon(request, txid, prepared, Status.EAGAIN);
      return undone.kind === "answer" && undone.result.status === Status.OK ? undone : { kind: "retry" };
    }
    return this.#decideAndCommit(request, txid, participants, undefined, target);
  }

  async #prepare(clientCtx: Ctx, txid: string, requestId: string, participant: Participant): Promise<PrepareOutcome> {
    const cmd: Command = { kind: "txprepare", slot: participant.slot, txid, parts: participant.parts, clientRequestId: requestId };
    try {
      const result = await this.#ports.call(cmd, callCtx(clientCtx, txid, CallNumber.prepare));
      if (result.status !== Status.OK) return { kind: "failed", participant, status: result.status };
      const outputs = (result as { readonly outputs?: unknown }).outputs;
      return { kind: "prepared", participant, outputs: Array.isArray(outputs) ? (outputs as TxPartOutput[]) : [] };
    } catch (err) {
      if (!(err instanceof ShardUnavailableError)) throw err;
      return { kind: "unknown", participant };
    }
  }

  /**
   * A failed attempt: stores "abort" (when any participant may hold a prepared transaction) and
   * tells those participants. `outcomes` in check order: the first failure is the answer, unless
   * `status` says otherwise.
   */
  async #abandon(request: MetaRequest, txid: string, outcomes: readonly PrepareOutcome[], status?: ErrorStatus): Promise<AttemptOutcome> {
    const mayHold = outcomes.filter((o) => o.kind !== "failed").map((o) => o.participant);
    if (mayHold.length > 0) {
      const stored = await this.#decideWithPatience({ decision: "abort", txid, participants: mayHold.map((p) => p.shard), by: "coordinator" });
      // Only another coordinator running this very attempt can have committed it: finish that.
      if (stored?.decision === "commit") return answer(await this.#finishStored(request, stored));
      const acknowledged = await this.#abortAll(request.ctx, txid, mayHold);
      if (acknowledged && stored !== null) await this.#forget(txid);
    }
    // The request was carried out by another attempt: whatever else failed follows from that.
    if (outcomes.some((o) => o.kind === "failed" && o.status === Status.TXTAKEN)) return { kind: "taken" };
    if (status !== undefined) return statusOnly(status);
    const failed = outcomes.find((o) => o.kind === "failed");
    if (failed === undefined) return statusOnly(Status.EAGAIN);
    if (failed.status === Status.TXLOCKED) return { kind: "retry" };
    // MOVED is the ports' business; one that still reaches here is a map in flux: retry later.
    if (failed.status === Status.MOVED) return statusOnly(Status.EAGAIN);
    return statusOnly(failed.status);
  }

  async #decideAndCommit(
    request: MetaRequest,
    txid: string,
    participants: readonly Participant[],
    newInode: number | undefined,
    target: AnswerTarget,
  ): Promise<AttemptOutcome> {
    const decision: TxDecision = {
      decision: "commit",
      txid,
      participants: participants.map((p) => p.shard),
      ...(newInode !== undefined ? { newInode } : {}),
      answerInode: target.inode,
      by: "coordinator",
    };
    const stored = await this.#decideWithPatience(decision);
    if (stored === null) {
      // Nothing could be stored: the participants' resolvers decide (they write "abort" if
      // nobody else wrote), and the client's retry finds out which.
      return statusOnly(Status.EAGAIN);
    }
    if (stored.decision === "abort") {
      // A participant gave up waiting and wrote "abort" first: that is the outcome.
      if (await this.#abortAll(request.ctx, txid, participants)) await this.#forget(txid);
      return { kind: "retry" };
    }
    const outputs = await this.#commitAll(request.ctx, txid, participants, newInode);
    return answer(await composeAnswer(this.#ports, callCtx(request.ctx, txid, CallNumber.answer), target, outputs));
  }

  /** A "commit" found for an earlier attempt: carry it out again and answer from the participants. */
  async #finishStored(request: MetaRequest, stored: TxDecision): Promise<Result> {
    const participants = stored.participants.map((shard) => ({ shard, slot: this.#ports.slotOfShard(shard) }));
    const outputs = await this.#commitAll(request.ctx, stored.txid, participants, stored.newInode);
    const inode = answerInodeOf(request.cmd, stored);
    if (inode === null) return { status: Status.EAGAIN };
    return composeAnswer(this.#ports, callCtx(request.ctx, stored.txid, CallNumber.answer), { command: request.cmd.kind, inode }, outputs);
  }

  /**
   * txcommit to each participant in order, each retried until the patience runs out; forgets the
   * decision when all acknowledged. Answers every output collected.
   */
  async #commitAll(clientCtx: Ctx, txid: string, participants: readonly { readonly shard: number; readonly slot: number }[], newInode: number | undefined): Promise<TxPartOutput[]> {
    const deadline = this.#ports.nowMs() + this.#commitPatienceMs;
    const outputs: TxPartOutput[] = [];
    let acknowledged = true;
    for (const participant of participants) {
      const cmd: Command = { kind: "txcommit", slot: participant.slot, txid, ...(newInode !== undefined ? { newInode } : {}) };
      const result = await this.#tellWithPatience(cmd, callCtx(clientCtx, txid, CallNumber.commit), deadline, participant.shard, "commit");
      if (result === null) acknowledged = false;
      else outputs.push(...(result as { readonly outputs?: readonly TxPartOutput[] }).outputs ?? []);
    }
    if (acknowledged) await this.#forget(txid);
    return outputs;
  }

  /** txabort to every participant at once; whether all acknowledged. */
  async #abortAll(clientCtx: Ctx, txid: string, participants: readonly { readonly shard: number; readonly slot: number }[]): Promise<boolean> {
    const deadline = this.#ports.nowMs() + this.#commitPatienceMs;
    const results = await Promise.all(
      participants.map((p) => this.#tellWithPatience({ kind: "txabort", slot: p.slot, txid }, callCtx(clientCtx, txid, CallNumber.abort), deadline, p.shard, "abort")),
    );
    return results.every((r) => r !== null);
  }

  /**
   * Sends an idempotent outcome (txcommit/txabort) until the shard answers OK or the deadline
   * passes; null when it did not (reported: the participant's resolver finishes it).
   */
  async #tellWithPatience(cmd: Command, ctx: Ctx, deadline: number, shard: number, phase: "commit" | "abort"): Promise<Result | null> {
    let detail = "";
    for (let round = 0; ; round++) {
      try {
        const result = await this.#ports.call(cmd, ctx);
        if (result.status === Status.OK) return result;
        detail = `status ${result.status}`;
        // Anything but a transient refusal will not change by repeating it.
        if (result.status !== Status.EAGAIN && result.status !== Status.TXLOCKED && result.status !== Status.MOVED) break;
      } catch (err) {
        if (!(err instanceof ShardUnavailableError)) throw err;
        detail = err.message;
      }
      if (this.#ports.nowMs() >= deadline) break;
      await this.#ports.sleep(Math.min(retryPauseMinMs * 2 ** round, retryPauseMaxMs));
    }
    this.#ports.event?.({ kind: "participant-unreached", txid: (cmd as { txid: string }).txid, shard, phase, detail });
    return null;
  }

  /** Stores a decision create-only, retrying an unreachable store; null when it never answered. */
  async #decideWithPatience(decision: TxDecision): Promise<TxDecision | null> {
    const deadline = this.#ports.nowMs() + this.#commitPatienceMs;
    for (let round = 0; ; round++) {
      try {
        // Repeating is safe: a create that did happen answers our own record the second time.
        return await this.#ports.decide(decision);
      } catch (err) {
        if (this.#ports.nowMs() >= deadline) {
          this.#ports.event?.({ kind: "failed", command: "txprepare", detail: `decision store unreachable: ${String(err)}` });
          return null;
        }
      }
      await this.#ports.sleep(Math.min(retryPauseMinMs * 2 ** round, retryPauseMaxMs));
    }
  }

  async #forget(txid: string): Promise<void> {
    try {
      await this.#ports.forgetDecision(txid);
    } catch {
      // A decision left behind is harmless: it only answers questions nobody asks any more.
    }
  }
}

/** Pauses between repeats of a txcommit/txabort/decision write to an unreachable party. */
const retryPauseMinMs = 10;
const retryPauseMaxMs = 500;

type PrepareOutcome =
  | { readonly kind: "prepared"; readonly participant: Participant; readonly outputs: readonly TxPartOutput[] }
  | { readonly kind: "failed"; readonly participant: Participant; readonly status: ErrorStatus }
  /** No answer: the participant may or may not hold the prepared transaction. */
  | { readonly kind: "unknown"; readonly participant: Participant };

function plan(pc: PlanContext, cmd: Command, depthMax: number): Promise<Plan> {
  switch (cmd.kind) {
    case "mkdir":
    case "mknod":
    case "create":
    case "symlink":
      return Promise.resolve(planNewNode(pc, cmd));
    case "unlink":
    case "rmdir":
      return planRemove(pc, cmd);
    case "link":
      return planLink(pc, cmd);
    case "rename":
      return planRename(pc, cmd, depthMax);
    default:
      return Promise.resolve({ kind: "answer", result: { status: Status.EINVAL } });
  }
}

/** The client's ctx without what only concerns the client's own request (resends). */
function plainCtx(ctx: Ctx): Ctx {
  return { sessionId: ctx.sessionId, uid: ctx.uid, gids: ctx.gids, sesflags: ctx.sesflags, rootInode: ctx.rootInode };
}

/** The ctx of call `n` of transaction `txid`: the client's identity, a request id of its own. */
function callCtx(ctx: Ctx, txid: string, n: number): Ctx {
  return { ...plainCtx(ctx), requestId: `${txid}/${n}` };
}

/** The node a stored "commit" answers about, or null when the record does not say. */
function answerInodeOf(cmd: Command, decision: TxDecision): number | null {
  if (newNodeKinds.has(cmd.kind)) return decision.newInode ?? null;
  if (cmd.kind === "link") return cmd.inode;
  return decision.answerInode ?? null;
}
