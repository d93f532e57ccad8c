/**
 * Which inode's slot owns a command. Single-slot commands go to the shard that owns that slot;
 * "all" commands (session bookkeeping, statfs) go to every shard.
 */
import type { Command } from "./command.ts";
export { slotOfInode } from "@antler/slots";

/** By an inode's slot, by an explicit slot (chunk reports: the chunk id's slot), or to every shard. */
export type Route = { readonly inode: number } | { readonly slot: number } | "all";

export function routeOf(cmd: Command): Route {
  switch (cmd.kind) {
    case "statfs":
    case "sustained":
    case "amtime":
    case "closesession":
    case "chunkserverreset":
      return "all";
    case "chunkscopies":
    case "chunksgone":
    case "txprepare":
    case "txcommit":
    case "txabort":
    case "fsckdump":
      return { slot: cmd.slot };
    case "lookup":
    case "symlink":
    case "mknod":
    case "mkdir":
    case "create":
    case "unlink":
    case "rmdir":
      return { inode: cmd.parent };
    case "rename":
      return { inode: cmd.parentSrc };
    case "link":
      return { inode: cmd.parentDst };
    default:
      return { inode: cmd.inode };
  }
}
