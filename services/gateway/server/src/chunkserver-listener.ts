/**
 * The chunkserver port (9420): accepts `mfschunkserver` connections, gives each its own
 * ChunkserverLink, and drives every link from one shared tick (keepalives, timeouts, registry
 * refresh). Bound with SO_REUSEPORT like the client port, so several gateways on one machine share
 * the address.
 *
 * One chunkserver, one link: when a chunkserver reconnects (it restarted, or its old TCP
 * connection is half-dead) before this gateway noticed the old link was gone, the newer link wins
 * and the old one is closed, so the registry always describes the connection that works.
 */
import { createServer, type Server, type Socket } from "node:net";
import { limits } from "@antler/base";
import type { ChunkserverConnection } from "@antler/gateway-core";
import { ChunkserverLink, type ChunkserverLinkContext } from "./chunkserver-link.ts";
import { peerIpOf } from "./client-listener.ts";
import { listenReusingPort } from "./listen.ts";

/** After destroying a socket, its close event comes within a few event-loop turns. */
const destroyWaitMs = 100;

export interface ChunkserverListenerOptions {
  readonly host: string;
  readonly port: number;
  /** A fresh core for a new connection from `peerIp` (IPv4 as u32; 0 when not IPv4). */
  readonly createConnection: (peerIp: number) => ChunkserverConnection;
  readonly context: Omit<ChunkserverLinkContext, "onCsid">;
}

export interface ChunkserverListener {
  readonly host: string;
  readonly port: number;
  linkCount(): number;
  /** The link of a chunkserver on this listener (the newest, when it reconnected). */
  linkOf(csid: number): ChunkserverLink | undefined;
  /** Stops accepting, ends every link (each writes its last registry record), waits (bounded). */
  close(drainMs?: number): Promise<void>;
}

export async function listenForChunkservers(options: ChunkserverListenerOptions): Promise<ChunkserverListener> {
  const links = new Set<ChunkserverLink>();
  const byCsid = new Map<number, ChunkserverLink>();
  const context: ChunkserverLinkContext = {
    ...options.context,
    onCsid(link, csid) {
      const previous = byCsid.get(csid);
      byCsid.set(csid, link);
      if (previous !== undefined && previous !== link) previous.supersede();
    },
  };
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => accept(socket));

  function accept(socket: Socket): void {
    let connection: ChunkserverConnection;
    try {
      connection = options.createConnection(peerIpOf(socket.remoteAddress));
    } catch (err) {
      context.log.error("cannot create a chunkserver connection core; refusing the connection", { err });
      socket.destroy();
      return;
    }
    const link: ChunkserverLink = new ChunkserverLink(socket, connection, context, () => {
      links.delete(link);
      if (byCsid.get(link.csid) === link) byCsid.delete(link.csid);
    });
    links.add(link);
  }

  const ticker = setInterval(() => {
    const nowMs = context.nowMs();
    for (const link of links) link.tick(nowMs);
  }, limits.gatewayTickMs);

  server.on("error", (err) => context.log.error("chunkserver listener error", { err }));
  let port: number;
  try {
    port = await listenReusingPort(server, options.host, options.port);
  } catch (err) {
    clearInterval(ticker);
    throw err;
  }
  // Links that are gone may still have registry writes in flight; a stop waits for those too.
  const ending = new Set<ChunkserverLink>();
  const untilGone = async (deadlineMs: number): Promise<void> => {
    while (links.size > 0 && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  return {
    host: options.host,
    port,
    linkCount: () => links.size,
    linkOf: (csid) => byCsid.get(csid),
    async close(drainMs = limits.gatewayDrainMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      clearInterval(ticker);
      for (const link of links) {
        ending.add(link);
        link.end();
      }
      await untilGone(Date.now() + drainMs);
      // Stragglers are destroyed; their close events (which queue the last record) follow shortly.
      for (const link of links) link.destroy();
      await untilGone(Date.now() + destroyWaitMs);
      await Promise.race([
        Promise.all([...ending].map((link) => link.settled())),
        new Promise((resolve) => setTimeout(resolve, drainMs).unref()),
      ]);
      await closed;
    },
  };
}
