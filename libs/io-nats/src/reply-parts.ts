/**
 * Replies larger than one NATS message. A shard's answer to READDIR of a big directory can exceed
 * the server's max_payload; rather than raise that limit for every message, such a reply is cut
 * into parts.
 *
 * Protocol: the requester subscribes once to `<prefix>.>` and puts a fresh subject under that
 * prefix in the request's `Antler-Parts-To` header. An answer too large for one message publishes
 * parts 1..n-1 to that subject first (header `Antler-Part: i`), then answers the request's reply
 * inbox with part 0 and `Antler-Parts: n`. NATS delivers messages from one publishing connection
 * to one subscribing connection in order, so when part 0 arrives the others have already been
 * received by the wildcard subscription; assembly still waits briefly for stragglers rather than
 * rely on that.
 */
import { assert, limits } from "@antler/base";
import { Header } from "@antler/ops";
import { headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/transport-node";

/** Answers `msg` with `data`, in parts when it does not fit in one message. */
export function respondInParts(nc: NatsConnection, msg: Msg, data: Uint8Array, partBytesMax = limits.replyPartBytesMax): void {
  if (msg.reply === undefined || msg.reply === "") return;
  const partsTo = msg.headers?.get(Header.partsTo) ?? "";
  if (data.length <= partBytesMax || partsTo === "") {
    msg.respond(data);
    return;
  }
  const count = Math.ceil(data.length / partBytesMax);
  for (let i = 1; i < count; i++) {
    const h = natsHeaders();
    h.set(Header.part, String(i));
    nc.publish(partsTo, data.subarray(i * partBytesMax, Math.min((i + 1) * partBytesMax, data.length)), { headers: h });
  }
  const h = natsHeaders();
  h.set(Header.parts, String(count));
  msg.respond(data.subarray(0, partBytesMax), { headers: h });
}

export class ReplyPartsError extends Error {
  override name = "ReplyPartsError";
}

export interface PartsCollector {
  /** A fresh subject to put in a request's Antler-Parts-To header. */
  nextSubject(): string;
  /** The whole reply: `first` itself, or `first` joined with its other parts. */
  assemble(subject: string, first: Msg, timeoutMs: number): Promise<Uint8Array>;
  /** Forgets parts of a request that will not be assembled (it timed out or failed). */
  forget(subject: string): void;
  close(): void;
}

interface Pending {
  readonly parts: Map<number, Uint8Array>;
  readonly createdMs: number;
  wake: (() => void) | null;
}

export function createPartsCollector(nc: NatsConnection, prefix: string): PartsCollector {
  assert(!prefix.includes(">") && !prefix.includes("*"), "parts prefix must be a plain subject");
  const pending = new Map<string, Pending>();
  let counter = 0;
  const entry = (subject: string): Pending => {
    let p = pending.get(subject);
    if (p === undefined) {
      p = { parts: new Map(), createdMs: Date.now(), wake: null };
      pending.set(subject, p);
    }
    return p;
  };
  const sub = nc.subscribe(`${prefix}.>`, {
    callback: (err, msg) => {
      if (err !== null) return;
      const index = Number(msg.headers?.get(Header.part) ?? "");
      if (!Number.isInteger(index) || index < 1) return;
      const p = entry(msg.subject);
      p.parts.set(index, msg.data);
      p.wake?.();
    },
  });
  // Parts whose request was never assembled (a retry won, the caller gave up) are dropped.
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - limits.replyPartsRetentionMs;
    for (const [subject, p] of pending) if (p.createdMs < cutoff) pending.delete(subject);
  }, limits.replyPartsRetentionMs);
  sweeper.unref();

  return {
    nextSubject() {
      counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
      return `${prefix}.${counter}`;
    },
    async assemble(subject, first, timeoutMs) {
      const count = Number(first.headers?.get(Header.parts) ?? "1");
      if (!Number.isInteger(count) || count < 1) throw new ReplyPartsError(`bad part count ${String(count)}`);
      if (count === 1) {
        pending.delete(subject);
        return first.data;
      }
      const p = entry(subject);
      const deadline = Date.now() + timeoutMs;
      while (p.parts.size < count - 1) {
        const left = deadline - Date.now();
        if (left <= 0) {
          pending.delete(subject);
          throw new ReplyPartsError(`reply parts missing: have ${p.parts.size + 1} of ${count}`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          p.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        p.wake = null;
      }
      pending.delete(subject);
      let total = first.data.length;
      for (let i = 1; i < count; i++) total += p.parts.get(i)?.length ?? 0;
      if (total > limits.replyBytesMax) throw new ReplyPartsError(`reply of ${total} bytes exceeds the limit`);
      const out = new Uint8Array(total);
      out.set(first.data, 0);
      let offset = first.data.length;
      for (let i = 1; i < count; i++) {
        const part = p.parts.get(i);
        if (part === undefined) throw new ReplyPartsError(`reply part ${i} missing`);
        out.set(part, offset);
        offset += part.length;
      }
      return out;
    },
    forget(subject) {
      pending.delete(subject);
    },
    close() {
      clearInterval(sweeper);
      sub.unsubscribe();
    },
  };
}
