// The reference cluster: the real `mfsmaster` 3.0.117 and one real `mfschunkserver`, each in the
// foreground (so their PIDs are ours and in the cleanup registry), inside a test namespace.
// Minimal real configs: an empty metadata.mfs, every client
// exported read-write with root kept as root, everything listening on the namespace address.

import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Netns } from "./netns.ts";
import type { Daemon } from "./proc.ts";
import { waitFor } from "./proc.ts";
import { clientPort } from "./mount.ts";

const emptyMetadataPath = "/var/lib/mfs/metadata.mfs.empty";
const startTimeoutMs = 15_000;
/** The chunkserver's own port for client data connections (9420 is the master's CS port). */
const chunkserverDataPort = 9422;

export interface ReferenceCluster {
  readonly address: string;
  readonly master: Daemon;
  readonly chunkserver: Daemon;
  /** Stops the chunkserver, then the master (which writes its metadata on SIGTERM). */
  stop(): void;
}

export async function startReferenceCluster(netns: Netns, dir: string): Promise<ReferenceCluster> {
  const address = netns.address;
  const masterData = join(dir, "master");
  const chunkserverData = join(dir, "chunkserver");
  const chunkserverDisk = join(dir, "chunkserver-disk");
  for (const path of [masterData, chunkserverData, chunkserverDisk]) mkdirSync(path, { recursive: true });
  copyFileSync(emptyMetadataPath, join(masterData, "metadata.mfs"));

  const exportsPath = join(dir, "mfsexports.cfg");
  const topologyPath = join(dir, "mfstopology.cfg");
  const hddPath = join(dir, "mfshdd.cfg");
  writeFileSync(exportsPath, "* / rw,alldirs,maproot=0\n");
  writeFileSync(topologyPath, "");
  writeFileSync(hddPath, `${chunkserverDisk}\n`);
  const masterConfig = writeConfig(join(dir, "mfsmaster.cfg"), {
    WORKING_USER: "root",
    WORKING_GROUP: "root",
    DATA_PATH: masterData,
    EXPORTS_FILENAME: exportsPath,
    TOPOLOGY_FILENAME: topologyPath,
    MATOML_LISTEN_HOST: address,
    MATOCS_LISTEN_HOST: address,
    MATOCL_LISTEN_HOST: address,
    MATOCL_LISTEN_PORT: String(clientPort),
  });
  const chunkserverConfig = writeConfig(join(dir, "mfschunkserver.cfg"), {
    WORKING_USER: "root",
    WORKING_GROUP: "root",
    DATA_PATH: chunkserverData,
    HDD_CONF_FILENAME: hddPath,
    HDD_TEST_FREQ: "0",
    MASTER_HOST: address,
    CSSERV_LISTEN_HOST: address,
    CSSERV_LISTEN_PORT: String(chunkserverDataPort),
  });

  const master = netns.startDaemon("mfsmaster", ["mfsmaster", "-f", "-c", masterConfig, "start"], join(dir, "mfsmaster.log"));
  await waitForLog(master, "mfsmaster daemon initialized properly");
  const chunkserver = netns.startDaemon(
    "mfschunkserver",
    ["mfschunkserver", "-f", "-c", chunkserverConfig, "start"],
    join(dir, "mfschunkserver.log"),
  );
  await waitForLog(chunkserver, "mfschunkserver daemon initialized properly");
  await waitFor(
    async () => {
      const result = await netns.run(["mfscli", "-H", address, "-P", String(clientPort), "-SCS"], { timeoutMs: 5_000 });
      return result.code === 0 && result.stdout.includes(`${address}`) && result.stdout.includes(String(chunkserverDataPort));
    },
    startTimeoutMs,
    () => `chunkserver never registered with mfsmaster\n${chunkserver.log()}`,
    250,
  );
  return {
    address,
    master,
    chunkserver,
    stop: () => {
      chunkserver.stop(10_000);
      master.stop(10_000);
    },
  };
}

function writeConfig(path: string, settings: Record<string, string>): string {
  writeFileSync(path, Object.entries(settings).map(([key, value]) => `${key} = ${value}\n`).join(""));
  return path;
}

async function waitForLog(daemon: Daemon, marker: string): Promise<void> {
  await waitFor(
    () => {
      if (!daemon.running()) throw new Error(`${daemon.logPath}: exited before "${marker}"\n${daemon.log()}`);
      return daemon.log().includes(marker);
    },
    startTimeoutMs,
    () => `no "${marker}" in ${daemon.logPath}\n${daemon.log()}`,
  );
}
