/**
 * Lease checks at the doors of a serving shard: every request taken from the subscription and every
 * reply to one. A leader whose lease ran out by its own clock (a pause such as SIGSTOP, a stalled
 * event loop, a KV it cannot reach) must not answer anything: after a pause the process handles
 * the requests that queued in its socket before any timer fires, so the election's timer alone
 * would come too late. A denied request or reply is dropped (the gateway retries it at the next
 * leader) and `onDenied` steps the process down.
 *
 * Appends are not checked against the lease: the log fence is the safety for writes (a deposed
 * leader's append is refused by the stream), and an append that does land is durable and will be
 * followed by the next leader. watchedLog only reports appends to the shell.
 */
import { FencedError, type LogStream, type NatsConnection } from "@antler/io-nats";

export interface LeaseGuard {
  /** Whether serving is allowed now. */
  readonly allowed: () => boolean;
  /** Called when a request or append meets a lease that ran out. */
  readonly onDenied: () => void;
}

type SubscribeOptions = NonNullable<Parameters<NatsConnection["subscribe"]>[1]>;

/** `nc` whose subscriptions pass messages on only while the guard allows it. */
export function leaseGuardedConnection(nc: NatsConnection, guard: LeaseGuard): NatsConnection {
  const subscribe: NatsConnection["subscribe"] = (subject, options) => {
    const callback = options?.callback;
    if (callback === undefined) return nc.subscribe(subject, options);
    const guarded: SubscribeOptions = {
      ...options,
      callback: (err, msg) => {
        if (err === null && !guard.allowed()) {
          guard.onDenied();
          return;
        }
        callback(err, err === null ? guardedMsg(msg, guard) : msg);
      },
    };
    return nc.subscribe(subject, guarded);
  };
  return new Proxy(nc, {
    get(target, property) {
      if (property === "subscribe") return subscribe;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type Msg = Parameters<NonNullable<SubscribeOptions["callback"]>>[1];

/**
 * `msg` whose replies go out only while the guard allows it: a leader paused with appends in
 * flight must not answer them when it resumes after its lease ran out (they may be durable, but
 * the new leader answers their retries).
 */
function guardedMsg(msg: Msg, guard: LeaseGuard): Msg {
  return new Proxy(msg, {
    get(target, property) {
      if (property === "respond") {
        return (...args: Parameters<Msg["respond"]>) => {
          if (!guard.allowed()) {
            guard.onDenied();
            return false;
          }
          return target.respond(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface AppendWatch {
  /** Whether appends may still be made; a refused one fails as fenced (and is reported). */
  readonly open: () => boolean;
  /** Every failed append attempt (the server may retry an unavailable log). */
  readonly onFailure: (err: unknown) => void;
  /** Every acknowledged append. */
  readonly onSuccess: () => void;
}

/**
 * `log` whose appends are reported to `watch`, and refused once it is closed. The shell uses it to
 * know whether a server it stopped left its state machine equal to the log (no append lost) and
 * to make sure a stopped server never appends again.
 */
export function watchedLog<L extends LogStream>(log: L, watch: AppendWatch): L {
  return new Proxy(log, {
    get(target, property) {
      if (property === "append") {
        return async (data: Uint8Array, expectedLastSeq: number, msgId?: string) => {
          if (!watch.open()) {
            const refused = new FencedError(target.name, expectedLastSeq);
            watch.onFailure(refused);
            throw refused;
          }
          try {
            const seq = await target.append(data, expectedLastSeq, msgId);
            watch.onSuccess();
            return seq;
          } catch (err) {
            watch.onFailure(err);
            throw err;
          }
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
