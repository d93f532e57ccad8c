// The cluster under test for the file-data suite: a master (the real mfsmaster 3.0.117, or Antler
// started with `bin/antler up --chunkservers 0`) plus N real mfschunkservers that the test itself
// runs, in one fresh network namespace. The chunkservers belong to the test, not to Antler's
// supervisor, for two reasons: the supervisor restarts a child that exits, so "stop one
// chunkserver" could not be done by PID; and both masters then face the very same chunkserver
// processes, configs and disks, so the only difference between the two runs is the master.
//
// The reference mfsmaster gets housekeeping settings that make its repairs and deletions finish
// within a test's bounds (see `referenceHousekeeping`); everything else is its default.

import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import { AntlerCluster } from "./antler.ts";
import { saveLogs } from "./artifacts.ts";
import { clientPort, mountMfs, type MfsMount } from "./mount.ts";
import { createNetns, type Netns } from "./netns.ts";
import { describeFailure, waitFor, type Daemon } from "./proc.ts";
import { makeTempDir } from "./tempdir.ts";

export type DataClusterKind = "mfsmaster" | "antler";

const emptyMetadataPath = "/var/lib/mfs/metadata.mfs.empty";
/** MooseFS's master port for chunkservers, used by mfsmaster and by Antler's gateway alike. */
const masterChunkserverPort = 9420;
/** Chunkserver i listens for client data connections on this port + i. */
const chunkserverPortBase = 9422;
const masterStartTimeoutMs = 15_000;
/** Start to "connected to Master" in the chunkserver's log. */
const chunkserverConnectTimeoutMs = 30_000;
/** Connected to "its space counts in the cluster's total": one small registration. */
const chunkserverRegisterTimeoutMs = 30_000;
/** A chunkserver flushes chunk headers on SIGTERM; after this it is killed. */
const chunkserverStopGraceMs = 10_000;
/** A probe write on a master without a data path fails fast, and each retry is logged. */
const probeMountOptions = ["mfsioretries=2", "mfslogretry=0"];
const probeTimeoutMs = 120_000;

/**
 * mfsmaster 3.0.117 settings that bound how long its housekeeping takes, with their defaults:
 * - REPLICATIONS_DELAY_INIT (60 s): no replication at all in the first minute after start.
 * - CHUNKS_LOOP_MIN_TIME (300 s): one pass over all chunks (over-goal and wrong-version copies,
 *   chunks of deleted files) takes at least this long; 60 s is the smallest value it accepts.
 * - CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT (2 / 10 per chunkserver): replications in
 *   flight; raised so that repairing a lost chunkserver's chunks is not throttled to a trickle.
 * - CHUNKS_SOFT_DEL_LIMIT / CHUNKS_HARD_DEL_LIMIT (10 / 25 per chunkserver): deletions in flight.
 */
export const referenceHousekeeping: Readonly<Record<string, string>> = {
  REPLICATIONS_DELAY_INIT: "0",
  CHUNKS_LOOP_MIN_TIME: "60",
  CHUNKS_WRITE_REP_LIMIT: "10",
  CHUNKS_READ_REP_LIMIT: "20",
  CHUNKS_SOFT_DEL_LIMIT: "50",
  CHUNKS_HARD_DEL_LIMIT: "100",
};

/** One real mfschunkserver owned by the test. */
export interface TestChunkserver {
  readonly index: number;
  /** Its data port (clients and other chunkservers connect here). */
  readonly port: number;
  /** The one storage folder: chunk files live below it. */
  readonly diskDir: string;
  /** The running process, or undefined while stopped. */
  daemon(): Daemon | undefined;
  /** Starts it (again) and waits until it has connected to the master (not registered yet). */
  start(): Promise<void>;
  /** SIGKILL: a lost server, no goodbye to the master. Returns the PID it had. */
  kill(): number;
  /** SIGTERM (graceful), SIGKILL after a grace period. */
  stop(): void;
  /** Names of the chunk files on its disk (`chunk_<ID>_<VERSION>.mfs`). */
  chunkFiles(): string[];
}

export interface DataCluster {
  readonly kind: DataClusterKind;
  readonly netns: Netns;
  readonly dir: string;
  readonly chunkservers: readonly TestChunkserver[];
  readonly antler?: AntlerCluster;
  /** Mounts one more client at `<dir>/mnt<n>` (more `-o` options may be given). */
  mount(extraOptions?: readonly string[]): Promise<MfsMount>;
  /** Stops clients, chunkservers, the master; removes the namespace. */
  teardown(): void;
  /** Copies every log into the artifacts directory (for failures). */
  saveLogs(name: string): void;
}

