/**
 * The reference: the real mfsmaster 3.0.117 with an empty filesystem, in its own namespace, run in
 * the foreground so we own its PID. Stopped with SIGTERM (it stores its metadata and exits).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Cleanup } from "./cleanup.ts";
import { type Namespace, waitForPort } from "./netns.ts";
import { runCommand, stopProcess } from "./processes.ts";
import type { RunningTarget } from "./target.ts";

export const mfsmasterBinary = "/usr/sbin/mfsmaster";
export const emptyMetadataPath = "/var/lib/mfs/metadata.mfs.empty";
export const clientPort = 9421;

/** Why the reference cannot run here, or null when it can (root, binary and metadata present). */
export function mfsmasterUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root (network namespaces need root)";
  if (!fs.existsSync(mfsmasterBinary)) return `${mfsmasterBinary} is missing (apt-get install moosefs-master)`;
  if (!fs.existsSync(emptyMetadataPath)) return `${emptyMetadataPath} is missing`;
  return null;
}

export async function startMfsmaster(namespace: Namespace, workDir: string, cleanup: Cleanup): Promise<RunningTarget> {
  const dataDir = path.join(workDir, "data");
  await fsp.mkdir(dataDir, { recursive: true });
  await fsp.copyFile(emptyMetadataPath, path.join(dataDir, "metadata.mfs"));
  const exportsPath = path.join(workDir, "mfsexports.cfg");
  await fsp.writeFile(exportsPath, "* / rw,alldirs,maproot=0\n");
  const configPath = path.join(workDir, "mfsmaster.cfg");
  await fsp.writeFile(
    configPath,
    [
      "WORKING_USER = root",
      "WORKING_GROUP = root",
      `DATA_PATH = ${dataDir}`,
      `EXPORTS_FILENAME = ${exportsPath}`,
      `MATOML_LISTEN_HOST = ${namespace.address}`,
      `MATOCS_LISTEN_HOST = ${namespace.address}`,
      `MATOCL_LISTEN_HOST = ${namespace.address}`,
      `MATOCL_LISTEN_PORT = ${clientPort}`,
      "",
    ].join("\n"),
  );
  const logPath = path.join(workDir, "mfsmaster.log");
  const log = fs.openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(namespace.enter[0]!, [...namespace.enter.slice(1), mfsmasterBinary, "-f", "-c", configPath, "start"], { stdio: ["ignore", log, log] });
  } finally {
    fs.closeSync(log);
  }
  let exitReason: string | null = null;
  child.on("exit", (code, signal) => {
    exitReason = `exited with ${code ?? signal} (log: ${logPath})`;
  });
  child.on("error", (error) => {
    exitReason = error.message;
  });
  const stop = cleanup.add(`stop mfsmaster (pid ${child.pid})`, () => stopProcess(child));
  await waitForPort(namespace, clientPort, "mfsmaster", () => exitReason);
  const version = await runCommand(mfsmasterBinary, ["-v"], { timeoutMs: 5_000 });
  return {
    name: "mfsmaster",
    namespace,
    port: clientPort,
    description: `${version.stdout.trim() || "mfsmaster"} (pid ${child.pid}, ${namespace.address}:${clientPort})`,
    stop,
  };
}
