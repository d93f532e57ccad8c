// One trial of the sharded crash test (sharded-crash.e2e.ts): the operations, drawn from a seed,
// and the verdict on what the mount shows after the crash and the recovery.
//
// A trial works in its own directory t<n> with parents p0..p3 (each on the shard its slot maps
// to). The preparation (before any kill) makes what the burst needs; the burst then runs
// operations that are mostly cross-shard, each on names no other operation of the trial touches,
// so each one's effect can be judged alone:
//   mkdir   pA/n<k>                 a new directory's node usually lands on another shard
//   rename  pA/r<k> -> pB/rr<k>     a directory to another parent (always via the coordinator)
//   link    pA/f<k> -> pB/l<k>      the file's node stays on pA's shard, the entry goes to pB's
//   unlink  pB/ul<k>                a link made in the preparation to pA/u<k>: a remote entry
//   rmdir   pA/e<k>                 an empty directory, usually on another shard than pA
//
// The verdict (`judgeTrial`, pure): an operation acknowledged to the client (it returned success)
// must be visible; every operation, acknowledged or not, must be all or nothing: a directory at
// exactly one of its old and new paths, with its own inode and contents; a link count matching
// the names that exist; and a name listed by its parent exactly when it can be looked up.

import { dirname } from "node:path";

export type BurstOp =
  | { readonly kind: "mkdir"; readonly path: string }
  | { readonly kind: "rename"; readonly from: string; readonly to: string }
  | { readonly kind: "link"; readonly existing: string; readonly path: string }
  | { readonly kind: "unlink"; readonly path: string; readonly other: string }
  | { readonly kind: "rmdir"; readonly path: string };

/** A call for burst_ops.py: [kind, path, path2?] relative to its root. */
export type BurstCall = readonly [string, string] | readonly [string, string, string];

export interface TrialPlan {
  readonly base: string;
  readonly parents: readonly string[];
  /** Preparation in phases: each phase's calls may run at once, the phases one after the other. */
  readonly prep: readonly (readonly BurstCall[])[];
  readonly burst: readonly BurstOp[];
  /** In every renamed directory: a file that must move with it. */
  readonly marker: string;
}

export interface TrialSizes {
  readonly parents: number;
  readonly mkdirs: number;
  readonly renames: number;
  readonly links: number;
  readonly unlinks: number;
  readonly rmdirs: number;
}

export const defaultTrialSizes: TrialSizes = { parents: 4, mkdirs: 8, renames: 6, links: 6, unlinks: 4, rmdirs: 4 };

const marker = "m";

export function planTrial(trial: number, random: () => number, sizes: TrialSizes = defaultTrialSizes): TrialPlan {
  const base = `t${trial}`;
  const parents = Array.from({ length: sizes.parents }, (_, index) => `${base}/p${index}`);
  const pick = (): string => parents[Math.floor(random() * parents.length)]!;
  /** Another parent than `parent` (when there is another one). */
  const other = (parent: string): string => {
    if (parents.length === 1) return parent;
    for (;;) {
      const chosen = pick();
      if (chosen !== parent) return chosen;
    }
  };
  const children: BurstCall[] = [];
  const grandchildren: BurstCall[] = [];
  const burst: BurstOp[] = [];
  for (let k = 0; k < sizes.mkdirs; k++) burst.push({ kind: "mkdir", path: `${pick()}/n${k}` });
  for (let k = 0; k < sizes.renames; k++) {
    const from = `${pick()}/r${k}`;
    children.push(["mkdir", from]);
    grandchildren.push(["create", `${from}/${marker}`]);
    burst.push({ kind: "rename", from, to: `${other(dirname(from))}/rr${k}` });
  }
  for (let k = 0; k < sizes.links; k++) {
    const existing = `${pick()}/f${k}`;
    children.push(["create", existing]);
    burst.push({ kind: "link", existing, path: `${other(dirname(existing))}/l${k}` });
  }
  for (let k = 0; k < sizes.unlinks; k++) {
    const original = `${pick()}/u${k}`;
    const path = `${other(dirname(original))}/ul${k}`;
    children.push(["create", original]);
    grandchildren.push(["link", original, path]);
    burst.push({ kind: "unlink", path, other: original });
  }
  for (let k = 0; k < sizes.rmdirs; k++) {
    const path = `${pick()}/e${k}`;
    children.push(["mkdir", path]);
    burst.push({ kind: "rmdir", path });
  }
  // Shuffled, so each kind of operation can be the one in flight at the kill.
  for (let index = burst.length - 1; index > 0; index--) {
    const swap = Math.floor(random() * (index + 1));
    [burst[index], burst[swap]] = [burst[swap]!, burst[index]!];
  }
  return {
    base,
    parents,
    prep: [[["mkdir", base]], parents.map((parent): BurstCall => ["mkdir", parent]), children, grandchildren],
    burst,
    marker,
  };
}

