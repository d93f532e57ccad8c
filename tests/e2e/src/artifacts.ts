// Where a run leaves what a person needs to understand a failure: transcripts, diffs and copies
// of the cluster logs. One directory per test process, kept after the run (the temp dirs with the
// clusters' data are removed). Set ANTLER_E2E_ARTIFACTS to choose the parent directory.

import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let runDir: string | undefined;

export function artifactsDir(): string {
  if (runDir === undefined) {
    const parent = process.env["ANTLER_E2E_ARTIFACTS"] ?? join(tmpdir(), "antler-e2e-artifacts");
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    runDir = join(parent, `${stamp}-${process.pid}`);
    mkdirSync(runDir, { recursive: true });
  }
  return runDir;
}

/** Writes `content` to `<artifacts>/<name>` and returns the path. */
export function saveArtifact(name: string, content: string): string {
  const path = join(artifactsDir(), name);
  writeFileSync(path, content);
  return path;
}

/** Copies a directory of logs into the artifacts (best effort: logs are diagnostics). */
export function saveLogs(name: string, source: string): string | undefined {
  if (!existsSync(source)) return undefined;
  const target = join(artifactsDir(), name);
  try {
    cpSync(source, target, { recursive: true, filter: (path) => !path.includes("/mnt") && !path.includes("chunkserver-disk") });
    return target;
  } catch {
    return undefined;
  }
}
