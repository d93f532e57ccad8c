/**
 * The one way services connect to NATS: reconnect forever with a short wait (a NATS restart must
 * not take a service down; the launcher and supervisors restart NATS quickly), and every status
 * change is logged.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@antler/telemetry";

export type { NatsConnection };

export interface ConnectOptions {
  readonly logger?: Logger;
  /** Time to wait between reconnect attempts to the same server. */
  readonly reconnectWaitMs?: number;
  /** Timeout of one connection attempt. */
  readonly timeoutMs?: number;
  /**
   * How long the first connection is retried before giving up (NATS may still be starting when
   * a service starts). Afterwards the client reconnects forever.
   */
  readonly firstConnectWindowMs?: number;
}

export async function connectNats(url: string, name: string, options: ConnectOptions = {}): Promise<NatsConnection> {
  const logger = options.logger;
  const reconnectWaitMs = options.reconnectWaitMs ?? 250;
  const deadline = performance.now() + (options.firstConnectWindowMs ?? 10_000);
  let nc: NatsConnection;
  for (let attempt = 1; ; attempt++) {
    try {
      nc = await connect({
        servers: url.split(",").map((s) => s.trim()),
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: reconnectWaitMs,
        reconnectJitter: 50,
        timeout: options.timeoutMs ?? 5_000,
      });
      break;
    } catch (err) {
      // Past the window the caller fails loudly (and its supervisor restarts it).
      if (performance.now() >= deadline) throw err;
      logger?.warn("nats not reachable yet, retrying", { url, attempt, err });
      await new Promise((resolve) => setTimeout(resolve, reconnectWaitMs));
    }
  }
  if (logger !== undefined) {
    logger.info("nats connected", { server: nc.getServer(), name });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "ping" || status.type === "staleConnection") continue;
        const level = status.type === "error" || status.type === "disconnect" ? "warn" : "info";
        logger[level]("nats status", { status: status.type, ...("server" in status ? { server: status.server } : {}) });
      }
    })();
  }
  return nc;
}