export function callOf(op: BurstOp): BurstCall {
  switch (op.kind) {
    case "mkdir":
    case "rmdir":
    case "unlink":
      return [op.kind, op.path];
    case "rename":
      return ["rename", op.from, op.to];
    case "link":
      return ["link", op.existing, op.path];
  }
}

export function describeOp(op: BurstOp): string {
  switch (op.kind) {
    case "rename":
      return `rename ${op.from} -> ${op.to}`;
    case "link":
      return `link ${op.existing} -> ${op.path}`;
    default:
      return `${op.kind} ${op.path}`;
  }
}

/** "ok" (acknowledged), an errno name, or "unanswered" (no reply before the burst was cut off). */
export type Outcome = string;

/** What one lookup (lstat) through the mount found. */
export interface Looked {
  readonly inode: number;
  readonly type: "d" | "f" | "l" | "o";
  readonly nlink: number;
}

/** The mount after recovery, as far as a trial's judgement needs it. */
export interface TrialView {
  /** lstat of a path relative to the mount's crash root; null = ENOENT. */
  lookup(path: string): Looked | null;
  /** The names a directory lists; null when it cannot be listed. */
  listing(dir: string): readonly string[] | null;
}

/** Every path `judgeTrial` looks up, and every directory it may list, for a plan. */
export function pathsToView(plan: TrialPlan): { readonly lookups: string[]; readonly listings: string[] } {
  const lookups = new Set<string>();
  for (const op of plan.burst) {
    switch (op.kind) {
      case "rename":
        lookups.add(op.from).add(op.to).add(`${op.from}/${plan.marker}`).add(`${op.to}/${plan.marker}`);
        break;
      case "link":
        lookups.add(op.existing).add(op.path);
        break;
      case "unlink":
        lookups.add(op.path).add(op.other);
        break;
      default:
        lookups.add(op.path);
    }
  }
  // New directories are listed too (judged only where they exist).
  const made = plan.burst.flatMap((op) => (op.kind === "mkdir" ? [op.path] : []));
  return { lookups: [...lookups], listings: [...plan.parents, ...made] };
}

/**
 * The violations in one trial (empty = it passed). `prepInodes` holds the inode of every
 * renamed directory and linked file as the preparation made them.
 */