export async function startDataCluster(kind: DataClusterKind, chunkserverCount: number): Promise<DataCluster> {
  const dir = makeTempDir(`data-${kind}`);
  const netns = createNetns();
  const logs = join(dir, "logs");
  mkdirSync(logs);
  const mounts: MfsMount[] = [];
  const chunkservers: TestChunkserver[] = [];
  let master: Daemon | undefined;
  let antler: AntlerCluster | undefined;
  const stopAll = (): void => {
    while (mounts.length > 0) mounts.pop()!.unmount();
    for (const chunkserver of chunkservers) chunkserver.stop();
    master?.stop(10_000);
    antler?.down();
  };
  const save = (name: string): void => {
    saveLogs(`${name}-logs`, logs);
    saveLogs(`${name}-antler-logs`, join(dir, "antler-data", "logs"));
  };
  try {
    if (kind === "mfsmaster") {
      master = await startReferenceMaster(netns, join(dir, "master"), logs);
    } else {
      antler = new AntlerCluster(netns, join(dir, "antler-data"), 0);
      await antler.up();
    }
    for (let index = 0; index < chunkserverCount; index++) {
      chunkservers.push(createChunkserver(netns, join(dir, `cs${index}`), logs, index));
    }
    // One after the other, each until it has connected; `waitForChunkservers` then sees them counted.
    for (const chunkserver of chunkservers) await chunkserver.start();
  } catch (error) {
    save(`${kind}-data-start-failure`);
    stopAll();
    netns.remove();
    throw error;
  }
  let mountsMade = 0;
  return {
    kind,
    netns,
    dir,
    chunkservers,
    ...(antler === undefined ? {} : { antler }),
    mount: async (extraOptions = []) => {
      const index = mountsMade++;
      const made = await mountMfs(netns, join(dir, `mnt${index}`), join(logs, `mfsmount${index}.log`), extraOptions);
      // Teardown unmounts it again; for a mount the test already unmounted that does nothing.
      mounts.push(made);
      return made;
    },
    teardown: () => {
      stopAll();
      netns.remove();
    },
    saveLogs: save,
  };
}

async function startReferenceMaster(netns: Netns, dir: string, logs: string): Promise<Daemon> {
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  copyFileSync(emptyMetadataPath, join(data, "metadata.mfs"));
  const exportsPath = join(dir, "mfsexports.cfg");
  const topologyPath = join(dir, "mfstopology.cfg");
  writeFileSync(exportsPath, "* / rw,alldirs,maproot=0\n");
  writeFileSync(topologyPath, "");
  const config = writeConfig(join(dir, "mfsmaster.cfg"), {
    WORKING_USER: "root",
    WORKING_GROUP: "root",
    DATA_PATH: data,
    EXPORTS_FILENAME: exportsPath,
    TOPOLOGY_FILENAME: topologyPath,
    MATOML_LISTEN_HOST: netns.address,
    MATOCS_LISTEN_HOST: netns.address,
    MATOCS_LISTEN_PORT: String(masterChunkserverPort),
    MATOCL_LISTEN_HOST: netns.address,
    MATOCL_LISTEN_PORT: String(clientPort),
    ...referenceHousekeeping,
  });
  const master = netns.startDaemon("mfsmaster", ["mfsmaster", "-f", "-c", config, "start"], join(logs, "mfsmaster.log"));
  await waitForLogCount(master, "mfsmaster daemon initialized properly", 1, masterStartTimeoutMs);
  return master;
}

function createChunkserver(netns: Netns, dir: string, logs: string, index: number): TestChunkserver {
  const port = chunkserverPortBase + index;
  const diskDir = join(dir, "disk");
  const data = join(dir, "data");
  mkdirSync(diskDir, { recursive: true });
  mkdirSync(data, { recursive: true });
  const hddPath = join(dir, "mfshdd.cfg");
  writeFileSync(hddPath, `${diskDir}\n`);
  const config = writeConfig(join(dir, "mfschunkserver.cfg"), {
    WORKING_USER: "root",
    WORKING_GROUP: "root",
    SYSLOG_IDENT: `mfscs-test${index}`,
    DATA_PATH: data,
    HDD_CONF_FILENAME: hddPath,
    // Background CRC checks of every chunk would only compete with the test for CPU.
    HDD_TEST_FREQ: "0",
    MASTER_HOST: netns.address,
    MASTER_PORT: String(masterChunkserverPort),
    BIND_HOST: netns.address,
    CSSERV_LISTEN_HOST: netns.address,
    CSSERV_LISTEN_PORT: String(port),
  });
  const logPath = join(logs, `mfschunkserver${index}.log`);
  let current: Daemon | undefined;
  let starts = 0;
  return {
    index,
    port,
    diskDir,
    daemon: () => (current?.running() === true ? current : undefined),
    start: async () => {
      if (current?.running() === true) throw new Error(`chunkserver ${index} is already running (pid ${current.pid})`);
      starts++;
      current = netns.startDaemon(`mfschunkserver ${index}`, ["mfschunkserver", "-f", "-c", config, "start"], logPath);
      // The log is appended across restarts: wait for this start's own connection. The end of
      // its registration is not logged; `waitForChunkservers` observes it through a mount.
      await waitForLogCount(current, "connected to Master", starts, chunkserverConnectTimeoutMs);
    },
    kill: () => {
      if (current?.running() !== true) throw new Error(`chunkserver ${index} is not running`);
      const pid = current.pid;
      current.stop(0);
      return pid;
    },
    stop: () => current?.stop(chunkserverStopGraceMs),
    chunkFiles: () => listChunkFiles(diskDir),
  };
}

