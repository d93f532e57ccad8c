/**
 * redis-server for this package's tests, on libs/testkit's startRedis (free loopback port,
 * cleanup at exit), with its data in a temp dir so it can be stopped and started again on the
 * same port and data: an outage, or a restart of the whole cluster.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type RedisHandle } from "@antler/testkit";

/** redis-server with AOF (as the launcher runs it) that can be restarted on the same port and data. */
export interface TestRedis {
  readonly url: string;
  restart(): Promise<void>;
  /** Stops the server but keeps its data, to simulate an outage; startAgain() ends it. */
  stopOnly(): Promise<void>;
  startAgain(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), "antler-io-redis-"));
  let handle: RedisHandle = await startRedis({ dir, appendOnly: true });
  // SIGTERM (handle.stop): redis-server flushes the AOF before it exits.
  const stopOnly = () => handle.stop();
  const startAgain = async () => {
    handle = await startRedis({ dir, port: handle.port, appendOnly: true });
  };
  return {
    url: handle.url,
    async restart() {
      await stopOnly();
      await startAgain();
    },
    stopOnly,
    startAgain,
    async stop() {
      await handle.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
