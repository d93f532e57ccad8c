/**
 * Binding a listener the way every gateway port needs it: `reusePort` so several gateway
 * processes can share one address (Node >= 22.12), a bind error rejects instead of being emitted
 * later, and the bound port is returned (port 0 in tests picks a free one).
 */
import type { Server } from "node:net";

export async function listenReusingPort(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, reusePort: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return address !== null && typeof address === "object" ? address.port : port;
}
