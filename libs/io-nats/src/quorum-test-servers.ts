/**
 * Test support: three independent nats-servers (JetStream, file store, fsync always, loopback) with
 * one connection each, as a quorum journal uses them; tests kill (SIGKILL) and restart them by the
 * PID testkit started. Not exported from the package.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";

export class Trio {
  readonly dirs: string[] = [];
  readonly servers: (NatsServerHandle | undefined)[] = [];
  readonly ports: number[] = [];
  readonly connections: NatsConnection[] = [];

  async start(root: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const dir = join(root, `s${i}`);
      const server = await startNatsServer({ dir, syncAlways: true });
      this.dirs.push(dir);
      this.servers.push(server);
      this.ports.push(server.port);
      this.connections.push(await connectNats(server.url, `quorum-test-${i}`));
    }
  }

  async kill(i: number): Promise<void> {
    const server = this.servers[i];
    if (server === undefined) return;
    this.servers[i] = undefined;
    process.kill(server.pid, "SIGKILL");
    await server.stop();
  }

  async restart(i: number): Promise<void> {
    assert.equal(this.servers[i], undefined);
    this.servers[i] = await startNatsServer({ dir: this.dirs[i]!, port: this.ports[i]!, syncAlways: true });
  }

  async stop(): Promise<void> {
    for (const nc of this.connections) await nc.close().catch(() => {});
    for (const server of this.servers) await server?.stop();
  }
}

