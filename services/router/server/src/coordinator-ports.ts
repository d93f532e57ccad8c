/**
 * The coordinator's ports (@antler/router-core CoordinatorPorts) over NATS and the decision
 * bucket. A call is a NATS request straight to the shard's leader (shardRequestSubject) with a
 * MetaRequest body and the routing headers a router would add; the reply is the shard's Result.
 *
 * A shard without a leader (no responders: a failover in progress) is asked again after a short,
 * growing pause until the call's time (limits.txShardCallTimeoutMs) is up; a shard that answers
 * MOVED owns the slot no longer, so the map is refreshed and the call sent again.
 *
 * A call still unanswered after limits.txShardCallHedgeMs is sent again ("hedged", the delay
 * doubling up to limits.txShardCallHedgeMaxMs) while the earlier sendings keep waiting; the first
 * reply wins. A leader that loses its lease drops what it had taken without answering (its lease
 * guard holds the replies back), so without the hedge a txprepare that reached a leader in its
 * last moments waited out the whole call time although a standby served ~0.4 s later — and the
 * client got EAGAIN for a shard that was only failing over. Sending again is safe: every call has
 * its own request id (`${txid}/<n>`), and the shard answers a repeated one from its request-id
 * memory (txprepare: from the prepared transaction, same parts) or joins it to the one in
 * progress, on the old leader's log as on the new one's.
 *
 * Everything else that prevents an answer is a ShardUnavailableError: the coordinator only
 * repeats idempotent commands after one.
 */
import { limits } from "@antler/base";
import { newHeaders, type NatsConnection } from "@antler/io-nats";
import { encodeMessage, Header, parseResult, routeOf, shardRequestSubject, slotOfInode, Status, type Command, type Ctx, type Result } from "@antler/ops";
import { shardForSlot, ShardUnavailableError, type CoordinatorEvent, type CoordinatorPorts, type ShardMap } from "@antler/router-core";
import type { Placement } from "@antler/slots";
import { injectTrace, SpanKind, withSpan, type Logger } from "@antler/telemetry";
import type { DecisionStore } from "./coordinator-decisions.ts";

export interface NatsCoordinatorPortsOptions {
  readonly nc: NatsConnection;
  /** The router's current shard map. */
  readonly map: () => ShardMap;
  /** Reads the stored shard map now (after a MOVED). */
  readonly refreshMap: () => Promise<void>;
  readonly placement: Pick<Placement, "directorySlot">;
  readonly decisions: DecisionStore;
  /** Time one call may take in all, retries included (limits.txShardCallTimeoutMs). */
  readonly callTimeoutMs?: number;
  /** First hedge of an unanswered call (limits.txShardCallHedgeMs); doubles up to hedgeMaxMs. */
  readonly hedgeMs?: number;
  /** Largest pause between hedges (limits.txShardCallHedgeMaxMs). */
  readonly hedgeMaxMs?: number;
  /** Told about calls that stayed unanswered (the coordinator then answers EAGAIN or leaves it to a resolver). */
  readonly logger?: Logger;
  readonly event?: (event: CoordinatorEvent) => void;
}

/** Pauses between the attempts of one call to a shard without a leader (a failover takes ~1 s). */
const retryPauseMinMs = 10;
const retryPauseMaxMs = 200;

/** Sendings of one call waiting at once (the first and its hedges). */
const sendingsInFlightMax = 8;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How one sending of a call ended. */
type Sending = { readonly id: number; readonly result: Result } | { readonly id: number; readonly err: unknown };

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === "TimeoutError";
}

function isNoResponders(err: unknown): boolean {
  return (err as { isNoResponders?: () => boolean } | null)?.isNoResponders?.() === true;
}

/** The slot a command is routed by. */
function slotOfCommand(cmd: Command): number {
  const route = routeOf(cmd);
  if (route === "all") throw new ShardUnavailableError(`${cmd.kind} goes to every shard, not to one`);
  return "slot" in route ? route.slot : slotOfInode(route.inode);
}

