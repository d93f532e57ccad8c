/**
 * Carries out the ChunkWork of the shard's executions (shard-core api.ts) on the leader.
 *
 * An execution's entry goes to the commit queue as always. When it carries chunk work, the
 * commands are sent (all at once, chunk-op-sender.ts) only once that entry — and with it every
 * earlier one — is durable: a chunkserver must never act on a decision the log could still lose.
 * When every command has an outcome, `finishChunkWork` gives the real answer and its own entry,
 * which is carried the same way (it may even carry further work), and the answer is released only
 * once that entry is durable too. So the rule "no reply before every earlier entry is durable"
 * holds for chunk work as for everything else.
 *
 * Awaited work answers the requester with the final result; work that is not awaited (deletions
 * housekeeping or a report decided) releases the first result at once and finishes silently.
 *
 * The state machine is synchronous and is called only from here and the request loop, each call
 * followed in the same turn by its submit to the commit queue, so entries reach the log in the
 * order the machine produced them; outcomes arriving later are simply the next such call. Once the
 * server stops serving, no further work is sent and outcomes still arriving are dropped (a new
 * leader starts without pending work; the machine resolves what it inherits by timeouts and
 * housekeeping), so nothing more is submitted.
 */
import { Status, type Result } from "@antler/ops";
import type { ChunkWork } from "@antler/shard-core";
import type { Logger } from "@antler/telemetry";
import type { ChunkOpSender } from "./chunk-op-sender.ts";
import { managesChunks, type ShardExecution, type ShardStateMachine } from "./state-machine.ts";

export interface ChunkWorkRunnerOptions<E> {
  readonly sm: ShardStateMachine<E>;
  readonly sender: ChunkOpSender;
  /** The commit queue's submit: `release` runs once `entry` and every earlier entry are durable. */
  readonly submit: (entry: Uint8Array | null, release: () => void) => void;
  readonly serving: () => boolean;
  readonly nowMs: () => number;
  readonly logger: Logger;
}

/** Gets the final result of a request (called at most once, after its entries are durable). */
export type Answer = (result: Result) => void;

export class ChunkWorkRunner<E> {
  readonly #options: ChunkWorkRunnerOptions<E>;
  #inFlight = 0;

  constructor(options: ChunkWorkRunnerOptions<E>) {
    this.#options = options;
  }

  /** Chunk works whose commands are out and not yet finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Submits the execution's entry and, once it is durable, answers (`answer` may be null: nobody
   * waits) or carries out its chunk work first. Must be called right after the machine call that
   * produced the execution, in the same turn.
   */
  carry(execution: ShardExecution<E>, answer: Answer | null): void {
    const { sm, submit } = this.#options;
    const entry = execution.entry === null ? null : sm.encodeEntry(execution.entry);
    const work = execution.chunkWork;
    if (work === undefined) {
      submit(entry, () => answer?.(execution.result));
      return;
    }
    if (!work.awaited) {
      submit(entry, () => {
        answer?.(execution.result);
        this.#run(work, null);
      });
      return;
    }
    submit(entry, () => this.#run(work, answer));
  }

  #run(work: ChunkWork, answer: Answer | null): void {
    const { sm, sender, serving, nowMs, logger } = this.#options;
    // Stopping: the outcomes could not be recorded, so the chunkservers are not asked either.
    if (!serving()) return;
    this.#inFlight++;
    void Promise.all(work.commands.map((command) => sender.send(command))).then((outcomes) => {
      this.#inFlight--;
      if (!serving()) {
        logger.debug("chunk work finished after the server stopped serving; dropped", { workId: work.workId });
        return;
      }
      const failed = outcomes.filter((outcome) => outcome.status !== Status.OK).length;
      if (failed > 0) logger.debug("chunk operations failed", { workId: work.workId, failed, of: outcomes.length });
      if (!managesChunks(sm)) {
        // Only a chunk-managing machine produces work; nothing else could finish it.
        logger.error("chunk work from a state machine that cannot finish it", { workId: work.workId });
        return;
      }
      let next: ShardExecution<E>;
      try {
        next = sm.finishChunkWork(work.workId, outcomes, nowMs());
      } catch (err) {
        logger.error("finishChunkWork threw", { workId: work.workId, err });
        // The answer still waits for everything submitted before it.
        this.#options.submit(null, () => answer?.({ status: Status.IO }));
        return;
      }
      this.carry(next, answer);
    });
  }
}
