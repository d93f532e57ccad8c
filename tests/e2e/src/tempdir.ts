// Temporary directories for configs, data and mount points, removed by the cleanup registry.

import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerCleanup } from "./cleanup.ts";

/**
 * Creates a fresh directory under the system temp dir. It is world-searchable (0755) because
 * mount points live inside it and the workload's unprivileged steps (uid 1000) must reach them.
 * It is only deleted when nothing is mounted at or below it, so a stuck mount is never recursed
 * into (that would delete the files of the file system behind it).
 */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `antler-e2e-${prefix}-`));
  chmodSync(dir, 0o755);
  registerCleanup(`temp dir ${dir}`, () => {
    if (mountPointsAtOrBelow(dir).length > 0) throw new Error(`${dir} still has a mount below it; left in place`);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function mountPointsAtOrBelow(dir: string): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}
