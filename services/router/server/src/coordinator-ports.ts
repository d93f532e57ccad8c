/**
 * The coordinator's ports (@antler/router-core CoordinatorPorts) over NATS and the decision
 * bucket. A call is a NATS request straight to the shard's leader (shardRequestSubject) with a
 * MetaRequest body and the routing headers a router would add; the reply is the shard's Result.
 *
 * A shard without a leader (no responders: a failover in progress) is asked again after a short,
 * growing pause until the call's time (limits.txShardCallTimeoutMs) is up; a shard that answers
 * MOVED owns the slot no longer, so the map is refreshed and the call sent again. Everything else
 * that prevents an answer is a ShardUnavailableError: the coordinator only repeats idempotent
 * commands after one.
 */
import { limits } from "@antler/base";
import { newHeaders, type NatsConnection } from "@antler/io-nats";
import { encodeMessage, Header, parseResult, routeOf, shardRequestSubject, slotOfInode, Status, type Command, type Ctx, type Result } from "@antler/ops";
import { shardForSlot, ShardUnavailableError, type CoordinatorEvent, type CoordinatorPorts, type ShardMap } from "@antler/router-core";
import type { Placement } from "@antler/slots";
import { injectTrace, SpanKind, withSpan } from "@antler/telemetry";
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
  readonly event?: (event: CoordinatorEvent) => void;
}

/** Pauses between the attempts of one call to a shard without a leader (a failover takes ~1 s). */
const retryPauseMinMs = 10;
const retryPauseMaxMs = 200;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


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
      const deadline = performance.now() + callTimeoutMs;
      for (let round = 0; ; round++) {
        const left = deadline - performance.now();
        if (left <= 0) throw new ShardUnavailableError(`no answer to ${cmd.kind} for slot ${slot} within ${callTimeoutMs} ms`);
        try {
          const result = await once(cmd, ctx, slot, options.map(), left);
          if (result.status !== Status.MOVED) return result;
          await options.refreshMap().catch(() => {});
        } catch (err) {
          if (err instanceof ShardUnavailableError) throw err;
          // A timeout used up the call's time; "no responders" is a leader being replaced.
          if (!isNoResponders(err)) throw new ShardUnavailableError(`${cmd.kind} for slot ${slot}: ${String(err)}`, { cause: err });
        }
        await sleep(Math.min(retryPauseMinMs * 2 ** round, retryPauseMaxMs));
      }
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
