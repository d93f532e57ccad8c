/**
 * MetaTransport over NATS core request/reply (libs/io-nats `request`, which adds a client span
 * and the trace context): one attempt, its outcome classified for the retry loop in
 * meta-caller.ts. The router forwards by the Antler-Slot header and the shard replies straight to
 * our inbox.
 */
import { createPartsCollector, newHeaders, request, type NatsConnection } from "@antler/io-nats";
import { Header } from "@antler/ops";
import type { AttemptOutcome, MetaTransport } from "./meta-caller.ts";

/**
 * `partsPrefix` is a subject prefix unique to this gateway process: replies too large for one
 * NATS message (READDIR of a big directory) arrive in parts under it (libs/io-nats reply-parts).
 */
export function createNatsMetaTransport(nats: NatsConnection, partsPrefix: string): MetaTransport & { close(): void } {
  const parts = createPartsCollector(nats, partsPrefix);
  return {
    async request(subject, body, headers, timeoutMs) {
      const natsHeaders = newHeaders();
      for (const [key, value] of headers) natsHeaders.set(key, value);
      const partsTo = parts.nextSubject();
      natsHeaders.set(Header.partsTo, partsTo);
      try {
        const reply = await request(nats, subject, body, natsHeaders, timeoutMs);
        return { kind: "reply", data: await parts.assemble(partsTo, reply, timeoutMs) };
      } catch (err) {
        parts.forget(partsTo);
        if (err instanceof Error && err.name === "ReplyPartsError") return { kind: "timeout" };
        return classifyRequestError(err);
      }
    },
    close() {
      parts.close();
    },
  };
}

/**
 * nats.js errors by name (io-nats does not re-export the classes): TimeoutError when nobody
 * answered; RequestError wrapping NoResponders when no router subscribes; ClosedConnection /
 * DrainingConnection when our own connection is going away.
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
