/**
 * Carries one client operation to the metadata tier: a NATS request to the routers with the
 * routing headers, retried while nobody answers, under the operation's root span.
 *
 * Retries: a request that times out or finds no responders (router or shard restarting, leader
 * failover) is sent again after a growing backoff (limits.metaRequestBackoffMinMs → …MaxMs; during
 * the first limits.metaRequestFailoverWindowMs capped at …FailoverBackoffMs, so a standby that
 * takes over within ~0.5 s is found at once) with the same request id, so a shard that did execute
 * the first attempt recognises the replay and answers the recorded result. An attempt that stays
 * unanswered for limits.metaRequestHedgeMs (doubling) is "hedged": sent again while the first
 * keeps waiting, and the first reply of either wins — a request whose shard leader died after
 * receiving it reaches the new leader in well under a second instead of after the attempt timeout. After limits.metaRequestRetryTotalMs the client gets a status
 * instead: EAGAIN when no attempt reached a responder (the operation certainly did not happen),
 * IO when an attempt timed out (it may have happened). A reply with an internal status that
 * means "not now" (MOVED: the shard map is changing; TXLOCKED: a cross-shard transaction holds the
 * inode) is retried the same way, with the same request id, and never reaches the client.
 * mfsmount passes EAGAIN or IO to the application (it retries only lost connections, not statuses;
 * protocol §5), which is the honest answer after half a minute of a metadata tier that does not
 * answer.
 */
import { limits } from "@antler/base";
import {
  CodecError,
  decodeMessage,
  encodeMessage,
  Header,
  metaRequestSubject,
  slotOfInode,
  Status,
  type MetaRequest,
  type Result,
  type Route,
} from "@antler/ops";
import { extractTrace, injectTrace, isTracing, SpanKind, withSpan, type Logger } from "@antler/telemetry";

/** What one request attempt came back with. */
export type AttemptOutcome =
  | { readonly kind: "reply"; readonly data: Uint8Array }
  /** Nobody answered in time: the request may or may not have been executed. */
  | { readonly kind: "timeout" }
  /** No subscriber for the subject (or the link to NATS is down): certainly not executed. */
  | { readonly kind: "unavailable"; readonly reason: string };

/** The seam to NATS: one request, no retries. main.ts wires it to libs/io-nats. */
export interface MetaTransport {
  request(subject: string, body: Uint8Array, headers: ReadonlyMap<string, string>, timeoutMs: number): Promise<AttemptOutcome>;
}

export interface MetaCallerOptions {
  readonly transport: MetaTransport;
  readonly log: Logger;
  readonly attemptTimeoutMs?: number;
  readonly retryTotalMs?: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** First hedge delay (doubling); a value at or above attemptTimeoutMs turns hedging off. */
  readonly hedgeMs?: number;
  readonly failoverWindowMs?: number;
  readonly failoverBackoffMs?: number;
  readonly nowMs?: () => number;
}

export interface MetaCaller {
  /** Always settles with a Result (never rejects): failures become statuses for the client. */
  call(request: MetaRequest, route: Route): Promise<Result>;
  /** Pending retries give up at once (shutdown); their callers get EAGAIN. */
  abort(): void;
}

const noAttributes = {};

/** The root context: each client operation starts its own trace, whatever else is running. */
const rootContext = extractTrace(undefined);

