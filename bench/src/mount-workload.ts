/**
 * The same mdtest-style phases through a real mfsmount: each operation is one (or, for create, two)
 * file-system calls through Node's fs, timed around the call. Every phase runs twice: with one
 * worker (sequential: pure round-trip latency through FUSE, mfsmount and the master) and with
 * `workers` concurrent workers (Node's fs runs them on libuv's thread pool, which the driver sizes).
 *
 * Layout: <mountpoint>/bench-<tag>/x<workers>/{f,d}<bucket>/<item>. create = open(O_CREAT|O_EXCL)
 * + close; stat = stat(2) by path (LOOKUP and GETATTR at the master, modulo mfsmount's caches);
 * readdir reads whole buckets and checks the entry count.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { type Lane, type OpOutcome, runPhase } from "./phase-runner.ts";
import { namespaceInode } from "./process-cpu.ts";
import type { LoadResult, PhaseResult } from "./result.ts";

export const mountPhases = ["mkdir", "create", "stat", "readdir", "rename", "unlink", "rmdir"] as const;
export type MountPhase = (typeof mountPhases)[number];

export interface MountWorkloadConfig {
  mode: "mount";
  label: string;
  mountpoint: string;
  ops: number;
  /** Parallel workers of the second pass (the first pass is always one worker). */
  workers: number;
  entriesPerDir: number;
  phaseSeconds: number;
  tag: string;
  /** /run/netns/<name> of the server (and of mfsmount): their CPU time is measured. */
  serverNetns: string | null;
}

export async function runMountWorkload(config: MountWorkloadConfig, progress: (line: string) => void): Promise<LoadResult> {
  const phases: PhaseResult[] = [];
  const notes: string[] = [];
  let setupErrors = 0;
  let cleanupErrors = 0;
  const runDir = path.join(config.mountpoint, `bench-${config.tag}`);
  const bucketCount = Math.max(1, Math.ceil(config.ops / config.entriesPerDir));
  const serverNetnsInode = config.serverNetns === null ? null : namespaceInode(config.serverNetns);
  try {
    await fsp.mkdir(runDir);
    for (const workers of [...new Set([1, config.workers])]) {
      const base = path.join(runDir, `x${workers}`);
      await fsp.mkdir(base);
      for (let bucket = 0; bucket < bucketCount; bucket += 1) {
        await fsp.mkdir(path.join(base, `f${bucket}`));
        await fsp.mkdir(path.join(base, `d${bucket}`));
      }
      for (const phase of mountPhases) {
        const lane = laneFor(phase, base, workers, config);
        phases.push(
          await runPhase([lane], { label: config.label, phase: `${phase} ×${workers}`, budgetMs: config.phaseSeconds * 1000, progress, serverNetnsInode }),
        );
      }
    }
  } catch (error) {
    setupErrors += 1;
    notes.push(`aborted: ${(error as Error).message}`);
  }
  try {
    await fsp.rm(runDir, { recursive: true, force: true, maxRetries: 2 });
  } catch (error) {
    cleanupErrors += 1;
    notes.push(`cleanup of ${runDir} failed: ${(error as Error).message}`);
  }
  return { label: config.label, phases, setupErrors, cleanupErrors, notes };
}

function laneFor(phase: MountPhase, base: string, workers: number, config: MountWorkloadConfig): Lane {
  const bucketOf = (item: number) => Math.floor(item / config.entriesPerDir);
  const file = (item: number, prefix = "") => path.join(base, `f${bucketOf(item)}`, `${prefix}${item}`);
  const dir = (item: number) => path.join(base, `d${bucketOf(item)}`, String(item));
  const lane = (count: number, op: (item: number) => Promise<string | null>): Lane => ({
    count,
    concurrency: workers,
    run: (item) => timed(() => op(item)),
  });
  switch (phase) {
    case "mkdir":
      return lane(config.ops, async (item) => {
        await fsp.mkdir(dir(item));
        return null;
      });
    case "create":
      return lane(config.ops, async (item) => {
        const handle = await fsp.open(file(item), "wx", 0o644);
        await handle.close();
        return null;
      });
    case "stat":
      return lane(config.ops, async (item) => ((await fsp.stat(file(item))).isFile() ? null : "stat: not a regular file"));
    case "readdir": {
      const buckets = Math.max(1, Math.ceil(config.ops / config.entriesPerDir));
      return lane(config.ops === 0 ? 0 : Math.max(1, Math.ceil(config.ops / 10)), async (read) => {
        const bucket = read % buckets;
        const expected = Math.min(config.entriesPerDir, config.ops - bucket * config.entriesPerDir);
        const entries = await fsp.readdir(path.join(base, `f${bucket}`));
        return entries.length === expected ? null : `readdir listed ${entries.length} entries, expected ${expected}`;
      });
    }
    case "rename":
      return lane(config.ops, async (item) => {
        await fsp.rename(file(item), file(item, "r"));
        return null;
      });
    case "unlink":
      return lane(config.ops, async (item) => {
        await fsp.unlink(file(item, "r"));
        return null;
      });
    case "rmdir":
      return lane(config.ops, async (item) => {
        await fsp.rmdir(dir(item));
        return null;
      });
  }
}

async function timed(op: () => Promise<string | null>): Promise<OpOutcome> {
  const startedAt = performance.now();
  try {
    const problem = await op();
    const micros = (performance.now() - startedAt) * 1000;
    return problem === null ? { ok: true, micros } : { ok: false, error: problem, fatal: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    // ENOTCONN means the FUSE daemon is gone: every further call would fail the same way.
    return { ok: false, error: `${code}: ${(error as Error).message}`, fatal: code === "ENOTCONN" };
  }
}