/**
 * Writes 1 byte through a probe mount that gives up after 2 retries and logs every one of them
 * (dd with fsync, so the data really goes to a chunkserver). Returns undefined when it worked,
 * or the reason when the master answered WRITE_CHUNK with ENOTSUP ("not implemented": a master
 * without a file data path). Throws on any other failure, including a hang: a data path that is
 * there but broken is a failure, not a reason to skip.
 */
export async function probeDataPath(cluster: DataCluster): Promise<string | undefined> {
  const probe = await cluster.mount(probeMountOptions);
  try {
    const path = join(probe.dir, ".data-path-probe");
    const result = await cluster.netns.run(["dd", "if=/dev/urandom", `of=${path}`, "bs=1", "count=1", "conv=fsync", "status=none"], {
      timeoutMs: probeTimeoutMs,
    });
    if (result.code === 0) {
      await rm(path);
      return undefined;
    }
    const notSupported = /fs_writechunk returned status: Operation not supported/.exec(probe.client.log());
    if (!result.timedOut && notSupported !== null) return `WRITE_CHUNK answered ENOTSUP; dd: ${result.stderr.trim()}`;
    throw new Error(`the probe write failed:\n${describeFailure(result)}\n--- mfsmount log\n${tail(probe.client.log())}`);
  } finally {
    probe.unmount();
  }
}

/**
 * Waits until the master counts the space of `count` chunkservers: the total size the mount
 * reports (statfs) reaches `count - 0.5` times what one chunkserver reports (its file system
 * without the blocks reserved for root; all of them share one file system here). Each
 * chunkserver sends its space with its first registration packet, which is how both mfsmaster
 * and Antler learn it, so this observes the registration from the client's side on either master.
 */
export async function waitForChunkservers(cluster: DataCluster, mountDir: string, count: number): Promise<void> {
  const disk = await statfs(cluster.chunkservers[0]!.diskDir);
  const perChunkserver = (disk.blocks - disk.bfree + disk.bavail) * disk.bsize;
  const wanted = (count - 0.5) * perChunkserver;
  let seen = 0;
  await waitFor(
    async () => {
      const mounted = await statfs(mountDir);
      seen = mounted.blocks * mounted.bsize;
      return seen >= wanted;
    },
    chunkserverRegisterTimeoutMs,
    () => `the mount reports ${seen} bytes in total; ${count} chunkservers of about ${perChunkserver} bytes each were expected`,
    200,
  );
}

/** Chunk file names below a chunkserver's storage folder (it keeps them in 256 subfolders). */
export function listChunkFiles(diskDir: string): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(path, entry.name));
      else if (/^chunk_[0-9A-F]{16}_[0-9A-F]{8}\.mfs$/.test(entry.name)) found.push(entry.name);
    }
  };
  walk(diskDir);
  return found.sort();
}

function writeConfig(path: string, settings: Record<string, string>): string {
  writeFileSync(path, Object.entries(settings).map(([key, value]) => `${key} = ${value}\n`).join(""));
  return path;
}

/** Waits until `marker` occurs `count` times in the daemon's log (it must keep running). */
async function waitForLogCount(daemon: Daemon, marker: string, count: number, timeoutMs: number): Promise<void> {
  await waitFor(
    () => {
      if (!daemon.running()) throw new Error(`${daemon.logPath}: exited before "${marker}"\n${tail(daemon.log())}`);
      return daemon.log().split(marker).length - 1 >= count;
    },
    timeoutMs,
    () => `"${marker}" seen fewer than ${count} times in ${daemon.logPath}\n${tail(daemon.log())}`,
  );
}

function tail(text: string): string {
  return text.split("\n").slice(-30).join("\n");
}
