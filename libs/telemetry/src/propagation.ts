/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) carried in message headers by hand:
 * NATS has no OpenTelemetry instrumentation (shared deps.md §6c), and doing it here keeps the
 * format independent of which global propagator the SDK registers. Works with any header object
 * that has get/set (NATS `MsgHdrs` does).
 */
import { context, createTraceState, isSpanContextValid, ROOT_CONTEXT, trace, TraceFlags, type Context } from "@opentelemetry/api";

/** The subset of NATS `MsgHdrs` the helpers need. */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
}

const traceparentHeader = "traceparent";
const tracestateHeader = "tracestate";
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Writes the active span's context (or `ctx`'s) into `headers`; nothing when there is no span. */
export function injectTrace(headers: HeaderCarrier, ctx: Context = context.active()): void {
  const spanContext = trace.getSpanContext(ctx);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, "0");
  headers.set(traceparentHeader, `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`);
  const state = spanContext.traceState?.serialize();
  if (state !== undefined && state !== "") headers.set(tracestateHeader, state);
}

/**
 * The context of a remote parent read from `headers`, or ROOT_CONTEXT when the headers are
 * absent or malformed (a bad header must never fail a request).
 */
export function extractTrace(headers: HeaderCarrier | undefined): Context {
  if (headers === undefined) return ROOT_CONTEXT;
  const match = traceparentPattern.exec(headers.get(traceparentHeader).trim());
  if (match === null) return ROOT_CONTEXT;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version ff is invalid; version 00 must have nothing after the flags.
  if (version === "ff" || (version === "00" && rest !== undefined)) return ROOT_CONTEXT;
  const state = headers.get(tracestateHeader);
  const spanContext = {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(state !== "" ? { traceState: createTraceState(state) } : {}),
  };
  if (!isSpanContextValid(spanContext)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}
