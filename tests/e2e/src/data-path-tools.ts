// The MooseFS client tools the file-data suite uses (mfssetgoal, mfssettrashtime, mfsfileinfo,
// mfscheckfile, mfsmakesnapshot) and parsers for what they print.
// Output formats are those of mfstools.c in MooseFS 3.0.117.

import type { Netns } from "./netns.ts";
import { describeFailure, type RunResult } from "./proc.ts";

const toolTimeoutMs = 60_000;

/** Where one copy of a chunk is and what the master thinks of it. */
export interface ChunkCopy {
  readonly host: string;
  readonly port: number;
  /** "VALID", "INVALID", "WRONG VERSION", "MARKED FOR REMOVAL", ... */
  readonly status: string;
}

/** One chunk of a file as mfsfileinfo shows it; a hole ("empty") has no id. */
export interface ChunkInfo {
  readonly index: number;
  /** 16 upper-case hex digits, as in the chunk file names on the chunkservers. */
  readonly id?: string;
  /** 8 upper-case hex digits. */
  readonly version?: string;
  readonly copies: readonly ChunkCopy[];
}

export class ToolOutputError extends Error {
  override readonly name = "ToolOutputError";
}

/**
 * Parses `mfsfileinfo FILE` for a single file:
 *   FILE:
 *   \tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)
 *   \t\tcopy 1: 10.213.100.1:9422 (status:VALID)
 *   \tchunk 1: empty
 *   \tno chunks - empty file
 */
export function parseFileInfo(text: string): ChunkInfo[] {
  const chunks: { index: number; id?: string; version?: string; copies: ChunkCopy[] }[] = [];
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  if (lines.length === 0 || !lines[0]!.endsWith(":")) throw new ToolOutputError(`mfsfileinfo: no "FILE:" header in ${JSON.stringify(text.slice(0, 200))}`);
  for (const line of lines.slice(1)) {
    const trimmed = line.trim();
    const chunk = /^chunk (\d+): ([0-9A-F]{16})_([0-9A-F]{8}) /.exec(trimmed);
    const hole = /^chunk (\d+): empty$/.exec(trimmed);
    const copy = /^copy \d+: ([0-9.]+):(\d+) \(status:([^)]*)\)/.exec(trimmed);
    if (chunk !== null) chunks.push({ index: Number(chunk[1]), id: chunk[2]!, version: chunk[3]!, copies: [] });
    else if (hole !== null) chunks.push({ index: Number(hole[1]), copies: [] });
    else if (copy !== null) {
      const current = chunks[chunks.length - 1];
      if (current === undefined) throw new ToolOutputError(`mfsfileinfo: copy before any chunk: ${line}`);
      current.copies.push({ host: copy[1]!, port: Number(copy[2]), status: copy[3]!.split(" ; ")[0]!.trim() });
    } else if (trimmed === "no chunks - empty file" || trimmed === "no valid copies !!!") {
      // Nothing to record: an empty file has no chunks; a chunk without copies has none listed.
    } else {
      throw new ToolOutputError(`mfsfileinfo: unexpected line ${JSON.stringify(line)}`);
    }
  }
  return chunks;
}

/**
 * Parses `mfscheckfile FILE`: how many chunks have how many valid copies.
 *   FILE:
 *    chunks with 2 copies:            3
 *    chunks with 0 copies:            1
 *    empty (zero) chunks:             1
 * Returns copies → chunk count (holes under key -1 are left out).
 */
export function parseCheckFile(text: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of text.split("\n")) {
    const copies = /^\s*chunks with (\d+)\+? cop(?:y|ies):\s*(\d+)\s*$/.exec(line);
    if (copies !== null) counts.set(Number(copies[1]), Number(copies[2]));
  }
  return counts;
}

/** What is wrong with a file's chunks when every chunk must have exactly `goal` VALID copies. */
export function copyProblems(chunks: readonly ChunkInfo[], goal: number): string[] {
  const problems: string[] = [];
  for (const chunk of chunks) {
    if (chunk.id === undefined) continue;
    const valid = chunk.copies.filter((copy) => copy.status === "VALID").length;
    if (valid !== goal || chunk.copies.length !== goal) {
      const copies = chunk.copies.map((copy) => `${copy.port}:${copy.status}`).join(",");
      problems.push(`chunk ${chunk.index} ${chunk.id}_${chunk.version}: ${valid} valid of ${chunk.copies.length} [${copies}]`);
    }
  }
  return problems;
}

/**
 * The tools, run inside the cluster's namespace: they reach the master through the mount's proxy,
 * which mfsmount opens on 127.0.0.1 of its own network namespace, so they must run in that one.
 */
export class MfsTools {
  readonly #netns: Netns;

  constructor(netns: Netns) {
    this.#netns = netns;
  }

  /** Runs one tool; a failure carries its output. */
  async run(argv: readonly string[]): Promise<RunResult> {
    const result = await this.#netns.run(argv, { timeoutMs: toolTimeoutMs });
    if (result.code !== 0) throw new Error(describeFailure(result));
    return result;
  }

  async fileInfo(path: string): Promise<ChunkInfo[]> {
    return parseFileInfo((await this.run(["mfsfileinfo", path])).stdout);
  }

  async checkFile(path: string): Promise<Map<number, number>> {
    return parseCheckFile((await this.run(["mfscheckfile", path])).stdout);
  }

  /** `mfssetgoal [-r] GOAL PATH`, checked with `mfsgetgoal`. */
  async setGoal(path: string, goal: number, recursive: boolean): Promise<void> {
    await this.run(["mfssetgoal", ...(recursive ? ["-r"] : []), String(goal), path]);
    const shown = (await this.run(["mfsgetgoal", path])).stdout;
    if (!new RegExp(`: ${goal}$`).test(shown.trim())) throw new Error(`mfsgetgoal ${path} after mfssetgoal ${goal}: ${shown}`);
  }

  /** `mfssettrashtime [-r] SECONDS PATH` (mfsmaster 3.0 keeps it in whole hours, rounded up). */
  async setTrashTime(path: string, seconds: number, recursive: boolean): Promise<void> {
    await this.run(["mfssettrashtime", ...(recursive ? ["-r"] : []), String(seconds), path]);
  }

  async makeSnapshot(source: string, destination: string): Promise<void> {
    await this.run(["mfsmakesnapshot", source, destination]);
  }
}
