/**
 * Gateway liveness in Redis: `antler:gateway:<id>` holds a small JSON description of a running
 * gateway with a short TTL that the gateway refreshes every interval. A gateway that dies stops
 * refreshing and its key disappears within the TTL; status tools list the keys that remain.
 */
import { assert, limits } from "@antler/base";
import type { RedisClient } from "./connect.ts";

export const gatewayKeyPrefix = "antler:gateway:";

export function gatewayKey(gatewayId: string): string {
  return `${gatewayKeyPrefix}${gatewayId}`;
}

export interface GatewayInfo {
  readonly gatewayId: string;
  readonly clientAddress: string;
  readonly pid: number;
  readonly startedMs: number;
}

export interface GatewayHeartbeat {
  /** Stops refreshing and removes the key, so the gateway is gone from listings at once. */
  stop(): Promise<void>;
}

export interface GatewayHeartbeatOptions {
  readonly intervalMs?: number;
  readonly ttlMs?: number;
  /** Called when refreshes start failing (Redis down); the heartbeat keeps trying. */
  readonly onError?: (err: unknown) => void;
  /** Called when a refresh succeeds again after failures. */
  readonly onRecovered?: () => void;
}

/** Writes the key once (awaited, so a failure surfaces at startup), then refreshes it. */
export async function startGatewayHeartbeat(
  redis: RedisClient,
  info: GatewayInfo,
  options: GatewayHeartbeatOptions = {},
): Promise<GatewayHeartbeat> {
  const intervalMs = options.intervalMs ?? limits.gatewayLivenessIntervalMs;
  const ttlMs = options.ttlMs ?? limits.gatewayLivenessTtlMs;
  assert(ttlMs > intervalMs, "the liveness TTL must outlast the refresh interval");
  const key = gatewayKey(info.gatewayId);
  const value = JSON.stringify(info);
  await redis.set(key, value, "PX", ttlMs);
  let inFlight: Promise<unknown> = Promise.resolve();
  // Report transitions only: an outage must not log a line every interval.
  let failing = false;
  const timer = setInterval(() => {
    inFlight = redis.set(key, value, "PX", ttlMs).then(
      () => {
        if (failing) options.onRecovered?.();
        failing = false;
      },
      (err: unknown) => {
        if (!failing) options.onError?.(err);
        failing = true;
      },
    );
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      await redis.del(key);
    },
  };
}

/** The gateways whose liveness key is present, up to a bound. Unparsable values are skipped. */
export async function listGateways(redis: RedisClient, max = 1000): Promise<GatewayInfo[]> {
  const gateways: GatewayInfo[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${gatewayKeyPrefix}*`, "COUNT", 1000);
    cursor = next;
    const values = keys.length === 0 ? [] : await redis.mget(keys);
    for (const value of values) {
      if (value === null || gateways.length >= max) continue;
      try {
        const info = JSON.parse(value) as unknown;
        if (isGatewayInfo(info)) gateways.push(info);
      } catch {
        // A foreign or corrupt value under our prefix is not a gateway.
      }
    }
  } while (cursor !== "0" && gateways.length < max);
  return gateways.sort((a, b) => a.gatewayId.localeCompare(b.gatewayId));
}

function isGatewayInfo(value: unknown): value is GatewayInfo {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.gatewayId === "string" &&
    typeof v.clientAddress === "string" &&
    typeof v.pid === "number" &&
    typeof v.startedMs === "number"
  );
}
