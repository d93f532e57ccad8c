/**
 * The launcher end to end, through the real `antler` CLI, real nats-server, redis-server and
 * mfschunkserver, in network namespaces it creates. Services are stand-ins written to a temporary
 * directory (ANTLER_SERVICES_DIR), so the launcher is tested without the real services: they print
 * `READY <json>`, and the gateway stand-in listens on the client and chunkserver ports.
 *
 * Covered: `up --detach` (infra only, and a full cluster with a chunkserver), readiness, status
 * (text and JSON), restart of a killed child, refusal of a second `up`, a service that fails to
 * start (clear error, nothing left behind), `down` (everything gone, namespace removed,
 * idempotent) and resume on the same DIR (same namespace name and address, same NATS store).
 *
 * Skipped, with the reason, unless run as root with nats-server, redis-server, mfschunkserver,
 * ip and nsenter installed. Every DIR is brought down and every namespace removed in `after`,
 * also when a test fails.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { executablesFromEnvironment, findExecutable } from "./children.ts";
import { netnsNameFor } from "./config.ts";
import { LauncherError, startCluster, stopCluster } from "./control.ts";
import { isSameProcess, sleep } from "./processes.ts";
import { pingRedis } from "./redis.ts";
import type { StatusView } from "./status.ts";
import { readState } from "./state.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "cli.ts");

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const executables = executablesFromEnvironment(process.env);
  const programs = [
    executables.natsServer, executables.redisServer, executables.chunkserver, "ip", "nsenter",
  ];
  for (const program of programs) {
    if (findExecutable(program) === undefined) return `${program} is not installed (npm run setup)`;
  }
  return false;
}

const scratch = mkdtempSync(join(tmpdir(), "antler-launcher-it-"));
const standins = join(scratch, "services");
const dataDirs: string[] = [];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function antler(
  args: string[],
  environment: Record<string, string> = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      encoding: "utf8",
      env: { ...process.env, ANTLER_SERVICES_DIR: standins, ...environment },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? "",
    };
  }
}

function newDataDir(name: string): string {
  const dir = join(scratch, name);
  dataDirs.push(dir);
  return dir;
}

async function statusOf(dir: string): Promise<StatusView> {
  const result = await antler(["status", "--data", dir, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StatusView;
}

function netnsOf(view: StatusView): string {
  assert.ok(view.network !== null && view.network.mode === "netns", "cluster runs in a namespace");
  return view.network.netns;
}

/** Runs a command inside the namespace (the cluster's 127.0.0.1 is only reachable there). */
function inNetns(netns: string, command: string[]): string {
  const argv = [`--net=/run/netns/${netns}`, "--", ...command];
  return execFileSync("nsenter", argv, { encoding: "utf8", timeout: 10_000 });
}

/** Sends one NATS request to 127.0.0.1:4222 and prints the reply payload (run inside a netns). */
const natsRequestScript = String.raw`
const [subject, body] = process.argv.slice(1);
const socket = require("node:net").connect(4222, "127.0.0.1");
let text = "";
socket.setEncoding("utf8");
socket.on("data", (chunk) => {
  text += chunk;
  const match = /MSG _reply 1 (\d+)\r\n/.exec(text);
  if (match === null) return;
  const start = match.index + match[0].length;
  if (text.length < start + Number(match[1])) return;
  process.stdout.write(text.slice(start, start + Number(match[1])));
  process.exit(0);
});
const publish = "PUB " + subject + " _reply " + Buffer.byteLength(body) + "\r\n" + body + "\r\n";
socket.write("CONNECT {}\r\nSUB _reply 1\r\n" + publish);
setTimeout(() => { process.stdout.write("timeout: " + text); process.exit(1); }, 5000);
`;

/** One NATS request to the cluster's nats-server from inside its namespace; the reply payload. */
function natsRequest(netns: string, subject: string, payload: string): string {
  const node = [process.execPath, "--input-type=commonjs", "-e", natsRequestScript];
  return inNetns(netns, [...node, subject, payload]);
}

