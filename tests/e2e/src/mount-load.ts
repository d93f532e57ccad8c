// A steady stream of metadata operations on a mount (create, stat, readdir), used while the
// cluster behind it is being hurt: every operation must succeed, and no single one may take
// longer than its bound. It records failures instead of throwing so a test can report them all.

import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { formatError } from "./transcript.ts";

export interface MountLoadReport {
  readonly operations: number;
  readonly failures: string[];
  readonly slowestMs: number;
  /** Files whose create returned: acknowledged by the cluster. */
  readonly created: string[];
}

export interface MountLoad {
  /** Creates acknowledged so far. */
  createdCount(): number;
  /** Stops after the operation in flight and resolves with the report. */
  stop(): Promise<MountLoadReport>;
}

const operationTimeoutMs = 20_000;
const failuresKeptMax = 20;

/** Starts creating `<dir>/<prefix>-<n>` files, stat-ing each and listing `dir` every 10th. */
export function startMountLoad(dir: string, prefix: string): MountLoad {
  const report = { operations: 0, failures: [] as string[], slowestMs: 0, created: [] as string[] };
  let stopping = false;
  const timed = async (label: string, action: () => Promise<unknown>): Promise<boolean> => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error("timeout"), { code: "TIMEOUT" })), operationTimeoutMs);
    });
    try {
      await Promise.race([action(), timeout]);
      return true;
    } catch (error) {
      if (report.failures.length < failuresKeptMax) report.failures.push(`${label}: ${formatError(error)}`);
      else report.failures.push("…");
      return false;
    } finally {
      clearTimeout(timer);
      report.operations++;
      report.slowestMs = Math.max(report.slowestMs, Date.now() - started);
    }
  };
  const loop = (async (): Promise<void> => {
    for (let index = 0; !stopping; index++) {
      const name = `${prefix}-${index}`;
      const path = join(dir, name);
      const createdOk = await timed(`create ${name}`, async () => (await open(path, "wx")).close());
      if (createdOk) report.created.push(name);
      await timed(`stat ${name}`, () => stat(path));
      if (index % 10 === 9) await timed("readdir", () => readdir(dir));
    }
  })();
  return {
    createdCount: () => report.created.length,
    stop: async () => {
      stopping = true;
      await loop;
      return { ...report, failures: report.failures.slice(0, failuresKeptMax + 1) };
    },
  };
}
