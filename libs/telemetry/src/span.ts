/** Spans around units of work, with errors recorded on the span and rethrown unchanged. */
import { context as contextApi, INVALID_SPAN_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span } from "@opentelemetry/api";

export { SpanKind, type Attributes, type Context, type Span };

const tracer = () => trace.getTracer("antler");

/**
 * Whether startTelemetry registered an exporter (the only way tracing is switched on in Antler).
 * Off, withSpan skips the OpenTelemetry API altogether: its no-op path still allocates a tracer,
 * a span and a context per call, on every request of every service.
 */
let tracing = false;

/** Set by startTelemetry and its shutdown; not exported from the package. */
export function setTracing(on: boolean): void {
  tracing = on;
}

/** Whether spans are recorded: callers may skip building span attributes when they are not. */
export function isTracing(): boolean {
  return tracing;
}

/** What `fn` gets while tracing is off: records nothing, like the API's own no-op span. */
const offSpan: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export interface SpanOptions {
  /** The parent: defaults to the active context (use `extractTrace` for a remote parent). */
  readonly parent?: Context;
  readonly kind?: SpanKind;
}

/**
 * Runs `fn` inside a new active span named `name`. The span ends when `fn` returns or its promise
 * settles; a thrown error or rejection is recorded (status ERROR) and passed on.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T, options?: SpanOptions): T {
  // No context to enter either: without an SDK the active context is always the root one.
  if (!tracing) return fn(offSpan);
  return withRecordedSpan(name, attributes, fn, options ?? {});
}

/**
 * Now as epoch time with sub-µs resolution. The SDK would take a span's start from Date.now()
 * (whole milliseconds) and measure its duration from there; spans of one request live in
 * different processes (gateway, router, shard) and hops between them last tens of µs, so both
 * ends are given explicitly from the high-resolution clock.
 */
function preciseNow(): HrTime {
  const millis = performance.timeOrigin + performance.now();
  const seconds = Math.floor(millis / 1000);
  const nanos = Math.round((millis - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

function withRecordedSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T, options: SpanOptions): T {
  const parent = options.parent ?? contextApi.active();
  const span = tracer().startSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL, startTime: preciseNow() }, parent);
  const fail = (err: unknown): never => {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    span.end(preciseNow());
    throw err;
  };
  let result: T;
  try {
    result = contextApi.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (err) {
    return fail(err);
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end(preciseNow());
        return value;
      },
      fail,
    ) as T;
  }
  span.end(preciseNow());
  return result;
}

/** The active span's context for handing to work that runs later (timers, queues). */
export function activeContext(): Context {
  return contextApi.active();
}
