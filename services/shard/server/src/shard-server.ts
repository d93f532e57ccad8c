/**
 * The shard leader's request loop: decode → execute → group commit → reply.
 *
 * Requests are handled synchronously in the order NATS delivers them: `execute` applies the change
 * in memory and returns an entry; the entry goes to the commit queue, and the reply is released
 * only after every entry executed before it is in the log (commit-queue.ts). Each append names the
 * last sequence this process knows; if the log moved (another process appended), the append is
 * fenced, and this server stops serving at once and reports it, so its owner exits and a fresh
 * process replays the log. No reply is ever sent for an entry that is not durable.
 *
 * One span per request (parent: the trace context in the request headers); the log append is a
 * child span of the request that opened the batch, linked to every other request in it.
 *
 * Executions that need chunkservers (ChunkWork) are carried by chunk-work.ts under the same rule:
 * their commands go out once their entry is durable, and the answer follows the entry of
 * finishChunkWork. A retry of such a request (same request id) that arrives while its work is
 * still out joins it instead of executing again, and gets the same answer. The leader also runs
 * chunk housekeeping (chunk-housekeeping.ts) while it serves.
 */
import { limits } from "@antler/base";
import { FencedError, LogUnavailableError, respondInParts, type LogStream, type Msg, type NatsConnection, type Subscription } from "@antler/io-nats";
import { encodeMessage, shardRequestSubject, Status } from "@antler/ops";
import { activeContext, extractTrace, SpanKind, withSpan, type Context, type Logger } from "@antler/telemetry";
import { chunkserverDirectoryFromEnv, type ChunkserverDirectory } from "./chunk-directory.ts";
import { startChunkHousekeeping, type ChunkHousekeeping } from "./chunk-housekeeping.ts";
import { createNatsChunkOpSender, type ChunkOpSender } from "./chunk-op-sender.ts";
import { ChunkWorkRunner } from "./chunk-work.ts";
import { CommitQueue } from "./commit-queue.ts";
import { encodeBatch } from "./log-batch.ts";
import { parseMetaRequest } from "./request.ts";
import { managesChunks, type ShardExecution, type ShardStateMachine } from "./state-machine.ts";

export interface ShardServerOptions<E> {
  readonly nc: NatsConnection;
  readonly shardId: number;
  readonly log: LogStream;
  readonly sm: ShardStateMachine<E>;
  readonly logger: Logger;
  /** The log's last sequence after replay: the first append expects it. */
  readonly lastSeq: number;
  readonly nowMs?: () => number;
  /** How often `maintain` runs; 0 = never (tests). */
  readonly maintainIntervalMs?: number;
  /** How long an append is retried while the log is unreachable before giving up (fatal). */
  readonly appendRetryMs?: number;
  /** Identifies this process in Nats-Msg-Id, so a retry is recognised as its own append. */
  readonly writerId?: string;
  /**
   * Called after each acknowledged append, in log order, with the record's sequence, bytes and
   * entry count (the snapshotter feeds its replica from here). Must not throw or block.
   */
  readonly onCommitted?: (seq: number, record: Uint8Array, entries: number) => void;
  /**
   * The chunkserver registry (where each chunkserver's gateway is, which servers are live). Absent:
   * for a chunk-managing state machine, one on the Redis at ANTLER_REDIS_URL, owned (closed on
   * stop) by this server; null or no such variable: no chunkserver is reachable (every chunk
   * operation fails with CSNOTPRESENT) and no housekeeping runs.
   */
  readonly chunkservers?: ChunkserverDirectory | null;
  /** How chunk operations travel; default: NATS requests to the holding gateway. */
  readonly chunkOpSender?: ChunkOpSender;
  /** How often chunk housekeeping runs; 0 = never. Default limits.chunkHousekeepingIntervalMs. */
  readonly chunkHousekeepingIntervalMs?: number;
}

export type StopReason = { readonly kind: "stopped" } | { readonly kind: "fatal"; readonly err: unknown; readonly fenced: boolean };

export interface ShardServer {
  /** Settles when the server stops taking requests, with the reason. */
  readonly done: Promise<StopReason>;
  /** Stops taking requests and waits until every accepted entry is durable and answered. */
  stop(): Promise<void>;
  /** Last log sequence this server knows to be durable. */
  lastSeq(): number;
}

const appendRetryPauseMs = 100;

