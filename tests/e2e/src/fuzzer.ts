// The fuzz client: a standalone script that fuzz.e2e.ts runs inside the cluster's namespace
// (through nsenter --net: the gateway's port is only reachable there). It opens many TCP
// connections to the client port and sends the seeded scenarios of fuzz-packets.ts, for a
// bounded time with a bounded number of connections open at once, then prints a JSON summary.
//
//   node src/fuzzer.ts --host 10.213.100.1 --port 9421 --seed 42 --duration-ms 12000

import { connect, type Socket } from "node:net";
import { parseArgs } from "node:util";
import { makeScenario, Prng, type Scenario } from "./fuzz-packets.ts";

const durationMsMax = 15_000;
const connectTimeoutMs = 1_000;
/** How long a connection keeps reading after its last chunk before it is closed. */
const lingerMs = 100;

interface Summary {
  seed: number;
  connections: number;
  refused: number;
  socketErrors: number;
  bytesSent: number;
  bytesReceived: number;
  scenarios: Record<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string", default: "9421" },
      seed: { type: "string" },
      "duration-ms": { type: "string", default: "12000" },
      concurrency: { type: "string", default: "8" },
    },
  });
  if (values.host === undefined || values.seed === undefined) throw new Error("--host and --seed are required");
  const host = values.host;
  const port = Number(values.port);
  const seed = Number(values.seed) >>> 0;
  const durationMs = Math.min(Number(values["duration-ms"]), durationMsMax);
  const concurrency = Math.max(1, Math.min(Number(values.concurrency), 64));
  const prng = new Prng(seed);
  const summary: Summary = { seed, connections: 0, refused: 0, socketErrors: 0, bytesSent: 0, bytesReceived: 0, scenarios: {} };
  const deadline = Date.now() + durationMs;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const scenario = makeScenario(prng);
      const pauseMs = prng.below(5);
      summary.scenarios[scenario.name] = (summary.scenarios[scenario.name] ?? 0) + 1;
      await runConnection(host, port, scenario, pauseMs, summary);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function runConnection(host: string, port: number, scenario: Scenario, pauseMs: number, summary: Summary): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const socket: Socket = connect({ host, port });
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      if (scenario.reset && connected) socket.resetAndDestroy();
      else socket.destroy();
      resolve();
    };
    const connectTimer = setTimeout(() => {
      if (!connected) summary.refused++;
      finish();
    }, connectTimeoutMs);
    socket.on("data", (data: Buffer) => (summary.bytesReceived += data.length));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected && error.code === "ECONNREFUSED") summary.refused++;
      else summary.socketErrors++;
      finish();
    });
    socket.on("close", finish);
    socket.on("connect", async () => {
      connected = true;
      clearTimeout(connectTimer);
      summary.connections++;
      for (const chunk of scenario.chunks) {
        if (settled) return;
        socket.write(chunk);
        summary.bytesSent += chunk.length;
        if (pauseMs > 0) await new Promise((wait) => setTimeout(wait, pauseMs));
      }
      setTimeout(finish, lingerMs);
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`fuzzer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
