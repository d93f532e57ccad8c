/**
 * The gateway's configuration, read once from the environment the launcher sets. Every value is
 * validated here so that a typo stops the process at once with one line naming the variable,
 * instead of failing later somewhere less obvious.
 */
import { hostname } from "node:os";
import { isIP } from "node:net";
import { parseExporterKind, parseLogLevel, TelemetryConfigError, type ExporterKind, type LogLevel } from "@antler/telemetry";

export interface GatewayConfig {
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** Where mounts connect (MooseFS client port, 9421 by default). */
  readonly clientHost: string;
  readonly clientPort: number;
  /** Chunkserver port (9420): where mfschunkservers register (same host as the client port). */
  readonly chunkserverPort: number;
  /** mfsexports.cfg-style rules; absent file → everyone may mount everything read-write. */
  readonly exportsFile: string | undefined;
  readonly dataDir: string | undefined;
  readonly otelExporter: ExporterKind;
  readonly logLevel: LogLevel;
  /** Names this gateway in Redis (liveness, which gateway holds a session) and in logs. */
  readonly gatewayId: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export const gatewayEnv = {
  natsUrl: "ANTLER_NATS_URL",
  redisUrl: "ANTLER_REDIS_URL",
  clientHost: "ANTLER_CLIENT_HOST",
  clientPort: "ANTLER_CLIENT_PORT",
  chunkserverPort: "ANTLER_CS_PORT",
  exportsFile: "ANTLER_EXPORTS_FILE",
  dataDir: "ANTLER_DATA_DIR",
  otelExporter: "ANTLER_OTEL_EXPORTER",
  logLevel: "ANTLER_LOG_LEVEL",
  gatewayId: "ANTLER_GATEWAY_ID",
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/** `pid` names the default gateway id; it is a parameter so the function stays testable. */
export function readGatewayConfig(env: Env, pid: number = process.pid): GatewayConfig {
  const natsUrl = requireUrl(env, gatewayEnv.natsUrl, ["nats:", "tls:"]);
  const redisUrl = requireUrl(env, gatewayEnv.redisUrl, ["redis:", "rediss:"]);
  const clientHost = optional(env, gatewayEnv.clientHost) ?? "0.0.0.0";
  if (isIP(clientHost) === 0) throw new ConfigError(`${gatewayEnv.clientHost}: not an IP address: ${JSON.stringify(clientHost)}`);
  const clientPort = port(env, gatewayEnv.clientPort, 9421);
  const chunkserverPort = port(env, gatewayEnv.chunkserverPort, 9420);
  const logLevelText = optional(env, gatewayEnv.logLevel);
  const logLevel = parseLogLevel(logLevelText);
  if (logLevelText !== undefined && logLevel === undefined) {
    throw new ConfigError(`${gatewayEnv.logLevel}: unknown level ${JSON.stringify(logLevelText)} (debug, info, warn, error)`);
  }
  let otelExporter: ExporterKind;
  try {
    otelExporter = parseExporterKind(optional(env, gatewayEnv.otelExporter));
  } catch (err) {
    if (err instanceof TelemetryConfigError) throw new ConfigError(`${gatewayEnv.otelExporter}: ${err.message}`);
    throw err;
  }
  // Unique by default even for several gateways sharing one address on one host (SO_REUSEPORT).
  const gatewayId = optional(env, gatewayEnv.gatewayId) ?? `${hostname()}-${pid}`.slice(-64);
  // The id is part of Redis keys and log fields: keep it to a safe alphabet.
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(gatewayId)) {
    throw new ConfigError(`${gatewayEnv.gatewayId}: use 1-64 of [A-Za-z0-9._-], got ${JSON.stringify(gatewayId)}`);
  }
  return {
    natsUrl,
    redisUrl,
    clientHost,
    clientPort,
    chunkserverPort,
    exportsFile: optional(env, gatewayEnv.exportsFile),
    dataDir: optional(env, gatewayEnv.dataDir),
    otelExporter,
    logLevel: logLevel ?? "info",
    gatewayId,
  };
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function requireUrl(env: Env, name: string, protocols: readonly string[]): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(`${name} is required (e.g. ${protocols[0]}//127.0.0.1:port)`);
  // A bare host:port is what operators often write for NATS; only full URLs are accepted so the
  // scheme (and TLS) is never guessed.
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}: not a URL: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name}: expected ${protocols.map((p) => `${p}//`).join(" or ")}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function port(env: Env, name: string, fallback: number): number {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) {
    throw new ConfigError(`${name}: not a TCP port: ${JSON.stringify(value)}`);
  }
  // 0 lets the OS choose (tests); the READY line reports the port actually bound.
  return Number(value);
}