/** Stand-in services: they print READY; the gateway also listens on both of its ports. */
const standinSources = {
  router: String.raw`
console.log("READY " + JSON.stringify({ service: "router" }));
setInterval(() => {}, 1_000);
`,
  shard: String.raw`
if (process.env.STANDIN_FAIL_SHARD === process.env.ANTLER_SHARD_ID) {
  console.error("stand-in shard: cannot open its log");
  process.exit(3);
}
console.log("READY " + JSON.stringify({ shard: Number(process.env.ANTLER_SHARD_ID) }));
setInterval(() => {}, 1_000);
`,
  gateway: String.raw`
import { createServer } from "node:net";
const host = process.env.ANTLER_CLIENT_HOST;
const hold = (socket) => { socket.on("error", () => {}); socket.on("data", () => {}); };
const client = Number(process.env.ANTLER_CLIENT_PORT);
// reusePort, as the real gateway: the HA profile runs two on the same ports.
createServer(hold).listen({ port: client, host, reusePort: true });
createServer(hold).listen({ port: Number(process.env.ANTLER_CS_PORT), host, reusePort: true }, () => {
  console.log("READY " + JSON.stringify({ client: host + ":" + client }));
});
`,
};

function writeStandins(): void {
  for (const [service, source] of Object.entries(standinSources)) {
    const dir = join(standins, service, "server", "src");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "main.ts"), source);
  }
}

after(async () => {
  for (const dir of dataDirs) {
    if (!existsSync(dir)) continue;
    await antler(["down", "--data", dir]);
    const state = readState(join(dir, "state.json"));
    for (const record of state?.processes ?? []) {
      if (record.pid !== null && isSameProcess(record.pid, record.startTicks)) {
        process.kill(record.pid, "SIGKILL");
      }
    }
    if (state?.netns?.owned === true && existsSync(`/run/netns/${state.netns.name}`)) {
      execFileSync("ip", ["netns", "delete", state.netns.name]);
    }
  }
  rmSync(scratch, { recursive: true, force: true });
});

const skip = skipReason();
if (skip !== false) process.stdout.write(`launcher integration tests skipped: ${skip}\n`);

