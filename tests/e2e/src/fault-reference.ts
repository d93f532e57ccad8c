// kill -9 of the reference `mfsmaster` and its restart, as an operator (or a supervisor) would do
// it: the same configuration, with `-a` so it rebuilds its metadata from the last metadata file
// plus the changelogs (without it, a master that was killed refuses to start).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Netns } from "./netns.ts";
import type { Daemon } from "./proc.ts";
import { waitFor } from "./proc.ts";

const restartTimeoutMs = 60_000;
const readyMarker = "mfsmaster daemon initialized properly";

/** The master of a reference cluster started in `referenceDir` (mfsmaster.ts's layout). */
export class ReferenceMaster {
  private readonly netns: Netns;
  private readonly referenceDir: string;
  private current: Daemon;
  private restarts = 0;

  constructor(netns: Netns, referenceDir: string, master: Daemon) {
    this.netns = netns;
    this.referenceDir = referenceDir;
    this.current = master;
  }

  get pid(): number {
    return this.current.pid;
  }

  /** SIGKILL; resolves once the process is gone. Returns its PID. */
  async kill9(): Promise<number> {
    const pid = this.current.pid;
    process.kill(pid, "SIGKILL");
    await this.current.exited;
    return pid;
  }

  /** Starts the master again on the same configuration; resolves once it says it is ready. */
  async restart(): Promise<number> {
    this.restarts++;
    const logPath = join(this.referenceDir, `mfsmaster-restart${this.restarts}.log`);
    const config = join(this.referenceDir, "mfsmaster.cfg");
    const daemon = this.netns.startDaemon("mfsmaster", ["mfsmaster", "-f", "-a", "-c", config, "start"], logPath);
    this.current = daemon;
    await waitFor(
      () => {
        if (!daemon.running()) throw new Error(`mfsmaster exited after its restart\n${readFileSync(logPath, "utf8")}`);
        return daemon.log().includes(readyMarker);
      },
      restartTimeoutMs,
      () => `no "${readyMarker}" in ${logPath}\n${daemon.log()}`,
      50,
    );
    return daemon.pid;
  }

  /** Stops the master running now (SIGTERM: it writes its metadata). */
  stop(): void {
    this.current.stop(10_000);
  }
}
