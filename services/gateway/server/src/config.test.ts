/** readGatewayConfig: defaults, every accepted form, and a one-line ConfigError naming the variable. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, readGatewayConfig } from "./config.ts";

const base = { ANTLER_NATS_URL: "nats://127.0.0.1:4222", ANTLER_REDIS_URL: "redis://127.0.0.1:6379" };

test("the launcher's full environment is read as given", () => {
  const config = readGatewayConfig({
    ...base,
    ANTLER_CLIENT_HOST: "10.213.0.1",
    ANTLER_CLIENT_PORT: "9421",
    ANTLER_CS_PORT: "9420",
    ANTLER_EXPORTS_FILE: "/data/mfsexports.cfg",
    ANTLER_DATA_DIR: "/data",
    ANTLER_OTEL_EXPORTER: "console",
    ANTLER_LOG_LEVEL: "debug",
    ANTLER_GATEWAY_ID: "gw-1",
  });
  assert.deepEqual(config, {
    natsUrl: "nats://127.0.0.1:4222",
    redisUrl: "redis://127.0.0.1:6379",
    clientHost: "10.213.0.1",
    clientPort: 9421,
    chunkserverPort: 9420,
    exportsFile: "/data/mfsexports.cfg",
    dataDir: "/data",
    otelExporter: "console",
    logLevel: "debug",
    gatewayId: "gw-1",
  });
});

test("only the two URLs are required; the rest has MooseFS defaults", () => {
  const config = readGatewayConfig(base);
  assert.equal(config.clientHost, "0.0.0.0");
  assert.equal(config.clientPort, 9421);
  assert.equal(config.chunkserverPort, 9420);
  assert.equal(config.exportsFile, undefined);
  assert.equal(config.otelExporter, "none");
  assert.equal(config.logLevel, "info");
  assert.match(config.gatewayId, /^[A-Za-z0-9._-]+$/);
  assert.ok(config.gatewayId.endsWith(`-${process.pid}`), "unique per process by default");
  assert.notEqual(readGatewayConfig(base, 1).gatewayId, readGatewayConfig(base, 2).gatewayId);
});

test("bad values are refused with the variable's name", () => {
  const cases: [Record<string, string>, string][] = [
    [{ ANTLER_REDIS_URL: base.ANTLER_REDIS_URL }, "ANTLER_NATS_URL"],
    [{ ...base, ANTLER_NATS_URL: "127.0.0.1:4222" }, "ANTLER_NATS_URL"],
    [{ ...base, ANTLER_REDIS_URL: "http://x" }, "ANTLER_REDIS_URL"],
    [{ ...base, ANTLER_CLIENT_PORT: "94210" }, "ANTLER_CLIENT_PORT"],
    [{ ...base, ANTLER_CLIENT_PORT: "12a" }, "ANTLER_CLIENT_PORT"],
    [{ ...base, ANTLER_CS_PORT: "-1" }, "ANTLER_CS_PORT"],
    [{ ...base, ANTLER_CLIENT_HOST: "localhost" }, "ANTLER_CLIENT_HOST"],
    [{ ...base, ANTLER_LOG_LEVEL: "verbose" }, "ANTLER_LOG_LEVEL"],
    [{ ...base, ANTLER_OTEL_EXPORTER: "jaeger" }, "ANTLER_OTEL_EXPORTER"],
    [{ ...base, ANTLER_GATEWAY_ID: "gw 1" }, "ANTLER_GATEWAY_ID"],
  ];
  for (const [env, variable] of cases) {
    assert.throws(
      () => readGatewayConfig(env),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith(variable) && !err.message.includes("\n"),
      variable,
    );
  }
});
