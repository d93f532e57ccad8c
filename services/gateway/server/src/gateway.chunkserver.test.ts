/**
 * A real `mfschunkserver` 3.0.117 against the gateway, exactly as against mfsmaster (protocol §4):
 * it registers (lock-step BEGIN/ACK/END), shows up in the Redis registry with its data port and,
 * after its disk scan, a non-zero total space; it stays connected for longer than its 10 s timeout
 * (so our keepalives and its NOPs work both ways), its log shows no complaint about the master,
 * a graceful stop (rver 63) leaves it in maintenance, and after a restart it keeps its csid. When mfsmount and /dev/fuse are there, a
 * real mount's statfs (what `df` shows) reports the chunkserver's total space. Chunk operations a
 * shard leader asks over NATS (test-support/chunk-op-probe-main.ts) are carried out by the real
 * chunkserver and answered with its statuses.
 *
 * Chunkservers refuse a master on 127.x, so everything runs in a network namespace created here
 * (`antler-cs-<pid>`, 10.213.60.1/32 on its lo): nats-server, redis-server, the gateway process and
 * the chunkserver, plus the stand-in shard (test-support/stand-in-shard-main.ts) for the mount. The
 * registry is read with redis-cli inside the namespace; the mount, made with `nsenter --net`, is
 * visible to this process. Needs root and the binaries; skipped otherwise. Every
 * process is stopped by its PID and the namespace deleted, also on failure.
 */
import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { base64Encode, encodeMessage, Status, type ChunkOpRequest } from "@antler/ops";
import { makeChunkId } from "@antler/slots";
import { createNetns, findExecutable, isRoot, natsServerBinary, redisServerBinary, type Netns } from "@antler/testkit";
import { mainPath } from "./test-support/cluster.ts";

const chunkserverBinary = findExecutable("mfschunkserver");
const mfsmount = existsSync("/dev/fuse") ? findExecutable("mfsmount") : undefined;
const standInShardPath = fileURLToPath(new URL("./test-support/stand-in-shard-main.ts", import.meta.url));
const chunkOpProbePath = fileURLToPath(new URL("./test-support/chunk-op-probe-main.ts", import.meta.url));
const run = promisify(execFile);
/** mfsmount reports statfs in blocks of 64 KiB (MFSBLOCKSIZE). */
const mountBlockBytes = 65_536n;
const redisCli = findExecutable("redis-cli");
const natsBinary = natsServerBinary();
const redisBinary = redisServerBinary();
const skip = !isRoot()
  ? "needs root (network namespace, chunkserver)"
  : chunkserverBinary === undefined
    ? "mfschunkserver not installed"
    : natsBinary === undefined || redisBinary === undefined || redisCli === undefined
      ? "nats-server, redis-server or redis-cli not installed"
      : false;

const address = "10.213.60.1";
const natsPort = 4222;
const redisPort = 6379;
const csDataPort = 9422;
/** Longer than the chunkserver's 10 s timeout: without working keepalives the link would drop. */
const stayConnectedMs = 12_500;

/** A child in the namespace with its output collected line by line. */
interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<void>;
}

function start(netns: Netns, name: string, command: string, args: string[], env?: Record<string, string>): Child {
  const child = netns.spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env }) });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    });
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  return { name, process: child, lines, exited };
}

async function isMounted(dir: string): Promise<boolean> {
  return (await readFile("/proc/mounts", "utf8")).split("\n").some((line) => line.split(" ")[1] === dir);
}

async function stop(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGTERM");
  const killer = setTimeout(() => child.process.kill("SIGKILL"), 5_000);
  await child.exited;
  clearTimeout(killer);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, context: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The registry hash of csid `csid`, read inside the namespace. */
async function registryRecord(netns: Netns, csid: number): Promise<Record<string, string>> {
  const { stdout } = await netns.exec(redisCli!, ["-h", "127.0.0.1", "-p", String(redisPort), "--raw", "HGETALL", `antler:cs:${csid}`], { timeoutMs: 5_000 });
  const lines = stdout.split("\n").filter((line) => line !== "");
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) record[lines[i]!] = lines[i + 1]!;
  return record;
}

