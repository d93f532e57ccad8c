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
 *
 * Cross-shard operations (@antler/ops txn.ts):
 * - an execution that says `forward` is passed, unchanged (body, headers, the sender's reply
 *   inbox), to the coordinator once every earlier entry is durable; this server answers nothing;
 * - one that needs `remote` attributes waits for earlier entries like any read, fetches them from
 *   the nodes' shards (remote-attrs.ts) and answers `complete(attrs)`, again only once everything
 *   executed before that completion is durable;
 * - a request that meets the lock of a prepared transaction (TXLOCKED) is held and executed again
 *   shortly (lock-waits.ts), then EAGAIN; a retry of it joins it, as for chunk work;
 * - the resolver (tx-resolver.ts) settles prepared transactions whose coordinator went quiet.
 * While serving it also answers the shard's stats subject (shard-stats.ts).
 */
import { limits } from "@antler/base";
import { FencedError, LogUnavailableError, newHeaders, respondInParts, type LogStream, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@antler/io-nats";
import { coordinatorSubject, encodeMessage, Header, shardRequestSubject, Status, type Command, type Ctx, type MetaRequest, type Result } from "@antler/ops";
import { activeContext, extractTrace, injectTrace, SpanKind, withSpan, type Context, type Logger, type Span } from "@antler/telemetry";
import { chunkserverDirectoryFromEnv, type ChunkserverDirectory } from "./chunk-directory.ts";
import { startChunkHousekeeping, type ChunkHousekeeping } from "./chunk-housekeeping.ts";
import { createNatsChunkOpSender, type ChunkOpSender } from "./chunk-op-sender.ts";
import { ChunkWorkRunner } from "./chunk-work.ts";
import { CommitQueue } from "./commit-queue.ts";
import { encodeBatch } from "./log-batch.ts";
import { LockWaits, type LockWait, type LockWaitsOptions } from "./lock-waits.ts";
import { createRemoteAttrFetcher, type RemoteAttrFetcher } from "./remote-attrs.ts";
import { parseMetaRequest } from "./request.ts";
import { RequestRate, serveShardStats } from "./shard-stats.ts";
import { managesChunks, takesPartInTransactions, type ShardExecution, type ShardStateMachine } from "./state-machine.ts";
import { startTxResolver, type DecisionStore, type TxResolver } from "./tx-resolver.ts";

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
  /** The slots this shard owns (stats; the resolver's tx commands name one). */
  readonly slots?: readonly number[];
  /** This replica's name in stats (the lease replica name); default `shard-<id>`. */
  readonly replicaName?: string;
  /**
   * The decision bucket (@antler/ops txnBucket) for resolving prepared transactions whose
   * coordinator went quiet. Absent or null: no resolver runs (a single-shard setup never prepares).
   */
  readonly txDecisions?: DecisionStore | null;
  /** Resolver timing; defaults limits.txResolveIntervalMs / txResolveAfterMs. */
  readonly txResolveIntervalMs?: number;
  readonly txResolveAfterMs?: number;
  /** How TXLOCKED requests are held (defaults: limits.txLocked*). */
  readonly lockWaits?: Omit<LockWaitsOptions, "nowMs">;
  /** How remote attributes are fetched; default GETATTR through the routers on `nc`. */
  readonly remoteAttrs?: RemoteAttrFetcher;
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

/** Who runs the resolver's commands: the system (sessionId 0), with full rights. */
function systemCtx(requestId: string): Ctx {
  return { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId };
}

/** The request's headers for passing it on: the same, minus its trace context (this hop adds its own). */
function headersForForwarding(source: MsgHdrs | undefined): MsgHdrs {
  const out = newHeaders();
  if (source !== undefined) {
    for (const key of source.keys()) {
      if (key === Header.traceparent || key === Header.tracestate) continue;
      for (const value of source.values(key)) out.append(key, value);
    }
  }
  injectTrace(out);
  return out;
}

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
  /**
   * Requests whose answer is not out yet and that a retry (same request id) joins instead of
   * executing again: awaited chunk work, and requests held by a transaction's lock.
   */
  const joinable = new Map<string, Msg[]>();
  const lockWaits = new LockWaits({ ...options.lockWaits, nowMs });
  const fetchRemoteAttrs = options.remoteAttrs ?? createRemoteAttrFetcher({ nc, logger });
  const requestRate = new RequestRate();
  let forwarded = 0;

  const respond = (msg: Msg, data: Uint8Array): void => {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      // A READDIR of a big directory can exceed one NATS message: it then travels in parts.
      respondInParts(nc, msg, data);
    } catch (err) {
      logger.warn("reply failed", { err });
    }
  };

  /** Sends `result` to every waiter of one request (the first attempt and the retries that joined it). */
  const answerAll = (waiters: readonly Msg[], result: Result, span: Span): void => {
    span.setAttribute("antler.status", result.status);
    requestRate.record(nowMs());
    const reply = encodeMessage(result);
    for (const waiter of waiters) respond(waiter, reply);
  };

  /**
   * Executes one request and sees it answered (or passed on); `settled` runs when this server is
   * done with it. `lockWait`: how long it has been held by a transaction's lock (null: not yet).
   * Every machine call is followed in the same turn by its submit, so the log order is the
   * execution order.
   */
  const execute = (request: MetaRequest, waiters: Msg[], span: Span, lockWait: LockWait | null, settled: () => void): void => {
    const requestId = request.ctx.requestId;
    const finish = (result: Result): void => {
      if (requestId !== undefined && joinable.get(requestId) === waiters) joinable.delete(requestId);
      answerAll(waiters, result, span);
      settled();
    };
    let execution: ShardExecution<E>;
    try {
      execution = sm.execute(request.cmd, request.ctx, nowMs());
    } catch (err) {
      // The state machine validates commands; a throw means input it did not expect.
      logger.error("execute threw", { kind: request.cmd.kind, err });
      queue.submit(null, () => finish({ status: Status.EINVAL }));
      return;
    }
    // A coordinator's txprepare that meets a lock (or stale facts) must hear TXLOCKED at once:
    // it re-plans from fresh facts or queues behind the other transaction itself.
    if (execution.result.status === Status.TXLOCKED && execution.entry === null && request.cmd.kind !== "txprepare") {
      const decision = lockWaits.hold(
        lockWait,
        (next) => {
          if (serving) execute(request, waiters, span, next, settled);
          else settled();
        },
        settled,
      );
      if (decision === "held") {
        span.setAttribute("antler.tx_locked", true);
        if (requestId !== undefined && !joinable.has(requestId)) joinable.set(requestId, waiters);
        return;
      }
      if (decision === "full") logger.warn("too many requests held by transaction locks; answering EAGAIN", { held: lockWaits.size });
      // Even EAGAIN waits for earlier entries: the lock it reports may come from one of them.
      queue.submit(null, () => finish({ status: Status.EAGAIN }));
      return;
    }
    if (execution.forward === "coordinator") {
      forwarded++;
      span.setAttribute("antler.forwarded", true);
      if (requestId !== undefined && joinable.get(requestId) === waiters) joinable.delete(requestId);
      // Headers now, inside the request's span, so the coordinator's span is its child.
      const forwards = waiters.map((waiter) => ({ reply: waiter.reply, headers: headersForForwarding(waiter.headers) }));
      const data = waiters[0]!.data;
      runner.carry(execution, () => {
        // The coordinator may read state this request saw: pass it on only once that is durable.
        for (const forward of forwards) {
          try {
            nc.publish(coordinatorSubject, data, { headers: forward.headers, ...(forward.reply !== undefined && forward.reply !== "" ? { reply: forward.reply } : {}) });
          } catch (err) {
            logger.warn("forward to the coordinator failed", { err });
          }
        }
        requestRate.record(nowMs());
        settled();
      });
      return;
    }
    const remote = execution.remote;
    if (remote !== undefined) {
      runner.carry(execution, () => {
        void fetchRemoteAttrs(remote.inodes, request.ctx).then(({ attrs, unreachable }) => {
          if (!serving) return settled();
          // Not "missing": unanswered, so the gateway's retry asks again once the shard is back.
          if (unreachable.length > 0) return settled();
          let result: Result;
          try {
            result = remote.complete(attrs);
          } catch (err) {
            logger.error("completing remote attributes threw", { kind: request.cmd.kind, err });
            result = { status: Status.IO };
          }
          // The completion may read state executed since; answer once that is durable too.
          queue.submit(null, () => finish(result));
        });
      });
      return;
    }
    const tracked = execution.chunkWork?.awaited === true && requestId !== undefined;
    if (tracked && !joinable.has(requestId)) joinable.set(requestId, waiters);
    runner.carry(execution, finish);
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
        const joined = requestId === undefined ? undefined : joinable.get(requestId);
        if (joined !== undefined) {
          // A retry of a request still in progress (chunk work out, or held by a lock): it gets
          // that request's answer.
          span.setAttribute("antler.joined", true);
          joined.push(msg);
          return;
        }
        return new Promise<void>((resolve) => execute(request, [msg], span, null, resolve));
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

  const slots = options.slots ?? [];
  const statsSubscription = serveShardStats({
    nc,
    shardId,
    logger,
    collect: () => {
      const counts = sm.stats?.() ?? { inodes: 0, dirs: 0, files: 0 };
      return {
        shardId,
        slots: slots.length,
        inodes: counts.inodes,
        dirs: counts.dirs,
        files: counts.files,
        opsPerSec: requestRate.perSecond(nowMs()),
        forwarded,
        preparedTxns: takesPartInTransactions(sm) ? sm.preparedTransactions().length : 0,
        replica: options.replicaName ?? `shard-${shardId}`,
      };
    },
  });

  /** Runs a tx command as the system through execute and the commit queue; settles once durable. */
  const executeSystem = (cmd: Command): Promise<Result> =>
    new Promise((resolve) => {
      if (!serving) return resolve({ status: Status.EAGAIN });
      let execution: ShardExecution<E>;
      try {
        execution = sm.execute(cmd, systemCtx(`${"txid" in cmd ? cmd.txid : cmd.kind}/resolve`), nowMs());
      } catch (err) {
        logger.error("execute threw", { kind: cmd.kind, err });
        return resolve({ status: Status.IO });
      }
      runner.carry(execution, resolve);
    });
  const decisions = options.txDecisions ?? null;
  let resolver: TxResolver | null = null;
  if (decisions !== null && takesPartInTransactions(sm)) {
    if (slots.length === 0) logger.warn("no owned slots given: prepared transactions are not resolved by this shard");
    else {
      resolver = startTxResolver({
        shardId,
        decisions,
        prepared: () => sm.preparedTransactions(),
        slot: slots[0]!,
        execute: executeSystem,
        // Its own monotonic clock: the age of a prepared transaction must not depend on stamps.
        nowMs: () => performance.now(),
        logger,
        ...(options.txResolveIntervalMs !== undefined ? { intervalMs: options.txResolveIntervalMs } : {}),
        ...(options.txResolveAfterMs !== undefined ? { resolveAfterMs: options.txResolveAfterMs } : {}),
      });
    }
  }

  let directoryClosed: Promise<void> = Promise.resolve();
  function halt(reason: StopReason): void {
    if (!serving) return;
    serving = false;
    subscription.unsubscribe();
    statsSubscription.unsubscribe();
    if (maintainTimer !== null) clearInterval(maintainTimer);
    housekeeping?.stop();
    resolver?.stop();
    // Requests still waiting for chunk work or held by a lock get no answer from this server:
    // their senders retry and reach the next leader.
    joinable.clear();
    lockWaits.close();
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
