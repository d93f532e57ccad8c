/**
 * Structured logs: one JSON object per line on stderr (stdout is reserved for the `READY` line the
 * launcher waits for). No dependency, so every service and tool can log the same way.
 */

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the shard id). */
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  /** Lowest level written; defaults to ANTLER_LOG_LEVEL, else "info". */
  readonly level?: LogLevel;
  /** Where lines go; defaults to stderr. Tests capture lines here. */
  readonly write?: (line: string) => void;
  /** Clock for the `ts` field; defaults to Date.now. */
  readonly nowMs?: () => number;
}

export function parseLogLevel(text: string | undefined): LogLevel | undefined {
  if (text === undefined || text === "") return undefined;
  const lower = text.toLowerCase();
  return (logLevels as readonly string[]).includes(lower) ? (lower as LogLevel) : undefined;
}

/** JSON.stringify replacer: bigint as decimal, errors with name/message/cause, bytes as length. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    if (value.cause !== undefined) out.cause = value.cause;
    return out;
  }
  if (value instanceof Uint8Array) return { bytes: value.length };
  return value;
}

export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLogLevel(process.env.ANTLER_LOG_LEVEL) ?? "info";
  const write = options.write ?? ((line: string) => void process.stderr.write(line + "\n"));
  const nowMs = options.nowMs ?? Date.now;
  return makeLogger(service, level, write, nowMs, {});
}

function makeLogger(
  service: string,
  level: LogLevel,
  write: (line: string) => void,
  nowMs: () => number,
  base: LogFields,
): Logger {
  const threshold = logLevels.indexOf(level);
  const emit = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (logLevels.indexOf(lineLevel) < threshold) return;
    const record = { ts: new Date(nowMs()).toISOString(), level: lineLevel, service, msg, ...base, ...fields };
    let line: string;
    try {
      line = JSON.stringify(record, replacer);
    } catch (err) {
      // A field that cannot be serialised (a cycle) must not take the service down with it.
      line = JSON.stringify({ ts: record.ts, level: lineLevel, service, msg, logError: String(err) });
    }
    write(line);
  };
  return {
    level,
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => makeLogger(service, level, write, nowMs, { ...base, ...fields }),
  };
}
