/**
 * V8 CPU profiles (`node --cpu-prof`, one `.cpuprofile` per process) summarized: which functions
 * a service spends its CPU in, by self time. The services are started with
 * NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" and write their profile when they exit.
 *
 * A profile is a call tree (`nodes`, each with a call frame) plus the sampled node of every tick
 * (`samples`) and the µs since the previous tick (`timeDeltas`). Self time of a node is the sum
 * of the deltas of the samples that hit it. "(idle)" is time the process waited for events; it
 * is left out of the busy time every share is relative to.
 *
 * Profile times are CLOCK_MONOTONIC µs, the clock of `process.hrtime` in every process on the
 * machine, so a window measured by the bench (the round itself) selects the samples of the round
 * and leaves out the process's start (module loading, TypeScript stripping) and its stop.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";

export interface CpuProfileJson {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionCost {
  /** "name (file:line)", "(garbage collector)", "(program)" (native code outside JS). */
  name: string;
  selfMicros: number;
  /** Share of the process's busy time (all samples but idle). */
  share: number;
}

/** CLOCK_MONOTONIC µs (process.hrtime.bigint() / 1000). */
export interface ProfileWindow {
  startMicros: number;
  endMicros: number;
}

export interface ProcessProfile {
  file: string;
  /** From Node's file name CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; null if named otherwise. */
  pid: number | null;
  /** 0 for the main thread; worker threads write profiles of their own. */
  thread: number | null;
  /** gateway, router, shard, launcher, or "node" when no frame tells. */
  service: string;
  busyMicros: number;
  wallMicros: number;
  top: FunctionCost[];
}

export class CpuProfileFormatError extends Error {
  override name = "CpuProfileFormatError";
}

export function parseCpuProfile(text: string): CpuProfileJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CpuProfileFormatError("not JSON", { cause: error });
  }
  const profile = value as Partial<CpuProfileJson> | null;
  if (profile === null || typeof profile !== "object" || !Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
    throw new CpuProfileFormatError("lacks nodes, samples or timeDeltas");
  }
  if (profile.samples.length !== profile.timeDeltas.length) throw new CpuProfileFormatError("samples and timeDeltas differ in length");
  for (const node of profile.nodes) {
    if (node === null || typeof node !== "object" || typeof node.id !== "number" || typeof node.callFrame?.functionName !== "string" || typeof node.callFrame.url !== "string") {
      throw new CpuProfileFormatError("malformed node");
    }
  }
  return profile as CpuProfileJson;
}

/** Which Antler process a profile belongs to, from where its samples' code lives. */
export function serviceOf(profile: CpuProfileJson): string {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame.url]));
  const votes = new Map<string, number>();
  for (const sample of profile.samples) {
    const url = byNode.get(sample) ?? "";
    const service = /\/services\/(gateway|router|shard)\//.exec(url)?.[1] ?? (/\/deploy\/local\//.test(url) ? "launcher" : null);
    if (service !== null) votes.set(service, (votes.get(service) ?? 0) + 1);
  }
  let best = "node";
  let bestVotes = 0;
  for (const [service, count] of votes) {
    if (count > bestVotes) [best, bestVotes] = [service, count];
  }
  return best;
}

function frameName(frame: CpuProfileJson["nodes"][number]["callFrame"], root: string): string {
  if (frame.url === "") return frame.functionName || "(anonymous)";
  const file = frame.url.startsWith("file://") ? path.relative(root, new URL(frame.url).pathname) : frame.url;
  // lineNumber is 0-based in profiles.
  return `${frame.functionName || "(anonymous)"} (${file}:${frame.lineNumber + 1})`;
}

/**
 * Self time per function, largest first, as shares of the busy (non-idle) time; only samples
 * inside `window` when one is given (wall time then is the window's overlap with the profile).
 */
export function summarizeCpuProfile(profile: CpuProfileJson, file: string, top: number, root: string, window: ProfileWindow | null = null): ProcessProfile {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfByName = new Map<string, number>();
  let busyMicros = 0;
  let at = profile.startTime;
  profile.samples.forEach((sample, index) => {
    const frame = frames.get(sample);
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (window !== null && (at < window.startMicros || at > window.endMicros)) return;
    if (frame === undefined || frame.functionName === "(idle)" || delta <= 0) return;
    busyMicros += delta;
    const name = frameName(frame, root);
    selfByName.set(name, (selfByName.get(name) ?? 0) + delta);
  });
  const costs = [...selfByName.entries()]
    .map(([name, selfMicros]) => ({ name, selfMicros, share: busyMicros > 0 ? selfMicros / busyMicros : 0 }))
    .sort((a, b) => b.selfMicros - a.selfMicros)
    .slice(0, top);
  const wallMicros =
    window === null
      ? profile.endTime - profile.startTime
      : Math.max(0, Math.min(profile.endTime, window.endMicros) - Math.max(profile.startTime, window.startMicros));
  const named = /^CPU\.[0-9]+\.[0-9]+\.([0-9]+)\.([0-9]+)\.[0-9]+\.cpuprofile$/.exec(path.basename(file));
  return {
    file,
    pid: named === null ? null : Number(named[1]),
    thread: named === null ? null : Number(named[2]),
    service: serviceOf(profile),
    busyMicros,
    wallMicros,
    top: costs,
  };
}

/** Every `.cpuprofile` in `dir`, summarized; unreadable ones are reported in `skipped`. */
export async function readCpuProfiles(dir: string, top: number, root: string, window: ProfileWindow | null = null): Promise<{ processes: ProcessProfile[]; skipped: string[] }> {
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith(".cpuprofile")).sort();
  const processes: ProcessProfile[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    try {
      processes.push(summarizeCpuProfile(parseCpuProfile(await fsp.readFile(path.join(dir, name), "utf8")), name, top, root, window));
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  return { processes, skipped };
}
