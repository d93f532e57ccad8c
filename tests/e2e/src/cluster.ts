// One cluster under test with its mounts: a fresh namespace, either the reference (mfsmaster +
// one chunkserver) or Antler (`bin/antler up`), and N real mfsmount clients of it. Teardown goes
// in the reverse order (mounts, cluster, namespace, files); the same order applies when the
// cleanup registry has to do it after a failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AntlerCluster, type AntlerClusterOptions } from "./antler.ts";
import { saveLogs } from "./artifacts.ts";
import { startReferenceCluster, type ReferenceCluster } from "./mfsmaster.ts";
import { mountMfs, type MfsMount } from "./mount.ts";
import { createNetns, type Netns } from "./netns.ts";
import { makeTempDir } from "./tempdir.ts";

export type ClusterKind = "mfsmaster" | "antler";

export interface MountedCluster {
  readonly kind: ClusterKind;
  readonly netns: Netns;
  /** The test's temp dir: configs, data, logs and mount points. */
  readonly dir: string;
  readonly mounts: MfsMount[];
  /** Set for kind "antler". */
  readonly antler?: AntlerCluster;
  readonly reference?: ReferenceCluster;
  /** Mounts one more client at `<dir>/mnt<n>`. */
  mount(): Promise<MfsMount>;
  /** Unmounts every client that is still mounted. */
  unmountAll(): void;
  /** Kills every client (a mount may hang), then mounts as many fresh ones. */
  remountAll(): Promise<MfsMount[]>;
  /** Unmounts, stops the cluster, removes the namespace and the temp dir. */
  teardown(): void;
}

/** `antler` options apply to kind "antler" only (e.g. `{ shards: 4 }`). */
export async function startMountedCluster(kind: ClusterKind, mountCount: number, antlerOptions: AntlerClusterOptions = {}): Promise<MountedCluster> {
  const dir = makeTempDir(kind);
  const netns = createNetns();
  const logs = join(dir, "logs");
  mkdirSync(logs);
  let reference: ReferenceCluster | undefined;
  let antler: AntlerCluster | undefined;
  const mounts: MfsMount[] = [];
  let mountsMade = 0;
  const mount = async (): Promise<MfsMount> => {
    const index = mountsMade++;
    const made = await mountMfs(netns, join(dir, `mnt${index}`), join(logs, `mfsmount${index}.log`));
    mounts.push(made);
    return made;
  };
  try {
    if (kind === "mfsmaster") {
      reference = await startReferenceCluster(netns, join(dir, "reference"));
    } else {
      antler = new AntlerCluster(netns, join(dir, "antler-data"), 1, antlerOptions);
      await antler.up();
    }
    for (let index = 0; index < mountCount; index++) await mount();
  } catch (error) {
    // The temp dir goes at cleanup; keep the logs that explain why the start failed.
    saveClusterLogs(`${kind}-start-failure`, dir);
    throw error;
  }
  const unmountAll = (): void => {
    while (mounts.length > 0) mounts.pop()!.unmount();
  };
  return {
    kind,
    netns,
    dir,
    mounts,
    ...(antler === undefined ? {} : { antler }),
    ...(reference === undefined ? {} : { reference }),
    mount,
    unmountAll,
    remountAll: async () => {
      const count = mounts.length;
      while (mounts.length > 0) mounts.pop()!.abort();
      for (let index = 0; index < count; index++) await mount();
      return [...mounts];
    },
    teardown: () => {
      unmountAll();
      reference?.stop();
      antler?.down();
      netns.remove();
    },
  };
}

/** Copies the mfsmount, reference and Antler logs of a cluster's temp dir into the artifacts. */
export function saveClusterLogs(name: string, dir: string): void {
  saveLogs(`${name}-mfsmount-logs`, join(dir, "logs"));
  saveLogs(`${name}-reference-logs`, join(dir, "reference"));
  saveLogs(`${name}-antler-logs`, join(dir, "antler-data", "logs"));
}
