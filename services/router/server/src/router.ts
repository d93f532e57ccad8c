/**
 * The router's request path. A single-slot request is forwarded to its shard without decoding the
 * body: headers are kept (plus the map version and this hop's trace context) and the reply
 * subject stays the gateway's inbox, so the shard answers the gateway directly — one extra
 * one-way hop, not a round trip. A "*" request is sent to every shard, and the replies are merged
 * here (see router-core mergeFanOut).
 *
 * While a shard's leader may be changing (its lease stopped renewing, or just changed holder:
 * router-core LeaderLiveness), its requests are forwarded checked instead: as the router's own
 * request, whose reply is passed on to the gateway's inbox unchanged, and whose "no responders" is
 * passed on as such, so the gateway retries within milliseconds rather than after its hedge.
 */
import { limits } from "@antler/base";
import { newHeaders, respondNoResponders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@antler/io-nats";
import { CodecError, decodeMessage, encodeMessage, Header, metaRequestSubject, parseResult, routerQueue, shardRequestSubject, Status, type CommandKind, type Result } from "@antler/ops";
import { mergeFanOut, parseSlotHeader, shardForSlot, shardIdsOf, type LeaderLiveness, type ShardMap } from "@antler/router-core";
import { extractTrace, injectTrace, SpanKind, withSpan, type Logger } from "@antler/telemetry";

export interface RouterOptions {
  readonly nc: NatsConnection;
  readonly map: ShardMap;
  readonly logger: Logger;
  /** How long a fan-out waits for each shard. */
  readonly fanOutTimeoutMs?: number;
  /** The shards' leader liveness (fed from their leases); absent: always fire-and-forget. */
  readonly liveness?: LeaderLiveness;
  /** Monotonic ms for the liveness checks. */
  readonly nowMs?: () => number;
  /** How long a checked forward waits for the shard's reply. */
  readonly checkedForwardTimeoutMs?: number;
}

export interface Router {
  /** Routes with `map` from now on, if it is newer than the current one; returns whether it was. */
  updateMap(map: ShardMap): boolean;
  /** The map requests are routed with. */
  map(): ShardMap;
  /** Stops taking requests; requests already forwarded are answered by the shards. */
  drain(): Promise<void>;
}

/** A copy of `source` without trace headers (this hop writes its own). */
function forwardHeaders(source: MsgHdrs | undefined): MsgHdrs {
  const out = newHeaders();
  if (source === undefined) return out;
  for (const key of source.keys()) {
    if (key === Header.traceparent || key === Header.tracestate) continue;
    for (const value of source.values(key)) out.append(key, value);
  }
  return out;
}

/**
 * The headers of `msg` itself, minus the trace headers, for forwarding it once: the message is
 * only ever forwarded, so its headers need no copy (copying them header by header was about a
 * tenth of the router's CPU per request). A fan-out, which forwards to several shards, copies
 * them (forwardHeaders).
 */
function ownHeadersForForwarding(msg: Msg): MsgHdrs {
  const headers = msg.headers;
  if (headers === undefined) return newHeaders();
  headers.delete(Header.traceparent);
  headers.delete(Header.tracestate);
  return headers;
}

function replyStatus(msg: Msg, status: Result): void {
  if (msg.reply !== undefined && msg.reply !== "") msg.respond(encodeMessage(status));
}

/** The command kind of a MetaRequest body, or null when the body is not one. */
function commandKindOf(data: Uint8Array): CommandKind | null {
  try {
    const value = decodeMessage(data) as { cmd?: { kind?: unknown } } | null;
    const kind = value?.cmd?.kind;
    return typeof kind === "string" ? (kind as CommandKind) : null;
  } catch (err) {
    if (err instanceof CodecError) return null;
    throw err;
  }
}


export function startRouter(options: RouterOptions): Router {
  const { nc, logger } = options;
  let map = options.map;
  const fanOutTimeoutMs = options.fanOutTimeoutMs ?? 5_000;
  const liveness = options.liveness ?? null;
  const nowMs = options.nowMs ?? (() => performance.now());
  const checkedForwardTimeoutMs = options.checkedForwardTimeoutMs ?? limits.routerCheckedForwardTimeoutMs;

  /** Forwards as our own request: the reply (or "no responders") is passed on to `replyTo`. */
  const forwardChecked = (subject: string, data: Uint8Array, headers: MsgHdrs, replyTo: string, shard: number): void => {
    nc.request(subject, data, { timeout: checkedForwardTimeoutMs, headers }).then(
      (reply) => nc.publish(replyTo, reply.data, reply.headers !== undefined ? { headers: reply.headers } : {}),
      (err: unknown) => {
        if ((err as { isNoResponders?: () => boolean }).isNoResponders?.() === true) respondNoResponders(nc, replyTo);
        // A timeout: the gateway's own attempt times out or is hedged; nothing to add.
        else logger.debug("checked forward got no reply", { shard, err });
      },
    );
  };

  const forward = (msg: Msg, slot: number): void => {
    const shard = shardForSlot(map, slot);
    const subject = shardRequestSubject(shard);
    withSpan(
      "router forward",
      { "antler.slot": slot, "antler.shard": shard, "antler.map_version": map.version },
      () => {
        const headers = ownHeadersForForwarding(msg);
        headers.set(Header.mapVersion, String(map.version));
        injectTrace(headers);
        if (msg.reply && liveness !== null && liveness.suspect(shard, nowMs())) forwardChecked(subject, msg.data, headers, msg.reply, shard);
        else nc.publish(subject, msg.data, { ...(msg.reply ? { reply: msg.reply } : {}), headers });
      },
      { parent: extractTrace(msg.headers), kind: SpanKind.PRODUCER },
    );
  };

  const fanOut = async (msg: Msg): Promise<void> => {
    const kind = commandKindOf(msg.data);
    if (kind === null) {
      replyStatus(msg, { status: Status.EINVAL });
      return;
    }
    await withSpan(
      "router fan-out",
      { "antler.command": kind, "antler.shards": map.shardCount, "antler.map_version": map.version },
      async () => {
        const replies = await Promise.all(
          shardIdsOf(map).map(async (shard) => {
            const headers = forwardHeaders(msg.headers);
            headers.set(Header.mapVersion, String(map.version));
            injectTrace(headers);
            try {
              const reply = await nc.request(shardRequestSubject(shard), msg.data, { timeout: fanOutTimeoutMs, headers });
              return parseResult(reply.data);
            } catch (err) {
              logger.warn("fan-out to a shard failed", { shard, kind, err });
              return null;
            }
          }),
        );
        replyStatus(msg, mergeFanOut(kind, replies));
      },
      { parent: extractTrace(msg.headers), kind: SpanKind.SERVER },
    );
  };

  const subscription: Subscription = nc.subscribe(metaRequestSubject, {
    queue: routerQueue,
    callback: (err, msg) => {
      if (err !== null) {
        logger.error("router subscription failed", { err });
        return;
      }
      const target = parseSlotHeader(msg.headers?.get(Header.slot) ?? "");
      if (target === null) {
        logger.debug("request without a valid slot header", { header: msg.headers?.get(Header.slot) ?? null });
        replyStatus(msg, { status: Status.EINVAL });
      } else if (target === "all") {
        fanOut(msg).catch((e: unknown) => logger.error("fan-out failed", { err: e }));
      } else {
        forward(msg, target.slot);
      }
    },
  });

  return {
    updateMap(next) {
      if (next.version <= map.version) return false;
      logger.info("shard map updated", { from: map.version, to: next.version });
      map = next;
      return true;
    },
    map: () => map,
    drain: () => subscription.drain(),
  };
}
