// Real `mfsmount` clients. Each runs in the foreground inside the cluster's namespace (through
// nsenter --net, so the mount is visible on the host) with its PID and its mount point in the
// cleanup registry. Unmounting is `umount`, or `umount -l` when the mount is busy or dead.

import { mkdirSync } from "node:fs";
import { isMounted, registerCleanup, unmountSync } from "./cleanup.ts";
import type { Netns } from "./netns.ts";
import type { Daemon } from "./proc.ts";
import { waitFor } from "./proc.ts";

/** The MooseFS client port of a master, and of an Antler gateway. */
export const clientPort = 9421;
const mountTimeoutMs = 20_000;

/**
 * Client caches off, so that what one mount changes is visible through another at once and both
 * clusters are compared on what they answer rather than on cache timing. (Defaults: attributes
 * 1 s, directory entries 1 s, xattrs 30 s, symlinks 300 s.)
 */
const cacheOptions = [
  "mfsattrcacheto=0",
  "mfsentrycacheto=0",
  "mfsdirentrycacheto=0",
  "mfsnegentrycacheto=0",
  "mfsxattrcacheto=0",
  "mfssymlinkcacheto=0",
].join(",");

export interface MfsMount {
  readonly dir: string;
  readonly client: Daemon;
  /** Unmounts (lazily if busy) and stops the client process. */
  unmount(): void;
  /**
   * For a hung mount: SIGKILL the client first (the kernel then fails every request still
   * waiting on it with ENOTCONN, releasing the threads blocked in them), then unmount lazily.
   */
  abort(): void;
}

/** `extraOptions` are more `-o` options (e.g. `mfsioretries=3` for a probe that must fail fast). */
export async function mountMfs(netns: Netns, dir: string, logPath: string, extraOptions: readonly string[] = []): Promise<MfsMount> {
  mkdirSync(dir, { recursive: true });
  const options = [cacheOptions, ...extraOptions].join(",");
  const argv = ["mfsmount", dir, "-f", "-H", netns.address, "-P", String(clientPort), "-o", options];
  const client = netns.startDaemon(`mfsmount ${dir}`, argv, logPath);
  // Registered after the client, so it runs before the client is stopped.
  const handle = registerCleanup(`mount ${dir}`, () => unmountSync(dir));
  try {
    await waitFor(
      () => {
        if (!client.running()) throw new Error(`mfsmount exited before mounting ${dir}\n${client.log()}`);
        return isMounted(dir);
      },
      mountTimeoutMs,
      () => `${dir} never appeared in /proc/mounts\n${client.log()}`,
    );
  } catch (error) {
    handle.release();
    client.stop(2_000);
    throw error;
  }
  return {
    dir,
    client,
    unmount: () => {
      handle.release();
      // After an unmount the foreground client exits by itself; give it a moment first.
      client.stop(5_000);
    },
    abort: () => {
      client.stop(0);
      handle.release();
    },
  };
}