export function createMetaCaller(options: MetaCallerOptions): MetaCaller {
  const attemptTimeoutMs = options.attemptTimeoutMs ?? limits.metaRequestAttemptTimeoutMs;
  const retryTotalMs = options.retryTotalMs ?? limits.metaRequestRetryTotalMs;
  const backoffMinMs = options.backoffMinMs ?? limits.metaRequestBackoffMinMs;
  const backoffMaxMs = options.backoffMaxMs ?? limits.metaRequestBackoffMaxMs;
  const nowMs = options.nowMs ?? Date.now;
  const { transport, log } = options;
  const aborter = new AbortController();

  const hedgeStartMs = options.hedgeMs ?? limits.metaRequestHedgeMs;
  const failoverWindowMs = options.failoverWindowMs ?? limits.metaRequestFailoverWindowMs;
  const failoverBackoffMs = options.failoverBackoffMs ?? limits.metaRequestFailoverBackoffMs;
  /** Attempts of one request waiting at once (the first, plus hedges; the schedule doubles). */
  const attemptsInFlightMax = 4;

  async function attemptUntilAnswered(request: MetaRequest, headers: Map<string, string>): Promise<Result> {
    const body = encodeMessage(request);
    const startedMs = nowMs();
    const deadlineMs = startedMs + retryTotalMs;
    let backoffMs = backoffMinMs;
    let hedgeMs = hedgeStartMs;
    let attempts = 0;
    let everTimedOut = false;
    let lastReason = "";
    let nextSendMs = startedMs;
    const inFlight = new Map<number, Promise<{ readonly id: number; readonly outcome: AttemptOutcome }>>();
    while (true) {
      const now = nowMs();
      if (now >= nextSendMs && now < deadlineMs && inFlight.size < attemptsInFlightMax && !aborter.signal.aborted) {
        const id = ++attempts;
        const timeoutMs = Math.max(1, Math.min(attemptTimeoutMs, deadlineMs - now));
        inFlight.set(id, transport.request(metaRequestSubject, body, headers, timeoutMs).then((outcome) => ({ id, outcome })));
        // Unanswered by then, the request is sent again (hedged) while this one keeps waiting.
        nextSendMs = hedgeMs < timeoutMs ? now + hedgeMs : Number.POSITIVE_INFINITY;
        hedgeMs *= 2;
      }
      // After an abort (shutdown) nothing more is sent; attempts in flight are still awaited.
      const canSendLater = !aborter.signal.aborted && inFlight.size < attemptsInFlightMax && nextSendMs < deadlineMs && nowMs() < deadlineMs;
      if (inFlight.size === 0 && !canSendLater) break;
      const waitMs = canSendLater ? Math.max(0, nextSendMs - nowMs()) : null;
      const settled = await Promise.race([...inFlight.values(), ...(waitMs === null ? [] : [sleep(waitMs, aborter.signal).then(() => null)])]);
      if (settled === null) continue;
      inFlight.delete(settled.id);
      const { outcome } = settled;
      if (outcome.kind === "reply") {
        const result = decodeResult(outcome.data, request, log);
        const retryable = retryableStatusReason(result.status);
        if (retryable === null) return result;
        // Internal statuses never reach a client: the request is sent again like an unanswered one.
        lastReason = retryable;
      } else {
        if (outcome.kind === "timeout") everTimedOut = true;
        lastReason = outcome.kind === "timeout" ? "no reply in time" : outcome.reason;
      }
      // The next attempt is a fresh one: its hedges start from the first delay again.
      hedgeMs = hedgeStartMs;
      // Nobody has it (or it timed out): try again after the backoff, unless a hedge comes sooner.
      const cap = nowMs() - startedMs < failoverWindowMs ? Math.min(backoffMaxMs, failoverBackoffMs) : backoffMaxMs;
      backoffMs = Math.min(backoffMs, cap);
      nextSendMs = Math.min(nextSendMs, nowMs() + backoffMs);
      backoffMs = Math.min(backoffMs * 2, cap);
    }
    const status = everTimedOut ? Status.IO : Status.EAGAIN;
    log.warn("metadata request gave up", {
      kind: request.cmd.kind,
      session: request.ctx.sessionId,
      requestId: request.ctx.requestId,
      attempts,
      status,
      reason: lastReason,
    });
    return { status };
  }

  return {
    call(request, route) {
      const slot = route === "all" ? "*" : String("slot" in route ? route.slot : slotOfInode(route.inode));
      // Attributes and trace headers are built only when spans are recorded (telemetry on).
      const tracing = isTracing();
      const attributes = tracing
        ? {
            "antler.session": request.ctx.sessionId,
            ...(route !== "all" && "inode" in route ? { "antler.inode": route.inode } : {}),
            ...(request.ctx.requestId === undefined ? {} : { "antler.request_id": request.ctx.requestId }),
          }
        : noAttributes;
      return withSpan(
        request.cmd.kind,
        attributes,
        async (span) => {
          const headers = new Map<string, string>([
            [Header.slot, slot],
            [Header.session, String(request.ctx.sessionId)],
          ]);
          if (request.ctx.requestId !== undefined) headers.set(Header.requestId, request.ctx.requestId);
          if (tracing) injectTrace({ get: (key) => headers.get(key) ?? "", set: (key, value) => void headers.set(key, value) });
          const result = await attemptUntilAnswered(request, headers).catch((err: unknown): Result => {
            // The transport promises outcomes, not exceptions; anything else is a bug to log, and
            // the client still gets an answer.
            log.error("metadata request failed unexpectedly", { kind: request.cmd.kind, err });
            return { status: Status.IO };
          });
          if (tracing) span.setAttribute("antler.status", result.status);
          return result;
        },
        { parent: rootContext, kind: SpanKind.CLIENT },
      );
    },
    abort() {
      aborter.abort();
    },
  };
}

/**
 * Replies that mean "not now" rather than an answer (internal statuses, @antler/ops status.ts):
 * MOVED (the shard no longer owns the slot; a router with the new map sends it right) and
 * TXLOCKED (a cross-shard transaction holds what the request needs). Null for a real answer.
 */
function retryableStatusReason(status: number): string | null {
  if (status === Status.MOVED) return "moved: shard map changing";
  if (status === Status.TXLOCKED) return "locked by a cross-shard transaction";
  return null;
}

function decodeResult(data: Uint8Array, request: MetaRequest, log: Logger): Result {
  try {
    const value = decodeMessage(data);
    if (value !== null && typeof value === "object" && typeof (value as { status?: unknown }).status === "number") {
      const status = (value as { status: number }).status;
      if (Number.isInteger(status) && status >= 0 && status <= 255) return value as Result;
    }
    throw new CodecError("reply is not a Result");
  } catch (err) {
    // A reply we cannot read is a bug on the other side; retrying would get the same bytes.
    log.error("undecodable metadata reply", { kind: request.cmd.kind, requestId: request.ctx.requestId, err });
    return { status: Status.IO };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
