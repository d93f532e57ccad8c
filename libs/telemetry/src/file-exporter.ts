/**
 * A span exporter that appends finished spans to a file, one JSON object per line. Meant for
 * measurements (the benchmark's per-hop breakdown): every process of a cluster writes its own file
 * in one directory, and a tool joins the lines by trace id afterwards. Off unless a directory is
 * given (ANTLER_OTEL_SPAN_DIR or TelemetryOptions.spanDir); see telemetry.ts.
 *
 * Times are microseconds since the Unix epoch as numbers (µs since 1970 stay below 2^53 until the
 * year 2255, so no precision is lost). Spans of different processes on one machine share the
 * system clock, which is what makes cross-process hops (gateway → router) measurable at all.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";

/** The environment variable that switches span files on: the directory to write them into. */
export const spanDirEnv = "ANTLER_OTEL_SPAN_DIR";

/** One line of a span file. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  /** The parent's span id (possibly in another process), or null for a root span. */
  readonly parentSpanId: string | null;
  readonly name: string;
  /** OpenTelemetry SpanKind: 0 internal, 1 server, 2 client, 3 producer, 4 consumer. */
  readonly kind: number;
  /** The service name given to startTelemetry (antler-gateway, antler-router, antler-shard). */
  readonly service: string;
  /** The launcher's process name (ANTLER_PROCESS_NAME, e.g. shard-0-1), or null. */
  readonly process: string | null;
  readonly pid: number;
  /** Start, µs since the Unix epoch. */
  readonly startMicros: number;
  readonly durationMicros: number;
  /** OpenTelemetry SpanStatusCode: 0 unset, 1 ok, 2 error. */
  readonly status: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

type ExportResultCallback = Parameters<SpanExporter["export"]>[1];
/** ExportResultCode of @opentelemetry/core (not a dependency of this package). */
const exportSucceeded = 0;
const exportFailed = 1;

function hrTimeToMicros(time: readonly [number, number]): number {
  return time[0] * 1_000_000 + time[1] / 1_000;
}

export function spanRecordOf(span: ReadableSpan, service: string, processName: string | null, pid: number): SpanRecord {
  const context = span.spanContext();
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    kind: span.kind,
    service,
    process: processName,
    pid,
    startMicros: hrTimeToMicros(span.startTime),
    durationMicros: hrTimeToMicros(span.duration),
    status: span.status.code,
    attributes: span.attributes,
  };
}

/** bigint attributes cannot be JSON; they become decimal strings (OTel attributes never hold them, callers might). */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

export interface FileSpanExporterOptions {
  readonly dir: string;
  readonly service: string;
  readonly processName?: string | null;
  /** Defaults to this process's PID; names the file together with the service. */
  readonly pid?: number;
}

/**
 * Appends to `<dir>/<service>-<pid>.jsonl` (created, with the directory, on construction, so a
 * bad directory fails at start and not silently at the first export).
 */
export class FileSpanExporter implements SpanExporter {
  readonly file: string;
  readonly #service: string;
  readonly #processName: string | null;
  readonly #pid: number;
  #fd: number | null;

  constructor(options: FileSpanExporterOptions) {
    this.#service = options.service;
    this.#processName = options.processName ?? null;
    this.#pid = options.pid ?? process.pid;
    fs.mkdirSync(options.dir, { recursive: true });
    this.file = path.join(options.dir, `${options.service}-${this.#pid}.jsonl`);
    this.#fd = fs.openSync(this.file, "a");
  }

  export(spans: ReadableSpan[], resultCallback: ExportResultCallback): void {
    if (this.#fd === null) {
      resultCallback({ code: exportFailed, error: new Error(`span file ${this.file} is closed`) });
      return;
    }
    try {
      let text = "";
      for (const span of spans) text += `${JSON.stringify(spanRecordOf(span, this.#service, this.#processName, this.#pid), replacer)}\n`;
      // One write per batch: the batch processor calls this a few times a second at most.
      fs.writeSync(this.#fd, text);
      resultCallback({ code: exportSucceeded });
    } catch (err) {
      resultCallback({ code: exportFailed, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  async forceFlush(): Promise<void> {
    // Every export is written synchronously; nothing is buffered here.
  }

  async shutdown(): Promise<void> {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    fs.closeSync(fd);
  }
}