describe("antler launcher (integration)", { skip }, () => {
  test("infra only: up, status, restart, refusal of a second up, down, resume", async () => {
    const dir = newDataDir("infra");
    const started = await antler(["up", "--data", dir, "--only-infra", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /cluster serving/);

    let view = await statusOf(dir);
    assert.equal(view.status, "running");
    assert.deepEqual(view.processes.map((entry) => [entry.name, entry.role, entry.alive]), [
      ["nats", "nats", true], ["redis", "redis", true],
    ]);
    const netns = netnsOf(view);
    const address = view.network?.address;
    assert.ok(existsSync(`/run/netns/${netns}`));
    const addresses = inNetns(netns, ["ip", "-4", "-o", "addr", "show", "dev", "lo"]);
    assert.match(addresses, new RegExp(`inet ${address}/32`));
    assert.equal(inNetns(netns, ["redis-cli", "-p", "6379", "ping"]).trim(), "PONG");
    assert.match((await antler(["status", "--data", dir])).stdout, /^nats +nats +\d+ +yes/m);

    // A child that dies is restarted by the supervisor, with a new PID, and counted.
    const nats = view.processes.find((entry) => entry.name === "nats");
    assert.ok(nats?.pid !== null && nats?.pid !== undefined);
    process.kill(nats.pid, "SIGKILL");
    for (let attempt = 0; attempt < 100; attempt++) {
      view = await statusOf(dir);
      const restarted = view.processes.find((entry) => entry.name === "nats");
      if (restarted?.alive === true && restarted.restarts === 1) break;
      await sleep(100);
    }
    const restarted = view.processes.find((entry) => entry.name === "nats");
    assert.equal(restarted?.restarts, 1);
    assert.equal(restarted?.alive, true);
    assert.notEqual(restarted?.pid, nats.pid);

    // A file stream with one message, to find again after down and up.
    const stream = JSON.stringify({ name: "PERSIST", subjects: ["persist.>"], storage: "file" });
    const created = natsRequest(netns, "$JS.API.STREAM.CREATE.PERSIST", stream);
    assert.match(created, /stream_create_response/);
    assert.match(natsRequest(netns, "persist.one", "hello"), /"seq":1/);

    const second = await antler(["up", "--data", dir, "--only-infra", "--detach"]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already running/);

    const recorded = view.processes.map(({ pid, startTicks }) => ({ pid, startTicks }));
    const stopped = await antler(["down", "--data", dir]);
    assert.equal(stopped.code, 0, stopped.stderr);
    for (const entry of recorded) assert.equal(isSameProcess(entry.pid, entry.startTicks), false);
    assert.equal(existsSync(`/run/netns/${netns}`), false, "down removes the namespace");
    view = await statusOf(dir);
    assert.equal(view.status, "stopped");
    assert.ok(view.processes.every((entry) => !entry.alive));
    assert.equal((await antler(["down", "--data", dir])).code, 0, "down is idempotent");

    // Resume: same namespace name and address, and the stream written before is still there.
    const resumed = await antler(["up", "--data", dir, "--only-infra", "--detach"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    view = await statusOf(dir);
    assert.equal(netnsOf(view), netns);
    assert.equal(view.network?.address, address);
    const natsLog = readFileSync(join(dir, "logs", "nats.log"), "utf8");
    assert.match(natsLog, /Store Directory: ".*\/nats\/jetstream"/);
    const info = natsRequest(netns, "$JS.API.STREAM.INFO.PERSIST", "");
    assert.match(info, /"messages":1[,}]/, info);

    // A supervisor killed with SIGKILL leaves its children: status says so, down kills them.
    const supervisorPid = readState(join(dir, "state.json"))?.supervisor.pid;
    assert.ok(supervisorPid !== undefined);
    process.kill(supervisorPid, "SIGKILL");
    await sleep(200);
    view = await statusOf(dir);
    assert.equal(view.status, "orphaned");
    const orphans = view.processes.map(({ pid, startTicks }) => ({ pid, startTicks }));
    assert.equal((await antler(["down", "--data", dir])).code, 0);
    for (const entry of orphans) assert.equal(isSameProcess(entry.pid, entry.startTicks), false);
    assert.equal(existsSync(`/run/netns/${netns}`), false);
  });

  test("full cluster with stand-ins and a chunkserver; a failing service stops it", async () => {
    writeStandins();
    const dir = newDataDir("full");
    const flags = ["--detach", "--shards", "2", "--chunkservers", "1"];
    const started = await antler(["up", "--data", dir, ...flags]);
    assert.equal(started.code, 0, started.stderr);
    const mount = new RegExp("mount: +nsenter --net=/run/netns/antler-[0-9a-f]{8} " +
      "mfsmount /mnt/antler -H 10\\.213\\.\\d+\\.1 -P 9421");
    assert.match(started.stdout, mount);
    const view = await statusOf(dir);
    assert.equal(view.status, "running");
    assert.deepEqual(view.processes.map((entry) => [entry.name, entry.alive]), [
      ["nats", true], ["redis", true], ["router", true], ["shard-0", true], ["shard-1", true],
      ["gateway", true], ["cs0", true],
    ]);
    const shards = view.processes.filter((entry) => entry.role === "shard");
    assert.deepEqual(shards.map((entry) => [entry.shardId, entry.leader, entry.ready]),
      [[0, true, { shard: 0 }], [1, true, { shard: 1 }]]);
    const netns = netnsOf(view);
    // status ran itself inside the namespace and asked every shard (stand-ins do not answer).
    assert.equal(view.shardsError, undefined);
    assert.deepEqual(view.shards?.map((row) => [row.shardId, row.stats]), [[0, null], [1, null]]);
    assert.match((await antler(["status", "--data", dir])).stdout, /^1 +- +- +- +- +- +- +- +-$/m);
    // fsck reaches the cluster's NATS too; stand-ins keep no shard map: it cannot check (exit 3).
    const checked = await antler(["fsck", "--data", dir]);
    assert.equal(checked.code, 3, checked.stderr);
    assert.match(checked.stderr, /^antler: fsck: the cluster has no shard map yet/m);
    assert.equal((await antler(["down", "--data", dir])).code, 0);
    assert.equal(existsSync(`/run/netns/${netns}`), false);

    // shard-1 now fails at start: up reports it and leaves nothing running.
    const failed = await antler(["up", "--data", dir, "--detach"], { STANDIN_FAIL_SHARD: "1" });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /service shard-1 exited with code 3 before it was ready/);
    assert.match(failed.stderr, /stand-in shard: cannot open its log/);
    const after = await statusOf(dir);
    assert.equal(after.status, "failed");
    assert.ok(after.processes.every((entry) => !entry.alive), JSON.stringify(after.processes));
    assert.equal(existsSync(`/run/netns/${netns}`), false);
  });

  test("ha profile: a 3-node NATS cluster, 2 routers, 3 replicas per shard, 2 gateways", {
    timeout: 180_000,
  }, async () => {
    writeStandins();
    const dir = newDataDir("ha");
    const started = await antler(["up", "--data", dir, "--profile", "ha", "--chunkservers", "1",
      "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    let view = await statusOf(dir);
    assert.equal(view.status, "running");
    assert.deepEqual(view.processes.map((entry) => [entry.name, entry.role, entry.alive]), [
      ["nats-0", "nats", true], ["nats-1", "nats", true], ["nats-2", "nats", true],
      ["journal-0", "nats", true], ["journal-1", "nats", true], ["journal-2", "nats", true],
      ["redis", "redis", true], ["router-0", "router", true], ["router-1", "router", true],
      ["shard-0-r0", "shard", true], ["shard-0-r1", "shard", true], ["shard-0-r2", "shard", true],
      ["gateway-0", "gateway", true], ["gateway-1", "gateway", true], ["cs0", "chunkserver", true],
    ]);
    const netns = netnsOf(view);
    // One JetStream cluster: the cluster bucket exists with a replica on every node.
    const bucket = natsRequest(netns, "$JS.API.STREAM.INFO.KV_antler-cluster", "");
    assert.match(bucket, /"num_replicas":3/, bucket);
    assert.match(bucket, /"leader":"nats-\d"/, bucket);
    for (const node of ["nats-0", "nats-1", "nats-2"]) {
      const config = readFileSync(join(dir, "nats", node, "nats-server.conf"), "utf8");
      assert.match(config, /sync_interval: always/);
      assert.match(readFileSync(join(dir, "logs", `${node}.log`), "utf8"), /Store Directory: ".*\/nats\/nats-\d\/jetstream"/);
    }
    const shardEnvironment = readFileSync(`/proc/${view.processes.find((entry) => entry.name === "shard-0-r1")?.pid}/environ`, "utf8").split("\0");
    for (const entry of ["ANTLER_REPLICA_ID=1", "ANTLER_SHARD_REPLICAS=3", "ANTLER_LOG_REPLICAS=3", "ANTLER_LOG_MODE=quorum",
      "ANTLER_NATS_JOURNAL_URLS=nats://127.0.0.1:4232,nats://127.0.0.1:4233,nats://127.0.0.1:4234",
      "ANTLER_NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"]) {
      assert.ok(shardEnvironment.includes(entry), `shard-0-r1 lacks ${entry}`);
    }

    // The lease and transaction buckets exist before any service opens them, replicated on
    // every node, read from the stream leader only, one revision per key.
    for (const name of ["antler-leases", "antler-txn"]) {
      const info = natsRequest(netns, `$JS.API.STREAM.INFO.KV_${name}`, "");
      assert.match(info, /"num_replicas":3/, info);
      assert.match(info, /"max_msgs_per_subject":1\b/, info);
      assert.doesNotMatch(info, /"allow_direct":true/, info);
    }
    // The shards' lease names replica 1 (as a real shard would write it): status shows it.
    const lease = JSON.stringify({ holder: "s0.r1/standin", epoch: 1, renewals: 0 });
    assert.match(natsRequest(netns, "$KV.antler-leases.shard.0", lease), /"seq":1/);
    const leadersOf = (current: StatusView): Array<[string, boolean | undefined]> => current.processes
      .filter((entry) => entry.role === "shard").map((entry) => [entry.name, entry.leader]);
    for (let attempt = 0; attempt < 50; attempt++) {
      view = await statusOf(dir);
      if (leadersOf(view)[1]?.[1] === true) break;
      await sleep(100);
    }
    assert.deepEqual(leadersOf(view),
      [["shard-0-r0", false], ["shard-0-r1", true], ["shard-0-r2", false]]);
    assert.match((await antler(["status", "--data", dir])).stdout, /^shard-0-r1 +shard +\d+ +yes +0 +yes/m);

    // A NATS node that dies is restarted and rejoins; the cluster keeps answering meanwhile.
    const node = view.processes.find((entry) => entry.name === "nats-1");
    assert.ok(node?.pid !== null && node?.pid !== undefined);
    process.kill(node.pid, "SIGKILL");
    for (let attempt = 0; attempt < 100; attempt++) {
      view = await statusOf(dir);
      const restarted = view.processes.find((entry) => entry.name === "nats-1");
      if (restarted?.alive === true && restarted.status === "running") break;
      await sleep(100);
    }
    // "running" again only once it answers: the supervisor probed it after the restart.
    const rejoined = view.processes.find((entry) => entry.name === "nats-1");
    assert.deepEqual([rejoined?.alive, rejoined?.status, rejoined?.restarts], [true, "running", 1]);
    assert.match(readFileSync(join(dir, "logs", "supervisor.log"), "utf8"), /nats-1 is ready again/);

    const recorded = view.processes.map(({ pid, startTicks }) => ({ pid, startTicks }));
    assert.equal((await antler(["down", "--data", dir])).code, 0);
    for (const entry of recorded) assert.equal(isSameProcess(entry.pid, entry.startTicks), false);
    assert.equal(existsSync(`/run/netns/${netns}`), false);

    // Resume: the three stores come back as one cluster with what was written before.
    const resumed = await antler(["up", "--data", dir, "--detach"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    view = await statusOf(dir);
    assert.equal(view.processes.length, 15);
    assert.ok(view.processes.every((entry) => entry.alive), JSON.stringify(view.processes));
    const kept = natsRequest(netns, "$JS.API.STREAM.INFO.KV_antler-leases", "");
    assert.match(kept, /"messages":1[,}]/, kept);
    assert.match(kept, /"num_replicas":3/, kept);
    assert.equal((await antler(["down", "--data", dir])).code, 0);
  });

  test("--host runs in this namespace on free loopback ports (via control.ts)", async () => {
    const dir = newDataDir("host");
    await assert.rejects(
      startCluster({ dataDir: dir, host: "127.0.0.1", chunkservers: 1 }),
      (error: unknown) => error instanceof LauncherError && error.exitCode === 2 &&
        /refuses a master on 127\.x/.test(error.message),
    );
    const view = await startCluster({ dataDir: dir, host: "127.0.0.1", onlyInfra: true });
    assert.equal(view.status, "running");
    assert.deepEqual(view.network, { mode: "host", address: "127.0.0.1" });
    assert.equal(view.mountCommand, "mfsmount /mnt/antler -H 127.0.0.1 -P 9421");
    const redis = view.processes.find((entry) => entry.role === "redis");
    const port = Number(/:(\d+)$/.exec(redis?.addresses[0] ?? "")?.[1]);
    assert.equal(await pingRedis("127.0.0.1", port), true, "redis answers in this namespace");
    await stopCluster(dir);
    assert.equal(await pingRedis("127.0.0.1", port), false);
    const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    assert.equal(namespaces.includes(netnsNameFor(dir)), false);
  });

  test("bad arguments exit with status 2 and one line of explanation", async () => {
    const result = await antler(["up", "--data", join(scratch, "never"), "--shards", "many"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^antler: --shards must be a whole number, not 'many'\n/);
    const unknown = await antler(["launch"]);
    assert.equal(unknown.code, 2);
  });
});
