// The tree of the sharded tree test (sharded-tree.e2e.ts), drawn from a seed: `tops` top-level
// directories, more directories below them up to `depthMax` levels (each new one under a random
// earlier one that is not yet at the bottom), files with varied modes and sizes spread over all
// directories, a few symbolic links, and hard links from one top-level subtree into another
// (a file's node lives on its directory's shard, so such a link is usually cross-shard).
//
// The writers work per top-level subtree (its directories parents first, then its files), so
// several can run at once; hard links go last, when every file exists.

import { seededRandom } from "@antler/testkit";

export interface TreeDir {
  readonly path: string;
  readonly mode: number;
  /** The top-level directory (0..tops-1) this one is in. */
  readonly top: number;
}

export interface TreeFile {
  readonly path: string;
  readonly mode: number;
  readonly size: number;
  /** Seeds the file's bytes (tree_writer.py derives them; the reference copy gets the same). */
  readonly seed: number;
  readonly top: number;
}

export interface TreeSymlink {
  readonly path: string;
  readonly target: string;
  readonly top: number;
}

export interface TreeHardLink {
  readonly existing: string;
  readonly path: string;
}

export interface TreePlan {
  readonly dirs: readonly TreeDir[];
  readonly files: readonly TreeFile[];
  readonly symlinks: readonly TreeSymlink[];
  readonly hardLinks: readonly TreeHardLink[];
}

export interface TreePlanOptions {
  readonly dirs: number;
  readonly files: number;
  readonly seed: number;
  readonly tops?: number;
  readonly depthMax?: number;
  /** One symlink per this many files (0: none). */
  readonly filesPerSymlink?: number;
  /** One hard link per this many files (0: none). */
  readonly filesPerHardLink?: number;
}

const fileModes = [0o644, 0o644, 0o644, 0o600, 0o640, 0o755, 0o444, 0o664] as const;
const dirModes = [0o755, 0o755, 0o755, 0o750, 0o700, 0o775] as const;

/** A size: a tenth empty, most under 1 KiB, some a few KiB, a few over one 64 KiB block. */
function drawSize(random: () => number): number {
  const kind = random();
  if (kind < 0.1) return 0;
  if (kind < 0.7) return 1 + Math.floor(random() * 1_024);
  if (kind < 0.95) return 1_025 + Math.floor(random() * 8_192);
  return 65_000 + Math.floor(random() * 10_000);
}

export function planTree(options: TreePlanOptions): TreePlan {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const tops = Math.max(1, Math.min(options.tops ?? 16, options.dirs));
  const depthMax = options.depthMax ?? 4;
  const dirs: Array<TreeDir & { readonly depth: number }> = [];
  const open: number[] = [];
  for (let top = 0; top < tops; top++) {
    dirs.push({ path: `t${top}`, mode: 0o755, top, depth: 1 });
    if (depthMax > 1) open.push(top);
  }
  while (dirs.length < options.dirs && open.length > 0) {
    const slot = Math.floor(random() * open.length);
    const parent = dirs[open[slot]!]!;
    const index = dirs.length;
    const made = { path: `${parent.path}/d${index}`, mode: pick(dirModes), top: parent.top, depth: parent.depth + 1 };
    dirs.push(made);
    if (made.depth < depthMax) open.push(index);
  }
  const files: TreeFile[] = [];
  for (let index = 0; index < options.files; index++) {
    const dir = pick(dirs);
    files.push({ path: `${dir.path}/f${index}`, mode: pick(fileModes), size: drawSize(random), seed: Math.floor(random() * 2 ** 31), top: dir.top });
  }
  const symlinks: TreeSymlink[] = [];
  const perSymlink = options.filesPerSymlink ?? 100;
  if (perSymlink > 0) {
    for (let index = 0; index < Math.floor(options.files / perSymlink); index++) {
      const dir = pick(dirs);
      const target = pick(files);
      symlinks.push({ path: `${dir.path}/s${index}`, target: `/elsewhere/${target.path}`, top: dir.top });
    }
  }
  const hardLinks: TreeHardLink[] = [];
  const perHardLink = options.filesPerHardLink ?? 50;
  if (perHardLink > 0 && files.length > 0) {
    const linked = new Set<string>();
    for (let index = 0; index < Math.floor(options.files / perHardLink); index++) {
      const existing = pick(files);
      if (linked.has(existing.path)) continue;
      linked.add(existing.path);
      // Another top-level subtree when there is one: the directories are elsewhere in the map.
      const others = tops > 1 ? dirs.filter((dir) => dir.top !== existing.top) : dirs;
      const dir = pick(others);
      hardLinks.push({ existing: existing.path, path: `${dir.path}/h${index}` });
    }
  }
  return { dirs: dirs.map(({ path, mode, top }) => ({ path, mode, top })), files, symlinks, hardLinks };
}

/** Splits the tree's directories, files and symlinks into `workers` parts by top-level subtree. */
export function partitionByTop(plan: TreePlan, workers: number): TreePlan[] {
  const parts = Array.from({ length: workers }, () => ({ dirs: [] as TreeDir[], files: [] as TreeFile[], symlinks: [] as TreeSymlink[], hardLinks: [] as TreeHardLink[] }));
  for (const dir of plan.dirs) parts[dir.top % workers]!.dirs.push(dir);
  for (const file of plan.files) parts[file.top % workers]!.files.push(file);
  for (const symlink of plan.symlinks) parts[symlink.top % workers]!.symlinks.push(symlink);
  return parts.filter((part) => part.dirs.length + part.files.length + part.symlinks.length > 0);
}
