/**
 * MetaTransport over NATS core request/reply: one attempt, its outcome classified for the retry
 * loop in meta-caller.ts. The router forwards by the Antler-Slot header and the shard replies
 * straight to our inbox.
 *
 * Replies come back through one wildcard subscription of this transport (`<replyPrefix>.*`, one
 * token per request) rather than through nats.js `request`: that one builds two or three Error
 * objects per request (each capturing a stack trace) even when the request succeeds, which was
 * about a third of the gateway's CPU under load. The attempt still runs in a client span
 * ("request <subject>") whose trace context travels in the headers, as libs/io-nats `request`
 * does.
 */
import { createPartsCollector, newHeaders, type Msg, type NatsConnection, type Subscription } from "@antler/io-nats";
import { Header } from "@antler/ops";
import { injectTrace, isTracing, SpanKind, withSpan } from "@antler/telemetry";
import type { AttemptOutcome, MetaTransport } from "./meta-caller.ts";

/** The NATS status of the message the server sends to a request's inbox when nobody subscribes. */
const noRespondersStatus = 503;

/**
 * `partsPrefix` is a subject prefix unique to this gateway process: replies too large for one
 * NATS message (READDIR of a big directory) arrive in parts under it (libs/io-nats reply-parts).
 * Replies arrive under `replyPrefix`, by default derived from it (unique as well).
 */
export function createNatsMetaTransport(nats: NatsConnection, partsPrefix: string, replyPrefix = `_INBOX.${partsPrefix}`): MetaTransport & { close(): void } {
  const parts = createPartsCollector(nats, partsPrefix);
  const inbox = new ReplyInbox(nats, replyPrefix);
  const attempt = async (subject: string, body: Uint8Array, headers: ReadonlyMap<string, string>, timeoutMs: number, tracing: boolean): Promise<AttemptOutcome> => {
    const natsHeaders = newHeaders();
    for (const [key, value] of headers) natsHeaders.set(key, value);
    const partsTo = parts.nextSubject();
    natsHeaders.set(Header.partsTo, partsTo);
    if (tracing) injectTrace(natsHeaders);
    try {
      const reply = await inbox.request(subject, body, natsHeaders, timeoutMs);
      if (reply === null) {
        parts.forget(partsTo);
        return { kind: "timeout" };
      }
      // The server's answer when no router subscribes: empty, with status 503.
      if (reply.data.length === 0 && reply.headers?.code === noRespondersStatus) {
        parts.forget(partsTo);
        return { kind: "unavailable", reason: "no responders" };
      }
      return { kind: "reply", data: await parts.assemble(partsTo, reply, timeoutMs) };
    } catch (err) {
      parts.forget(partsTo);
      if (err instanceof Error && err.name === "ReplyPartsError") return { kind: "timeout" };
      return classifyRequestError(err);
    }
  };
  return {
    request(subject, body, headers, timeoutMs) {
      if (!isTracing()) return attempt(subject, body, headers, timeoutMs, false);
      return withSpan(
        `request ${subject}`,
        { "messaging.system": "nats", "messaging.destination.name": subject },
        () => attempt(subject, body, headers, timeoutMs, true),
        { kind: SpanKind.CLIENT },
      );
    },
    close() {
      inbox.close();
      parts.close();
    },
  };
}

interface Waiter {
  readonly resolve: (reply: Msg | null) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Requests whose replies arrive on one wildcard subscription, matched by their last token. */
class ReplyInbox {
  readonly #nats: NatsConnection;
  readonly #prefix: string;
  readonly #waiters = new Map<string, Waiter>();
  readonly #subscription: Subscription;
  #counter = 0;

  constructor(nats: NatsConnection, prefix: string) {
    this.#nats = nats;
    this.#prefix = prefix;
    this.#subscription = nats.subscribe(`${prefix}.*`, {
      callback: (err, msg) => {
        // A subscription error (permissions) leaves the waiters to their timeouts.
        if (err === null) this.#deliver(msg);
      },
    });
  }

  /**
   * Publishes the request; the reply, or null when none came within `timeoutMs` (or the inbox was
   * closed). Throws what publishing throws (a closed or draining connection).
   */
  request(subject: string, body: Uint8Array, headers: ReturnType<typeof newHeaders>, timeoutMs: number): Promise<Msg | null> {
    this.#counter = (this.#counter + 1) % Number.MAX_SAFE_INTEGER;
    const token = this.#counter.toString(36);
    const reply = new Promise<Msg | null>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(token);
        resolve(null);
      }, timeoutMs);
      this.#waiters.set(token, { resolve, timer });
    });
    try {
      this.#nats.publish(subject, body, { reply: `${this.#prefix}.${token}`, headers });
    } catch (err) {
      clearTimeout(this.#waiters.get(token)?.timer);
      this.#waiters.delete(token);
      throw err;
    }
    return reply;
  }

  #deliver(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length + 1);
    const waiter = this.#waiters.get(token);
    // A late reply (its attempt timed out; the retry has its own token) is dropped.
    if (waiter === undefined) return;
    this.#waiters.delete(token);
    clearTimeout(waiter.timer);
    waiter.resolve(msg);
  }

  close(): void {
    this.#subscription.unsubscribe();
    for (const waiter of this.#waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.resolve(null);
    }
    this.#waiters.clear();
  }
}

/**
 * nats.js errors by name (io-nats does not re-export the classes). Publishing throws
 * ClosedConnection / DrainingConnection when our own connection is going away; the names of
 * nats.js `request` (TimeoutError when nobody answered, RequestError wrapping NoResponders when
 * no router subscribes) are classified too, for any caller that still gets them.
 */
export function classifyRequestError(err: unknown): AttemptOutcome {
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "TimeoutError") return { kind: "timeout" };
  if (name === "RequestError") {
    const noResponders = typeof (err as { isNoResponders?: unknown }).isNoResponders === "function" && (err as { isNoResponders(): boolean }).isNoResponders();
    if (noResponders) return { kind: "unavailable", reason: "no responders" };
    // "connection disconnected": the request may have reached a shard before the link broke.
    return { kind: "timeout" };
  }
  return { kind: "unavailable", reason: `${name || "error"}: ${message}` };
}
