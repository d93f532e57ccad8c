export { createLogger, logLevels, parseLogLevel, type LogFields, type LogLevel, type Logger, type LoggerOptions } from "./logger.ts";
export { FileSpanExporter, spanDirEnv, spanRecordOf, type FileSpanExporterOptions, type SpanRecord } from "./file-exporter.ts";
export { extractTrace, injectTrace, type HeaderCarrier } from "./propagation.ts";
export { activeContext, isTracing, SpanKind, withSpan, type Attributes, type Context, type Span, type SpanOptions } from "./span.ts";
export {
  exporterKinds,
  parseExporterKind,
  startTelemetry,
  startTelemetryFromEnv,
  TelemetryConfigError,
  type ExporterKind,
  type Telemetry,
  type TelemetryOptions,
} from "./telemetry.ts";