export function natsCoordinatorPorts(options: NatsCoordinatorPortsOptions): CoordinatorPorts {
  const { nc, decisions } = options;
  const callTimeoutMs = options.callTimeoutMs ?? limits.txShardCallTimeoutMs;
  const hedgeMs = options.hedgeMs ?? limits.txShardCallHedgeMs;
  const hedgeMaxMs = Math.max(hedgeMs, options.hedgeMaxMs ?? limits.txShardCallHedgeMaxMs);
  let slotsOfShards: { version: number; slots: Map<number, number> } | null = null;

  const once = (cmd: Command, ctx: Ctx, slot: number, map: ShardMap, timeoutMs: number): Promise<Result> => {
    const shard = shardForSlot(map, slot);
    return withSpan(
      `coordinator ${cmd.kind}`,
      { "antler.command": cmd.kind, "antler.shard": shard, "antler.slot": slot },
      async (span) => {
        const headers = newHeaders();
        headers.set(Header.slot, String(slot));
        headers.set(Header.mapVersion, String(map.version));
        headers.set(Header.session, String(ctx.sessionId));
        if (ctx.requestId !== undefined) headers.set(Header.requestId, ctx.requestId);
        injectTrace(headers);
        const reply = await nc.request(shardRequestSubject(shard), encodeMessage({ ctx, cmd }), { timeout: timeoutMs, headers });
        const result = parseResult(reply.data);
        if (result === null) throw new ShardUnavailableError(`shard ${shard} answered ${cmd.kind} with something that is not a result`);
        span.setAttribute("antler.status", result.status);
        return result;
      },
      { kind: SpanKind.CLIENT },
    );
  };

  return {
    async call(cmd, ctx) {
      const slot = slotOfCommand(cmd);
      const startedMs = performance.now();
      const deadline = startedMs + callTimeoutMs;
      const inFlight = new Map<number, Promise<Sending>>();
      let sendings = 0;
      let nextSendMs = startedMs;
      let hedgeDelayMs = hedgeMs;
      let pauseRound = 0;
      let lastProblem = "no reply in time";
      while (true) {
        const now = performance.now();
        if (now >= nextSendMs && now < deadline && inFlight.size < sendingsInFlightMax) {
          const id = ++sendings;
          inFlight.set(
            id,
            once(cmd, ctx, slot, options.map(), deadline - now).then(
              (result): Sending => ({ id, result }),
              (err: unknown): Sending => ({ id, err }),
            ),
          );
          // Unanswered by then, it is sent again while this sending keeps waiting.
          nextSendMs = now + hedgeDelayMs;
          hedgeDelayMs = Math.min(hedgeDelayMs * 2, hedgeMaxMs);
        }
        const canSendLater = inFlight.size < sendingsInFlightMax && nextSendMs < deadline && performance.now() < deadline;
        if (inFlight.size === 0 && !canSendLater) break;
        const waitMs = canSendLater ? Math.max(0, nextSendMs - performance.now()) : null;
        const settled = await Promise.race([...inFlight.values(), ...(waitMs === null ? [] : [sleep(waitMs).then(() => null)])]);
        if (settled === null) continue;
        inFlight.delete(settled.id);
        if ("result" in settled) {
          if (settled.result.status !== Status.MOVED) return settled.result;
          lastProblem = "MOVED";
          await options.refreshMap().catch(() => {});
        } else {
          const { err } = settled;
          if (err instanceof ShardUnavailableError) throw err;
          // A timeout means the call's time is up (each sending may wait until the deadline).
          if (isTimeout(err)) {
            lastProblem = "no reply in time";
            continue;
          }
          // "No responders" is a leader being replaced; anything else will not get better.
          if (!isNoResponders(err)) throw new ShardUnavailableError(`${cmd.kind} for slot ${slot}: ${String(err)}`, { cause: err });
          lastProblem = "no responders";
        }
        // The next sending is a fresh one (to the map as refreshed, or to the next leader).
        hedgeDelayMs = hedgeMs;
        nextSendMs = Math.min(nextSendMs, performance.now() + Math.min(retryPauseMinMs * 2 ** pauseRound++, retryPauseMaxMs));
      }
      const detail = `no answer to ${cmd.kind} for slot ${slot} within ${callTimeoutMs} ms (${sendings} sendings; last: ${lastProblem})`;
      options.logger?.warn("shard call unanswered", { kind: cmd.kind, slot, requestId: ctx.requestId, sendings, lastProblem, ms: Math.round(performance.now() - startedMs) });
      throw new ShardUnavailableError(detail);
    },
    decide: (decision) => decisions.decide(decision),
    readDecision: (txid) => decisions.read(txid),
    forgetDecision: (txid) => decisions.forget(txid),
    readMoveLock: () => decisions.readMoveLock(),
    writeMoveLock: (holder, revision) => decisions.writeMoveLock(holder, revision),
    shardOfSlot: (slot) => shardForSlot(options.map(), slot),
    slotOfShard(shard) {
      const map = options.map();
      if (slotsOfShards?.version !== map.version) {
        const slots = new Map<number, number>();
        map.slots.forEach((owner, slot) => {
          if (!slots.has(owner)) slots.set(owner, slot);
        });
        slotsOfShards = { version: map.version, slots };
      }
      const slot = slotsOfShards.slots.get(shard);
      if (slot === undefined) throw new ShardUnavailableError(`shard ${shard} owns no slot in map version ${map.version}`);
      return slot;
    },
    slotOfNewDirectory: (parent, name) => options.placement.directorySlot(parent, name),
    sleep,
    random: () => Math.random(),
    nowMs: () => performance.now(),
    ...(options.event !== undefined ? { event: options.event } : {}),
  };
}
