/**
 * CPU time of the server's processes during a phase: every process whose network namespace is the
 * server's (mfsmaster; Antler's gateway, router, shard, nats-server, redis-server; mfsmount in mount
 * mode), read from /proc/<pid>/stat before and after, grouped by a readable name. CPU per operation
 * explains throughput on a small machine better than any latency number: on 2 cores a system that
 * burns 500 µs of CPU per create cannot exceed ~4000 creates/s, however it is built.
 *
 * Linux only; where /proc cannot be read the sample is empty and the report shows "–".
 */
import * as fs from "node:fs";

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux architecture. */
const clockTicksPerSecond = 100;
/** Bounds one /proc scan (a machine with more processes is sampled partially). */
const processesScannedMax = 100_000;

export type CpuSample = Map<number, { name: string; ticks: number }>;

/** The namespace identity (nsfs inode) of a /run/netns/<name> file or /proc/<pid>/ns/net link. */
export function namespaceInode(path: string): number | null {
  try {
    return fs.statSync(path).ino;
  } catch {
    return null;
  }
}

/**
 * CPU ticks of every process in the namespace, except `excludePid` (the load generator itself),
 * named by `nameOf` (default: by service, so all shards of a cluster share the name "shard").
 */
export function sampleNamespaceCpu(netnsInode: number | null, excludePid: number, nameOf: (pid: number) => string = processName): CpuSample {
  const sample: CpuSample = new Map();
  if (netnsInode === null) return sample;
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return sample;
  }
  let scanned = 0;
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    if (++scanned > processesScannedMax) break;
    const pid = Number(entry);
    if (pid === excludePid) continue;
    if (namespaceInode(`/proc/${pid}/ns/net`) !== netnsInode) continue;
    const ticks = readTicks(pid);
    if (ticks === null) continue;
    sample.set(pid, { name: nameOf(pid), ticks });
  }
  return sample;
}

/**
 * CPU seconds per process name between two samples (processes that started in between count
 * fully). Every process present in `after` has an entry, 0 when it used less than one tick (10 ms).
 */
export function cpuSecondsBetween(before: CpuSample, after: CpuSample): Record<string, number> {
  const seconds: Record<string, number> = {};
  for (const [pid, { name, ticks }] of after) {
    const delta = Math.max(0, ticks - (before.get(pid)?.ticks ?? 0));
    seconds[name] = (seconds[name] ?? 0) + delta / clockTicksPerSecond;
  }
  return seconds;
}

/** Processes in the server's namespace that are not the server: mfsmount is the client side. */
export const clientSideProcesses: ReadonlySet<string> = new Set(["mfsmount"]);

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, counted after the parenthesised comm). */
function readTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
  } catch {
    return null;
  }
}

/** "gateway" for services/gateway/…, "supervisor" for the launcher, else the program's base name. */
export function nameFromCommandLine(argv: readonly string[]): string {
  for (const argument of argv) {
    const service = /services\/([a-z0-9-]+)\//.exec(argument);
    if (service !== null) return service[1]!;
    // The launcher's supervisor (`antler __supervise`) stays in the namespace with its children.
    if (argument.endsWith("deploy/local/src/cli.ts")) return "supervisor";
  }
  // MooseFS daemons retitle themselves ("mfsmaster (data writer)", "mfsmount (mounted on: /x)"):
  // the program is the first word, its name what follows the last "/" of that word.
  const program = (argv[0] ?? "").split(" ")[0] ?? "";
  return program.slice(program.lastIndexOf("/") + 1) || "?";
}

/**
 * Like the service name, but a shard process is named by its service directory, the launcher's
 * name of that process ("shard-0", "shard-1-r2"), so each shard's CPU is counted apart.
 */
export function instanceName(pid: number): string {
  const name = processName(pid);
  if (name !== "shard") return name;
  try {
    const directory = fs.readlinkSync(`/proc/${pid}/cwd`);
    const instance = directory.slice(directory.lastIndexOf("/") + 1);
    return /^shard-[0-9]+(-r[0-9]+)?$/.test(instance) ? instance : name;
  } catch {
    return name;
  }
}

function processName(pid: number): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((part) => part !== "");
    return nameFromCommandLine(argv);
  } catch {
    return "?";
  }
}
