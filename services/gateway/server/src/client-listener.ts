/**
 * The client port (9421): accepts mount connections, gives each its own ClientLink, and drives
 * every link from one shared tick (one timer for the whole gateway, not one per connection).
 *
 * The socket is bound with SO_REUSEPORT so several gateway processes on one machine can share the
 * address and the kernel spreads new connections over them.
 */
import { createServer, type Server, type Socket } from "node:net";
import { limits } from "@antler/base";
import type { ClientConnection } from "@antler/gateway-core";
import { ClientLink, type LinkContext } from "./client-link.ts";
import { listenReusingPort } from "./listen.ts";

export interface ClientListenerOptions {
  readonly host: string;
  readonly port: number;
  /**
   * A fresh core for a new connection from `peerIp` (IPv4 as u32; 0 when not IPv4) whose request
   * ids start with `requestIdPrefix` (the link's cluster-unique id).
   */
  readonly createConnection: (peerIp: number, requestIdPrefix: string) => ClientConnection;
  readonly context: LinkContext;
}

export interface ClientListener {
  readonly host: string;
  readonly port: number;
  linkCount(): number;
  /**
   * Stops accepting and reading, waits (bounded) for the calls in flight to be answered, then
   * ends every connection (flushing queued output) and destroys stragglers.
   */
  close(drainMs?: number): Promise<void>;
}

export async function listenForClients(options: ClientListenerOptions): Promise<ClientListener> {
  const { context } = options;
  const links = new Set<ClientLink>();
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => accept(socket));

  function accept(socket: Socket): void {
    let connection: ClientConnection;
    const linkId = context.linkIds();
    try {
      connection = options.createConnection(peerIpOf(socket.remoteAddress), `${linkId}/`);
    } catch (err) {
      context.log.error("cannot create a connection core; refusing the connection", { err });
      socket.destroy();
      return;
    }
    const link: ClientLink = new ClientLink(socket, connection, linkId, context, () => links.delete(link));
    links.add(link);
  }

  const ticker = setInterval(() => {
    const nowMs = context.nowMs();
    for (const link of links) link.tick(nowMs);
  }, limits.gatewayTickMs);

  server.on("error", (err) => context.log.error("client listener error", { err }));
  let port: number;
  try {
    port = await listenReusingPort(server, options.host, options.port);
  } catch (err) {
    clearInterval(ticker);
    throw err;
  }

  return {
    host: options.host,
    port,
    linkCount: () => links.size,
    async close(drainMs = limits.gatewayDrainMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const link of links) link.quiesce();
      const drainUntilMs = Date.now() + drainMs;
      while (Date.now() < drainUntilMs && [...links].some((link) => link.callsInFlight > 0)) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const link of links) link.end();
      const deadline = setTimeout(() => {
        for (const link of links) link.destroy();
      }, drainMs);
      await closed;
      clearTimeout(deadline);
      clearInterval(ticker);
    },
  };
}

/** The peer's IPv4 address as a u32 (IPv4-mapped IPv6 included); 0 for anything else. */
export function peerIpOf(address: string | undefined): number {
  if (address === undefined) return 0;
  const text = address.startsWith("::ffff:") ? address.slice(7) : address;
  const parts = text.split(".");
  if (parts.length !== 4) return 0;
  let ip = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return 0;
    ip = ip * 256 + Number(part);
  }
  return ip >>> 0;
}
