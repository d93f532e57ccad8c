/**
 * OpenTelemetry tracing for a service. Off by default: without `startTelemetry` (or with exporter
 * "none") withSpan just calls its function (span.ts), without touching the API. With an
 * exporter, the NodeSDK is started with one span processor for it and nothing read from OTEL_*
 * environment variables except what the OTLP exporter itself reads (its endpoint).
 *
 * Independently of the exporter, span files can be switched on for measurements: with a directory
 * in ANTLER_OTEL_SPAN_DIR (or `spanDir`) every finished span is also appended to
 * `<dir>/<service>-<pid>.jsonl` (file-exporter.ts). Unset, nothing changes.
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
import { FileSpanExporter, spanDirEnv } from "./file-exporter.ts";
import { setTracing } from "./span.ts";

export const exporterKinds = ["none", "console", "otlp", "memory"] as const;
export type ExporterKind = (typeof exporterKinds)[number];

export interface TelemetryOptions {
  readonly serviceName: string;
  readonly exporter?: ExporterKind;
  /** OTLP/HTTP traces URL; defaults to OTEL_EXPORTER_OTLP_ENDPOINT handling of the exporter. */
  readonly otlpEndpoint?: string;
  /**
   * Directory for span files (see file-exporter.ts); undefined = ANTLER_OTEL_SPAN_DIR when set,
   * null = none whatever the environment says.
   */
  readonly spanDir?: string | null;
}

/**
 * Span files are for measurement runs that trace every request: the queue holds a few seconds of
 * a busy service's spans (the SDK default, 2048, drops spans under benchmark load), and batches
 * leave often so that little is lost if a process is killed.
 */
const spanFileQueueMax = 65_536;
const spanFileBatchMax = 4_096;
const spanFileDelayMs = 200;

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
  const envSpanDir = process.env[spanDirEnv];
  const spanDir = options.spanDir === undefined ? (envSpanDir !== undefined && envSpanDir !== "" ? envSpanDir : null) : options.spanDir;
  if (kind === "none" && spanDir === null) return noTelemetry;
  if (running !== null) throw new TelemetryConfigError("telemetry is already started in this process");

  let memory: InMemorySpanExporter | null = null;
  let processor: SpanProcessor | null = null;
  switch (kind) {
    case "none":
      break;
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
  const processors: SpanProcessor[] = processor === null ? [] : [processor];
  if (spanDir !== null) {
    let exporter: FileSpanExporter;
    try {
      exporter = new FileSpanExporter({ dir: spanDir, service: options.serviceName, processName: process.env.ANTLER_PROCESS_NAME ?? null });
    } catch (err) {
      throw new TelemetryConfigError(`cannot write span files to ${JSON.stringify(spanDir)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    processors.push(
      new BatchSpanProcessor({ exporter, maxQueueSize: spanFileQueueMax, maxExportBatchSize: spanFileBatchMax, scheduledDelayMillis: spanFileDelayMs }),
    );
  }
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    spanProcessors: processors,
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
    flush: async () => {
      await Promise.all(processors.map((each) => each.forceFlush()));
    },
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
