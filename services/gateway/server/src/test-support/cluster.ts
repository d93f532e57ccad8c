/**
 * Everything a gateway integration test needs, real where it matters: nats-server and
 * redis-server (temp dirs, random loopback ports), the gateway itself as a child process started
 * exactly as the launcher starts it (env vars, `READY {json}` on stdout), and a stand-in for the
 * router + shard: one NATS subscriber on metaRequestSubject that answers a few commands from a
 * fixed tiny namespace (root 1 containing file "f" = inode 2) with encodeMessage(result); the
 * name "slow" is answered late, to have a request in flight on demand.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NodeType, Status, decodeMessage, encodeMessage, metaRequestSubject, routerQueue, type Attr, type MetaRequest, type Result } from "@antler/ops";
import { connectNats, serve, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, startRedis, type ManagedServer } from "@antler/testkit";

export const mainPath = fileURLToPath(new URL("../main.ts", import.meta.url));

export const fileInode = 2;
export const fileName = "f";
/** LOOKUPs of this name are answered (ENOENT) only after slowReplyMs: a request in flight. */
export const slowName = "slow";
export const slowReplyMs = 300;

const dirAttr: Attr = { type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, atime: 1, mtime: 1, ctime: 1, nlink: 2, length: 1, rdev: 0, flags: 0x08, winattr: 0 };
const fileAttr: Attr = { ...dirAttr, type: NodeType.FILE, mode: 0o644, nlink: 1, length: 3 };

/** What the stand-in shard saw: one entry per request, with the routing headers. */
export interface SeenRequest {
  readonly request: MetaRequest;
  readonly headers: ReadonlyMap<string, string>;
}

export function answer(request: MetaRequest): Result {
  const { cmd, ctx } = request;
  switch (cmd.kind) {
    case "lookup":
      if (cmd.parent === ctx.rootInode && cmd.name === fileName) return { status: 0, inode: fileInode, attr: fileAttr, lflags: 0xff };
      return { status: Status.ENOENT };
    case "getattr":
      if (cmd.inode === ctx.rootInode) return { status: 0, attr: dirAttr };
      if (cmd.inode === fileInode) return { status: 0, attr: fileAttr };
      return { status: Status.ENOENT };
    case "statfs":
      return { status: 0, totalSpace: 0, availSpace: 0, freeSpace: 0, trashSpace: 0, sustainedSpace: 0, inodes: 2 };
    default:
      return { status: Status.ENOTSUP };
  }
}

export interface GatewayProcess {
  readonly port: number;
  readonly ready: Record<string, unknown>;
  /** Log lines (JSON) the gateway wrote on stderr so far. */
  readonly logs: string[];
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A server that can be restarted on the same port with the same data (a cluster restart). */
export interface RestartableServer {
  readonly url: string;
  restart(): Promise<void>;
  /** An outage: stopped, data kept, until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface TestCluster {
  readonly nats: RestartableServer;
  readonly redis: RestartableServer;
  readonly seen: SeenRequest[];
  /** The test's own NATS connection (also serves the stand-in shard). */
  readonly nc: NatsConnection;
  startGateway(options?: { port?: number; gatewayId?: string; env?: Record<string, string> }): Promise<GatewayProcess>;
  stop(): Promise<void>;
}

async function restartable<H extends ManagedServer & { readonly url: string }>(
  start: (port: number | undefined) => Promise<H>,
): Promise<RestartableServer & { stop(): Promise<void> }> {
  let handle = await start(undefined);
  const pause = () => handle.stop();
  const resume = async () => {
    handle = await start(handle.port);
  };
  return {
    url: handle.url,
    async restart() {
      await pause();
      await resume();
    },
    pause,
    resume,
    stop: () => handle.stop(),
  };
}

export async function startTestCluster(): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), "antler-gateway-test-"));
  // Redis with AOF, as the launcher runs it: sessions must survive its restart.
  const redis = await restartable((port) => startRedis({ dir: join(dir, "redis"), appendOnly: true, ...(port === undefined ? {} : { port }) }));
  const nats = await restartable((port) => startNatsServer({ dir: join(dir, "nats"), ...(port === undefined ? {} : { port }) }));
  const nc = await connectNats(nats.url, "stand-in shard");
  const seen: SeenRequest[] = [];
  serve(nc, metaRequestSubject, routerQueue, (msg) => {
    const request = decodeMessage(msg.data) as MetaRequest;
    const headers = new Map<string, string>();
    for (const key of msg.headers?.keys() ?? []) headers.set(key, msg.headers!.get(key));
    seen.push({ request, headers });
    const reply = { data: encodeMessage(answer(request)) };
    if ((request.cmd.kind === "lookup" || request.cmd.kind === "mkdir") && request.cmd.name === slowName) {
      return new Promise((resolve) => setTimeout(() => resolve(reply), slowReplyMs));
    }
    return reply;
  });
  const gateways = new Set<GatewayProcess>();

  return {
    nats,
    redis,
    seen,
    nc,
    async startGateway(options = {}) {
      const gateway = await startGatewayProcess({
        ANTLER_NATS_URL: nats.url,
        ANTLER_REDIS_URL: redis.url,
        ANTLER_CLIENT_HOST: "127.0.0.1",
        ANTLER_CLIENT_PORT: String(options.port ?? 0),
        // A free port: the default 9420 on the host would be shared (SO_REUSEPORT) with every other test gateway.
        ANTLER_CS_PORT: "0",
        ANTLER_GATEWAY_ID: options.gatewayId ?? "gw-test",
        ANTLER_LOG_LEVEL: "info",
        ...options.env,
      });
      gateways.add(gateway);
      return gateway;
    },
    async stop() {
      for (const gateway of gateways) await gateway.stop("SIGKILL");
      await nc.close().catch(() => {});
      await redis.stop();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(process.execPath, [mainPath], {
    // NODE_OPTIONS passes through so a debugger or loader given to the test reaches the gateway.
    env: { PATH: process.env.PATH ?? "", ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  let stderrRest = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    const lines = (stderrRest + chunk).split("\n");
    stderrRest = lines.pop() ?? "";
    logs.push(...lines);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway not READY within 15 s:\n${logs.join("\n")}`));
    }, 15_000);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      const match = /^READY (.*)$/m.exec(stdout);
      if (match !== null) {
        clearTimeout(timer);
        resolve(JSON.parse(match[1]!) as Record<string, unknown>);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before READY:\n${logs.join("\n")}${stderrRest}`));
    });
  });
  return {
    port: Number(ready.clientPort),
    ready,
    logs,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await exited;
    },
  };
}
