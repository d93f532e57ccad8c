/**
 * What simulated clients do: random namespace operations over a small set of names, so that
 * operations collide (the same name created, renamed and removed by several sessions at once).
 * A session learns inodes from the replies it gets and picks its targets among them; stale
 * knowledge (an inode another session removed) is part of the workload.
 */
import { NodeType, SetMask, type Command, type Result } from "@antler/ops";
import type { Prng } from "./prng.ts";

const names = ["a", "b", "c", "d", "e"];
const symlinkTargets = ["a", "../b", "/mnt/x", "c/d/e"];
const xattrNames = ["user.one", "user.two"];
const modes = [0o755, 0o700, 0o644, 0o600, 0o777, 0o750, 0o1777, 0o770];
const ids = [0, 1000, 1001];

export const operationWeights = {
  mkdir: 10,
  create: 10,
  lookup: 12,
  getattr: 8,
  rename: 10,
  unlink: 10,
  rmdir: 8,
  link: 5,
  symlink: 5,
  readlink: 2,
  setattr: 6,
  setxattr: 5,
  getxattr: 3,
  readdir: 4,
} as const;

export type OperationKind = keyof typeof operationWeights;

/**
 * A sharded cluster's mix: more of what crosses shards (a new directory lands on another shard
 * about half the time; renames, links and removals of what lives elsewhere), fewer plain reads.
 */
export const shardedOperationWeights: Readonly<Record<OperationKind, number>> = {
  ...operationWeights,
  mkdir: 14,
  rename: 18,
  link: 10,
  unlink: 14,
  rmdir: 10,
  lookup: 8,
  getattr: 5,
  setxattr: 3,
  getxattr: 2,
};

/** What one session knows about the namespace (possibly stale). */
export class Knowledge {
  readonly dirs = new Set<number>([1]);
  readonly others = new Set<number>();

  learn(cmd: Command, result: Result): void {
    if (result.status !== 0) {
      // A target that is gone: forget it so the session moves on.
      if (cmd.kind === "getattr" || cmd.kind === "setattr" || cmd.kind === "setxattr") this.#forget(cmd.inode);
      return;
    }
    if ("inode" in result && "attr" in result) {
      const { inode, attr } = result as { inode: number; attr: { type: number } };
      if (attr.type === NodeType.DIRECTORY) this.dirs.add(inode);
      else this.others.add(inode);
    }
  }

  #forget(inode: number): void {
    if (inode === 1) return;
    this.dirs.delete(inode);
    this.others.delete(inode);
  }
}

/** Who issues a request: root half of the time, else one of two users sharing group 1000. */
export interface Caller {
  readonly uid: number;
  readonly gids: readonly number[];
}

const callers: readonly Caller[] = [
  { uid: 0, gids: [0] },
  { uid: 0, gids: [0] },
  { uid: 1000, gids: [1000] },
  { uid: 1001, gids: [1001, 1000] },
];

export function nextCaller(prng: Prng): Caller {
  return prng.pick(callers);
}

export function nextCommand(prng: Prng, knowledge: Knowledge, weights: Readonly<Record<OperationKind, number>> = operationWeights): Command {
  const dir = (): number => prng.pick([...knowledge.dirs]);
  const any = (): number => prng.pick([...knowledge.dirs, ...knowledge.others]);
  const other = (): number => (knowledge.others.size > 0 ? prng.pick([...knowledge.others]) : any());
  const name = (): string => prng.pick(names);
  const kind = prng.weighted(weights);
  switch (kind) {
    case "mkdir":
      return { kind, parent: dir(), name: name(), mode: prng.pick(modes), umask: prng.pick([0o022, 0o002, 0]), copysgid: false };
    case "create":
      return { kind, parent: dir(), name: name(), mode: prng.pick(modes) & 0o777, umask: prng.pick([0o022, 0o002, 0]) };
    case "lookup":
      // Now and then "." or "..", which fs_lookup answers itself.
      return { kind, parent: dir(), name: prng.chance(0.05) ? prng.pick([".", ".."]) : name() };
    case "unlink":
    case "rmdir":
      return { kind, parent: dir(), name: name() };
    case "getattr":
      return { kind, inode: any(), opened: false };
    case "readlink":
      return { kind, inode: other() };
    case "rename": {
      const parentSrc = dir();
      const nameSrc = name();
      let parentDst = dir();
      let nameDst = name();
      // mfsmount never asks to rename an entry onto itself (the kernel answers that alone).
      if (parentSrc === parentDst && nameSrc === nameDst) {
        parentDst = 1;
        nameDst = nameSrc === "a" ? "b" : "a";
        if (parentSrc === parentDst && nameSrc === nameDst) nameDst = "c";
      }
      return { kind, parentSrc, nameSrc, parentDst, nameDst };
    }
    case "link":
      return { kind, inode: other(), parentDst: dir(), nameDst: name() };
    case "symlink":
      return { kind, parent: dir(), name: name(), target: prng.pick(symlinkTargets) };
    case "setattr": {
      const setmask = prng.pick([SetMask.MODE, SetMask.UID | SetMask.GID, SetMask.MODE | SetMask.UID]);
      return {
        kind,
        inode: any(),
        opened: false,
        setmask,
        mode: prng.pick(modes),
        uid: prng.pick(ids),
        gid: prng.pick(ids),
        atime: 0,
        mtime: 0,
        winattr: 0,
        sugidclearmode: 0,
      };
    }
    case "setxattr": {
      const value = Uint8Array.from({ length: prng.int(0, 8) }, () => prng.int(0, 255));
      return { kind, inode: any(), name: prng.pick(xattrNames), value, mode: prng.int(0, 3), opened: false };
    }
    case "getxattr":
      return { kind, inode: any(), name: prng.pick(xattrNames), mode: 0, opened: false };
    case "readdir":
      return { kind, inode: prng.chance(0.8) ? dir() : any(), withAttr: prng.chance(0.5), maxEntries: 100_000 };
  }
}
