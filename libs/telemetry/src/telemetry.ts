/**
 * OpenTelemetry tracing for a service. Off by default: without `startTelemetry` (or with exporter
 * "none") withSpan just calls its function (span.ts), without touching the API. With an
 * exporter, the NodeSDK is started with exactly one span processor and nothing read from OTEL_*
 * environment variables except what the OTLP exporter itself reads (its endpoint).
 *
 * Note the 3.x API: span processors take an options object (`new BatchSpanProcessor({ exporter })`);
 * passing the exporter positionally silently drops spans.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { NodeSDK } from "@opentelemetry/sdk-node";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { setTracing } from "./span.ts";

export const exporterKinds = ["none", "console", "otlp", "memory"] as const;
export type ExporterKind = (typeof exporterKinds)[number];

export interface TelemetryOptions {
  readonly serviceName: string;
  readonly exporter?: ExporterKind;
  /** OTLP/HTTP traces URL; defaults to OTEL_EXPORTER_OTLP_ENDPOINT handling of the exporter. */
  readonly otlpEndpoint?: string;
}

export interface Telemetry {
  readonly exporter: ExporterKind;
  /** Finished spans so far (exporter "memory" only; empty otherwise). */
  finishedSpans(): readonly ReadableSpan[];
  /** Drops the spans collected so far (exporter "memory" only). */
  resetSpans(): void;
  /** Exports everything buffered. */
  flush(): Promise<void>;
  /** Flushes, stops the SDK and unregisters the global providers (the API is a no-op again). */
  shutdown(): Promise<void>;
}

export class TelemetryConfigError extends Error {
  override name = "TelemetryConfigError";
}

export function parseExporterKind(text: string | undefined): ExporterKind {
  if (text === undefined || text === "") return "none";
  if ((exporterKinds as readonly string[]).includes(text)) return text as ExporterKind;
  throw new TelemetryConfigError(`unknown exporter ${JSON.stringify(text)} (expected one of ${exporterKinds.join(", ")})`);
}

const noTelemetry: Telemetry = {
  exporter: "none",
  finishedSpans: () => [],
  resetSpans: () => {},
  flush: async () => {},
  shutdown: async () => {},
};

let running: Telemetry | null = null;

export function startTelemetry(options: TelemetryOptions): Telemetry {
  const kind = options.exporter ?? "none";
  if (kind === "none") return noTelemetry;
  if (running !== null) throw new TelemetryConfigError("telemetry is already started in this process");

  let memory: InMemorySpanExporter | null = null;
  let processor: SpanProcessor;
  switch (kind) {
    case "memory":
      memory = new InMemorySpanExporter();
      // Simple: a span is visible to the test the moment it ends.
      processor = new SimpleSpanProcessor({ exporter: memory });
      break;
    case "console":
      processor = new BatchSpanProcessor({ exporter: new ConsoleSpanExporter() });
      break;
    case "otlp":
      processor = new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(options.otlpEndpoint !== undefined ? { url: options.otlpEndpoint } : {}),
      });
      break;
  }
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    spanProcessors: [processor],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
    resourceDetectors: [],
  });
  sdk.start();
  setTracing(true);
  const telemetry: Telemetry = {
    exporter: kind,
    finishedSpans: () => (memory === null ? [] : memory.getFinishedSpans()),
    resetSpans: () => memory?.reset(),
    flush: () => processor.forceFlush(),
    shutdown: async () => {
      try {
        await sdk.shutdown();
      } finally {
        setTracing(false);
        trace.disable();
        context.disable();
        propagation.disable();
        running = null;
      }
    },
  };
  running = telemetry;
  return telemetry;
}

/**
 * Telemetry as the launcher configures services: ANTLER_OTEL_EXPORTER (none|console|otlp); for
 * otlp the exporter itself reads OTEL_EXPORTER_OTLP_ENDPOINT (and appends /v1/traces).
 */
export function startTelemetryFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  return startTelemetry({ serviceName, exporter: parseExporterKind(env.ANTLER_OTEL_EXPORTER) });
}
