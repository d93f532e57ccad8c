/**
 * Request/reply over NATS core with trace context in the headers. `request` opens a client span
 * and injects its context; `serve` extracts it, opens a server span per message (one per hop) and
 * replies with what the handler returns. Handlers are called synchronously in arrival order, so a
 * handler's synchronous part sees requests in the order NATS delivered them.
 */
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { extractTrace, injectTrace, SpanKind, withSpan, type Logger, type Span } from "@antler/telemetry";

export type { Msg, MsgHdrs, Subscription };

export function newHeaders(): MsgHdrs {
  return natsHeaders();
}

/** Sends a request and waits for the reply, inside a client span whose context travels along. */
export async function request(nc: NatsConnection, subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<Msg> {
  return await withSpan(
    `request ${subject}`,
    { "messaging.system": "nats", "messaging.destination.name": subject },
    async () => {
      const h = headers ?? natsHeaders();
      injectTrace(h);
      return await nc.request(subject, data, { timeout: timeoutMs, headers: h });
    },
    { kind: SpanKind.CLIENT },
  );
}

export interface Reply {
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs;
}

/** Answers one request; null = send no reply. Runs inside the server span. */
export type Handler = (msg: Msg, span: Span) => Reply | null | Promise<Reply | null>;

export interface ServeOptions {
  readonly logger?: Logger;
  /** Span name; defaults to `serve <subject>`. */
  readonly spanName?: string;
}

export function serve(nc: NatsConnection, subject: string, queue: string | undefined, handler: Handler, options: ServeOptions = {}): Subscription {
  const spanName = options.spanName ?? `serve ${subject}`;
  const onMessage = (msg: Msg): void => {
    const work = withSpan(
      spanName,
      { "messaging.system": "nats", "messaging.destination.name": msg.subject },
      async (span) => {
        const reply = await handler(msg, span);
        if (reply !== null && msg.reply !== undefined && msg.reply !== "") {
          msg.respond(reply.data, reply.headers !== undefined ? { headers: reply.headers } : undefined);
        }
      },
      { parent: extractTrace(msg.headers), kind: SpanKind.SERVER },
    );
    work.catch((err: unknown) => options.logger?.error("request handler failed", { subject: msg.subject, err }));
  };
  return nc.subscribe(subject, {
    ...(queue !== undefined ? { queue } : {}),
    callback: (err, msg) => {
      if (err !== null) {
        options.logger?.error("subscription failed", { subject, err });
        return;
      }
      onMessage(msg);
    },
  });
}