export function startShardServer<E>(options: ShardServerOptions<E>): ShardServer {
  const { nc, shardId, log, sm, logger } = options;
  const nowMs = options.nowMs ?? Date.now;
  const appendRetryMs = options.appendRetryMs ?? 10_000;
  const writerId = options.writerId ?? crypto.randomUUID();
  let lastSeq = options.lastSeq;
  let serving = true;
  let finish: (reason: StopReason) => void = () => {};
  const done = new Promise<StopReason>((resolve) => (finish = resolve));

  const appendOnce = async (data: Uint8Array, entries: number): Promise<void> => {
    const msgId = `${writerId}:${lastSeq + 1}`;
    const deadline = performance.now() + appendRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        lastSeq = await log.append(data, lastSeq, msgId);
        break;
      } catch (err) {
        if (!(err instanceof LogUnavailableError) || performance.now() >= deadline) throw err;
        logger.warn("log append failed, retrying", { attempt, err });
        await new Promise((resolve) => setTimeout(resolve, appendRetryPauseMs));
      }
    }
    try {
      options.onCommitted?.(lastSeq, data, entries);
    } catch (err) {
      // The record is durable; an observer's failure must not turn it into a failed append.
      logger.error("onCommitted threw", { err, seq: lastSeq });
    }
  };

  const queue = new CommitQueue<Context>({
    append: (entries, parents) => {
      const data = encodeBatch(entries);
      return withSpan("shard log append", { "antler.shard": shardId, "antler.log.entries": entries.length, "antler.log.bytes": data.length }, () => appendOnce(data, entries.length), {
        ...(parents[0] !== undefined ? { parent: parents[0] } : {}),
        kind: SpanKind.CLIENT,
      });
    },
    onFatal: (err) => {
      const fenced = err instanceof FencedError;
      logger.error(fenced ? "log append fenced: another writer owns the log; stopping" : "log append failed; stopping", { err, lastSeq });
      halt({ kind: "fatal", err, fenced });
    },
  });

  const ownsDirectory = options.chunkservers === undefined;
  const directory = ownsDirectory ? (managesChunks(sm) ? chunkserverDirectoryFromEnv(process.env, logger) : null) : (options.chunkservers ?? null);
  if (managesChunks(sm) && directory === null) logger.warn("no chunkserver registry: chunk operations fail with CSNOTPRESENT, no chunk housekeeping");
  const runner = new ChunkWorkRunner<E>({
    sm,
    sender: options.chunkOpSender ?? createNatsChunkOpSender({ nc, directory, logger }),
    submit: (entry, release) => queue.submit(entry, release, activeContext()),
    serving: () => serving,
    nowMs,
    logger,
  });
  /** Requests whose answer waits for chunk work, by request id, with the retries that joined them. */
  const awaitingChunkWork = new Map<string, Msg[]>();

  const respond = (msg: Msg, data: Uint8Array): void => {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      // A READDIR of a big directory can exceed one NATS message: it then travels in parts.
      respondInParts(nc, msg, data);
    } catch (err) {
      logger.warn("reply failed", { err });
    }
  };

  const onRequest = (msg: Msg): void => {
    void withSpan(
      "shard request",
      { "antler.shard": shardId },
      (span): Promise<void> | void => {
        const request = parseMetaRequest(msg.data);
        if (request === null) {
          span.setAttribute("antler.malformed", true);
          respond(msg, encodeMessage({ status: Status.EINVAL }));
          return;
        }
        span.setAttribute("antler.command", request.cmd.kind);
        const requestId = request.ctx.requestId;
        const joined = requestId === undefined ? undefined : awaitingChunkWork.get(requestId);
        if (joined !== undefined) {
          // A retry of a request whose chunk work is still out: it gets that request's answer.
          span.setAttribute("antler.joined", true);
          joined.push(msg);
          return;
        }
        let execution: ShardExecution<E>;
        try {
          execution = sm.execute(request.cmd, request.ctx, nowMs());
        } catch (err) {
          // The state machine validates commands; a throw means input it did not expect.
          logger.error("execute threw", { kind: request.cmd.kind, err });
          respond(msg, encodeMessage({ status: Status.EINVAL }));
          return;
        }
        const waiters = [msg];
        const tracked = execution.chunkWork?.awaited === true && requestId !== undefined;
        if (tracked) awaitingChunkWork.set(requestId, waiters);
        return new Promise<void>((resolve) =>
          runner.carry(execution, (result) => {
            if (tracked) awaitingChunkWork.delete(requestId);
            span.setAttribute("antler.status", result.status);
            const reply = encodeMessage(result);
            for (const waiter of waiters) respond(waiter, reply);
            resolve();
          }),
        );
      },
      { parent: extractTrace(msg.headers), kind: SpanKind.SERVER },
    );
  };

  const subscription: Subscription = nc.subscribe(shardRequestSubject(shardId), {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error("shard subscription failed", { err });
        return;
      }
      if (serving) onRequest(msg);
    },
  });

  const maintainIntervalMs = options.maintainIntervalMs ?? 1_000;
  const maintainTimer =
    maintainIntervalMs > 0
      ? setInterval(() => {
          if (!serving) return;
          try {
            const entry = sm.maintain(nowMs());
            if (entry !== null) queue.submit(sm.encodeEntry(entry), () => {});
          } catch (err) {
            logger.error("maintain threw", { err });
          }
        }, maintainIntervalMs)
      : null;

  const housekeepingIntervalMs = options.chunkHousekeepingIntervalMs ?? limits.chunkHousekeepingIntervalMs;
  const housekeeping: ChunkHousekeeping | null =
    managesChunks(sm) && directory !== null && housekeepingIntervalMs > 0
      ? startChunkHousekeeping({ sm, runner, directory, intervalMs: housekeepingIntervalMs, serving: () => serving, nowMs, logger })
      : null;

  let directoryClosed: Promise<void> = Promise.resolve();
  function halt(reason: StopReason): void {
    if (!serving) return;
    serving = false;
    subscription.unsubscribe();
    if (maintainTimer !== null) clearInterval(maintainTimer);
    housekeeping?.stop();
    // Requests still waiting for chunk work get no answer from this server: their senders retry
    // and reach the next leader.
    awaitingChunkWork.clear();
    if (ownsDirectory && directory !== null) {
      directoryClosed = directory.close().catch((err: unknown) => logger.warn("chunkserver registry close failed", { err }));
    }
    finish(reason);
  }

  return {
    done,
    lastSeq: () => lastSeq,
    async stop() {
      halt({ kind: "stopped" });
      await queue.whenIdle();
      await directoryClosed;
    },
  };
}