test("a real mfschunkserver registers with the gateway, stays connected and carries out chunk operations", { skip, timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "antler-gateway-cs-"));
  const children: Child[] = [];
  const mountPoint = join(dir, "mnt");
  let netns: Netns | undefined;
  const logsOf = () => children.map((c) => `--- ${c.name}\n${c.lines.slice(-40).join("\n")}`).join("\n");
  try {
    netns = await createNetns(`antler-cs-${process.pid}`, address);
    const ns = netns;

    const nats = start(ns, "nats-server", natsBinary!, ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(dir, "nats")]);
    children.push(nats);
    await mkdir(join(dir, "redis"));
    const redis = start(ns, "redis-server", redisBinary!, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", join(dir, "redis")]);
    children.push(redis);
    await waitFor("nats-server ready", 20_000, () => (nats.lines.some((l) => l.includes("Server is ready")) ? true : undefined), logsOf);
    await waitFor("redis-server ready", 20_000, () => (redis.lines.some((l) => l.includes("Ready to accept connections")) ? true : undefined), logsOf);

    const gateway = start(ns, "gateway", process.execPath, [mainPath], {
      PATH: process.env.PATH ?? "",
      ANTLER_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      ANTLER_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      ANTLER_CLIENT_HOST: address,
      ANTLER_GATEWAY_ID: "gw-cs-test",
      ANTLER_LOG_LEVEL: "info",
    });
    children.push(gateway);
    const ready = await waitFor("gateway READY", 20_000, () => {
      const line = gateway.lines.find((l) => l.startsWith("READY "));
      return line === undefined ? undefined : (JSON.parse(line.slice(6)) as Record<string, unknown>);
    }, logsOf);
    assert.equal(ready.chunkserverPort, 9420, "READY names the chunkserver port");

    /** A chunkserver's data directory and configuration; returns the configuration file. */
    const configureChunkserver = async (name: string, dataPort: number): Promise<string> => {
      const csDir = join(dir, name);
      await mkdir(join(csDir, "hdd"), { recursive: true });
      await writeFile(join(csDir, "mfshdd.cfg"), `${join(csDir, "hdd")}/\n`);
      await writeFile(
        join(csDir, "mfschunkserver.cfg"),
        [
          "WORKING_USER = root",
          "WORKING_GROUP = root",
          `SYSLOG_IDENT = antler-${name}-test-${process.pid}`,
          `DATA_PATH = ${csDir}`,
          `HDD_CONF_FILENAME = ${join(csDir, "mfshdd.cfg")}`,
          "HDD_TEST_FREQ = 0",
          `MASTER_HOST = ${address}`,
          "MASTER_PORT = 9420",
          `BIND_HOST = ${address}`,
          `CSSERV_LISTEN_HOST = ${address}`,
          `CSSERV_LISTEN_PORT = ${dataPort}`,
          "",
        ].join("\n"),
      );
      return join(csDir, "mfschunkserver.cfg");
    };
    const csConfig = await configureChunkserver("cs", csDataPort);
    const chunkserver = start(ns, "mfschunkserver", chunkserverBinary!, ["-f", "-c", csConfig, "start"]);
    children.push(chunkserver);

    // A fresh cluster hands out csid 1. Registered, with its data port, and space once the scan is done.
    const registered = await waitFor("chunkserver registered with space", 30_000, async () => {
      const record = await registryRecord(ns, 1);
      return record.state === "registered" && BigInt(record.total ?? "0") > 0n ? record : undefined;
    }, logsOf);
    assert.equal(registered.address, `${address}:${csDataPort}`);
    assert.equal(registered.port, String(csDataPort));
    assert.equal(registered.version, String(0x000300ea));
    assert.equal(registered.gateway, "gw-cs-test");
    assert.ok(BigInt(registered.used ?? "0") <= BigInt(registered.total ?? "0"));

    if (mfsmount !== undefined) {
      // STATFS end to end: the shard says 0 bytes; the gateway fills in the chunkservers' space.
      const shard = start(ns, "stand-in shard", process.execPath, [standInShardPath], { PATH: process.env.PATH ?? "", ANTLER_NATS_URL: `nats://127.0.0.1:${natsPort}` });
      children.push(shard);
      await waitFor("stand-in shard READY", 20_000, () => (shard.lines.includes("READY") ? true : undefined), logsOf);
      await mkdir(mountPoint);
      children.push(start(ns, "mfsmount", mfsmount, ["-f", mountPoint, "-H", address, "-P", "9421"]));
      await waitFor("mounted", 20_000, async () => ((await isMounted(mountPoint)) ? true : undefined), logsOf);
      const total = BigInt((await registryRecord(ns, 1)).total ?? "0");
      const expectedBytes = (total / mountBlockBytes) * mountBlockBytes;
      // The gateway serves STATFS from a sum it re-reads every chunkserverSpaceCacheMs, so a mount
      // made right after the chunkserver's first space report may see the previous sum once.
      const stats = await waitFor("df shows the chunkserver's total space", 10_000, async () => {
        const seen = await statfs(mountPoint, { bigint: true });
        return seen.blocks * seen.bsize === expectedBytes ? seen : undefined;
      }, logsOf);
      assert.ok(stats.bavail > 0n && stats.bavail <= stats.blocks);
    }

    await new Promise((resolve) => setTimeout(resolve, stayConnectedMs));
    assert.equal(chunkserver.process.exitCode, null, `the chunkserver is still running\n${logsOf()}`);
    const connects = chunkserver.lines.filter((l) => /connected to Master/i.test(l));
    assert.equal(connects.length, 1, `connected once, no reconnect during ${stayConnectedMs} ms\n${logsOf()}`);
    const masterTrouble = chunkserver.lines.filter((l) => /master/i.test(l) && /error|wrong|reset|timed? ?out|can't|cannot|refused|lost|closed|disconnect/i.test(l));
    assert.deepEqual(masterTrouble, [], "the chunkserver log has no complaint about the master");
    assert.ok(!gateway.lines.some((l) => l.includes("closing chunkserver connection")), `the gateway kept the link\n${logsOf()}`);
    const later = await registryRecord(ns, 1);
    assert.equal(later.state, "registered");
    assert.ok(Number(later.updated) > Number(registered.updated), "the link keeps refreshing its record (TTL)");

    // Chunk operations as a shard leader sends them: MATOCS_* on the link, CSTOMA_* statuses back.
    const chunk = makeChunkId(1, 1n);
    const copy = makeChunkId(1, 2n);
    const requests: ChunkOpRequest[] = [
      { csid: 1, command: { op: "create", chunkId: chunk, version: 1 } },
      { csid: 1, command: { op: "create", chunkId: chunk, version: 1 } },
      { csid: 1, command: { op: "set-version", chunkId: chunk, version: 2, oldVersion: 1 } },
      { csid: 1, command: { op: "duplicate", chunkId: copy, version: 1, oldChunkId: chunk, oldVersion: 2 } },
      { csid: 1, command: { op: "truncate", chunkId: chunk, length: 1000, version: 3, oldVersion: 2 } },
      { csid: 1, command: { op: "delete", chunkId: copy, version: 1 } },
      { csid: 1, command: { op: "delete", chunkId: chunk, version: 0 } },
      { csid: 1, command: { op: "delete", chunkId: chunk, version: 0 } },
      { csid: 2, command: { op: "create", chunkId: chunk, version: 1 } },
    ];
    const chunkOps = async (list: ChunkOpRequest[]): Promise<number[]> => {
      const probe = await ns.exec(process.execPath, [chunkOpProbePath, `nats://127.0.0.1:${natsPort}`, "gw-cs-test", base64Encode(encodeMessage(list))], { timeoutMs: 60_000 });
      return JSON.parse(probe.stdout) as number[];
    };
    assert.deepEqual(
      await chunkOps(requests),
      [Status.OK, Status.CHUNKEXIST, Status.OK, Status.OK, Status.OK, Status.OK, Status.OK, Status.NOCHUNK, Status.CSNOTPRESENT],
      `chunk operation statuses\n${logsOf()}`,
    );

    // Replication: a second chunkserver pulls a copy from the first, whose address the gateway resolves.
    const second = start(ns, "mfschunkserver 2", chunkserverBinary!, ["-f", "-c", await configureChunkserver("cs2", csDataPort + 1), "start"]);
    children.push(second);
    await waitFor("second chunkserver registered with space", 30_000, async () => {
      const record = await registryRecord(ns, 2);
      return record.state === "registered" && BigInt(record.total ?? "0") > 0n ? record : undefined;
    }, logsOf);
    const replicated = makeChunkId(1, 3n);
    assert.deepEqual(
      await chunkOps([
        { csid: 1, command: { op: "create", chunkId: replicated, version: 1 } },
        { csid: 2, command: { op: "replicate", chunkId: replicated, version: 1, sourceCsid: 1 } },
        // The copy exists on the second server at version 1: deleting exactly that version works.
        { csid: 2, command: { op: "delete", chunkId: replicated, version: 1 } },
        { csid: 1, command: { op: "delete", chunkId: replicated, version: 1 } },
      ]),
      [Status.OK, Status.OK, Status.OK, Status.OK],
      `replication statuses\n${logsOf()}`,
    );
    await stop(second);

    // A graceful stop says goodbye (rver 63): the CS is in maintenance, not simply gone.
    await stop(chunkserver);
    await waitFor("maintenance after a graceful stop", 10_000, async () => ((await registryRecord(ns, 1)).state === "maintenance" ? true : undefined), logsOf);

    // Restarted, it brings csid 1 from its chunkserverid.mfs and keeps it: no new id is allocated.
    const restarted = start(ns, "mfschunkserver (restarted)", chunkserverBinary!, ["-f", "-c", csConfig, "start"]);
    children.push(restarted);
    await waitFor("registered again with csid 1", 30_000, async () => ((await registryRecord(ns, 1)).state === "registered" ? true : undefined), logsOf);
    const { stdout: counter } = await ns.exec(redisCli!, ["-h", "127.0.0.1", "-p", String(redisPort), "--raw", "GET", "antler:cs:next"], { timeoutMs: 5_000 });
    assert.equal(counter.trim(), "2", "the restarted chunkserver got no new csid (the second one has 2)");
  } finally {
    if (await isMounted(mountPoint).catch(() => false)) {
      await run("umount", [mountPoint], { timeout: 10_000 }).catch(() => run("umount", ["-l", mountPoint]).catch(() => {}));
    }
    for (const child of [...children].reverse()) await stop(child);
    await netns?.delete();
    await rm(dir, { recursive: true, force: true });
  }
});