export function judgeTrial(plan: TrialPlan, outcomes: readonly Outcome[], prepInodes: ReadonlyMap<string, number>, view: TrialView): string[] {
  const violations: string[] = [];
  const base = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
  /** Listed by its parent exactly when it can be looked up. */
  const consistent = (path: string, found: Looked | null, what: string): void => {
    const listed = view.listing(dirname(path));
    if (listed === null) {
      violations.push(`${what}: ${dirname(path)} cannot be listed`);
      return;
    }
    const isListed = listed.includes(base(path));
    if (isListed !== (found !== null)) {
      violations.push(`${what}: ${path} ${isListed ? "is listed but cannot be looked up" : "can be looked up but is not listed"}`);
    }
  };
  plan.burst.forEach((op, index) => {
    const outcome = outcomes[index] ?? "unanswered";
    const acknowledged = outcome === "ok";
    const what = `${describeOp(op)} (${outcome})`;
    switch (op.kind) {
      case "mkdir": {
        const found = view.lookup(op.path);
        consistent(op.path, found, what);
        if (acknowledged && found === null) violations.push(`${what}: acknowledged, but the directory does not exist`);
        if (found !== null && found.type !== "d") violations.push(`${what}: ${op.path} is a ${found.type}, not a directory`);
        if (found !== null && view.listing(op.path) === null) violations.push(`${what}: the new directory cannot be listed`);
        break;
      }
      case "rename": {
        const atOld = view.lookup(op.from);
        const atNew = view.lookup(op.to);
        consistent(op.from, atOld, what);
        consistent(op.to, atNew, what);
        if (atOld !== null && atNew !== null) violations.push(`${what}: the directory is at both paths (inodes ${atOld.inode}, ${atNew.inode})`);
        if (atOld === null && atNew === null) violations.push(`${what}: the directory is at neither path (lost)`);
        if (acknowledged && atNew === null) violations.push(`${what}: acknowledged, but nothing is at the new path`);
        const [path, found] = atNew !== null ? [op.to, atNew] : [op.from, atOld];
        if (found !== null) {
          const inode = prepInodes.get(op.from);
          if (found.type !== "d") violations.push(`${what}: ${path} is a ${found.type}, not the directory`);
          if (inode !== undefined && found.inode !== inode) violations.push(`${what}: ${path} has inode ${found.inode}, the directory had ${inode}`);
          if (view.lookup(`${path}/${plan.marker}`) === null) violations.push(`${what}: ${path}/${plan.marker} is missing (the directory's contents did not move with it)`);
        }
        break;
      }
      case "link": {
        const source = view.lookup(op.existing);
        const made = view.lookup(op.path);
        consistent(op.existing, source, what);
        consistent(op.path, made, what);
        if (source === null) {
          violations.push(`${what}: the original ${op.existing} is gone`);
          break;
        }
        if (acknowledged && made === null) violations.push(`${what}: acknowledged, but the new name does not exist`);
        if (made !== null && made.inode !== source.inode) violations.push(`${what}: the new name is inode ${made.inode}, the original ${source.inode}`);
        const expectedLinks = made === null ? 1 : 2;
        if (source.nlink !== expectedLinks) violations.push(`${what}: ${op.existing} has nlink ${source.nlink} while ${expectedLinks} name(s) exist`);
        break;
      }
      case "unlink": {
        const removed = view.lookup(op.path);
        const kept = view.lookup(op.other);
        consistent(op.path, removed, what);
        consistent(op.other, kept, what);
        if (kept === null) {
          violations.push(`${what}: the other name ${op.other} is gone`);
          break;
        }
        if (acknowledged && removed !== null) violations.push(`${what}: acknowledged, but the name still exists`);
        if (removed !== null && removed.inode !== kept.inode) violations.push(`${what}: ${op.path} is inode ${removed.inode}, ${op.other} ${kept.inode}`);
        const expectedLinks = removed === null ? 1 : 2;
        if (kept.nlink !== expectedLinks) violations.push(`${what}: ${op.other} has nlink ${kept.nlink} while ${expectedLinks} name(s) exist`);
        break;
      }
      case "rmdir": {
        const found = view.lookup(op.path);
        consistent(op.path, found, what);
        if (acknowledged && found !== null) violations.push(`${what}: acknowledged, but the directory still exists`);
        if (found !== null && found.type !== "d") violations.push(`${what}: ${op.path} is a ${found.type}, not a directory`);
        break;
      }
    }
  });
  return violations;
}

/**
 * Failures no client should see here: every name an operation needs exists before the burst and
 * no other operation touches it, so ENOENT is only right for a retried removal whose first attempt
 * already did the work (the name is gone). Anything else answered ENOENT means the cluster
 * reported an existing parent or node as missing (e.g. while one of its shards was failing over).
 */
export function spuriousErrors(plan: TrialPlan, outcomes: readonly Outcome[], view: TrialView): string[] {
  const found: string[] = [];
  plan.burst.forEach((op, index) => {
    if (outcomes[index] !== "ENOENT") return;
    const removedAnyway =
      (op.kind === "rmdir" || op.kind === "unlink") ? view.lookup(op.path) === null :
      op.kind === "rename" ? view.lookup(op.from) === null :
      false;
    if (!removedAnyway) found.push(`${describeOp(op)}: ENOENT, though every name it needs existed`);
  });
  return found;
}
