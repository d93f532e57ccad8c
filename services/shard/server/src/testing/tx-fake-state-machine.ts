/**
 * A small state machine for testing the shard server's cross-shard paths without shard-core:
 * - `create` of a name in `locked` answers TXLOCKED (a prepared transaction holds it);
 * - `mkdir` is always forwarded to the coordinator;
 * - `lookup` of "remote:<inode>" needs that inode's attributes from its shard (ENOENT if missing);
 *   `readdir` of any inode lists `remoteEntries`, with their attributes when asked (a missing one
 *   is left out);
 * - `preparedTransactions` lists `prepared`; txcommit/txabort remove one and log it.
 */
import { nameFromText, nameToText, Status, type Attr, type Command, type Ctx, type Result } from "@antler/ops";
import type { PreparedTransaction, ShardExecution, TransactionalStateMachine } from "../state-machine.ts";

export type TxFakeEntry =
  | { readonly op: "create"; readonly name: string; readonly inode: number }
  | { readonly op: "txcommit" | "txabort"; readonly txid: string; readonly slot: number; readonly newInode?: number; readonly sessionId: number };

export class TxFakeStateMachine implements TransactionalStateMachine<TxFakeEntry> {
  readonly names = new Map<string, number>();
  readonly locked = new Set<string>();
  /** Every execute, in order: the command kind, the name (if any) and the caller's session. */
  readonly executed: { readonly kind: string; readonly name?: string; readonly sessionId: number }[] = [];
  prepared: PreparedTransaction[] = [];
  readonly resolutions: TxFakeEntry[] = [];
  remoteEntries: { readonly name: string; readonly inode: number }[] = [];
  nextInode = 2;

  execute(cmd: Command, ctx: Ctx, _nowMs: number): ShardExecution<TxFakeEntry> {
    const name = "name" in cmd && typeof cmd.name === "string" ? nameToText(cmd.name) : undefined;
    this.executed.push({ kind: cmd.kind, ...(name !== undefined ? { name } : {}), sessionId: ctx.sessionId });
    switch (cmd.kind) {
      case "create": {
        if (this.locked.has(name!)) return { result: { status: Status.TXLOCKED }, entry: null };
        if (this.names.has(name!)) return { result: { status: Status.EEXIST }, entry: null };
        const entry: TxFakeEntry = { op: "create", name: name!, inode: this.nextInode };
        this.apply(entry);
        return { result: { status: Status.OK, inode: entry.inode, attr: fileAttr(entry.inode), oflags: 0 } as Result, entry };
      }
      case "mkdir":
        return { result: { status: Status.OK } as Result, entry: null, forward: "coordinator" };
      case "lookup": {
        const remote = /^remote:(\d+)$/.exec(name!);
        if (remote === null) {
          const inode = this.names.get(name!);
          return { result: inode === undefined ? { status: Status.ENOENT } : ({ status: Status.OK, inode, attr: fileAttr(inode), lflags: 0 } as Result), entry: null };
        }
        const inode = Number(remote[1]);
        return {
          result: { status: Status.OK } as Result,
          entry: null,
          remote: {
            inodes: [inode],
            complete: (attrs) => {
              const attr = attrs.get(inode) ?? null;
              return attr === null ? { status: Status.ENOENT } : ({ status: Status.OK, inode, attr, lflags: 0 } as Result);
            },
          },
        };
      }
      case "readdir": {
        const listed = this.remoteEntries;
        const withAttr = cmd.withAttr;
        return {
          result: { status: Status.OK } as Result,
          entry: null,
          remote: {
            inodes: listed.map((e) => e.inode),
            complete: (attrs) => ({
              status: Status.OK,
              entries: listed
                .filter((e) => attrs.get(e.inode) != null)
                .map((e) => ({ name: nameFromText(e.name), inode: e.inode, type: 1, ...(withAttr ? { attr: attrs.get(e.inode)! } : {}) })),
            }) as Result,
          },
        };
      }
      case "txcommit":
      case "txabort": {
        if (!this.prepared.some((txn) => txn.txid === cmd.txid)) return { result: { status: Status.OK } as Result, entry: null };
        const entry: TxFakeEntry = {
          op: cmd.kind,
          txid: cmd.txid,
          slot: cmd.slot,
          ...(cmd.kind === "txcommit" && cmd.newInode !== undefined ? { newInode: cmd.newInode } : {}),
          sessionId: ctx.sessionId,
        };
        this.apply(entry);
        return { result: { status: Status.OK, outputs: [] } as Result, entry };
      }
      default:
        return { result: { status: Status.ENOTSUP }, entry: null };
    }
  }

  apply(entry: TxFakeEntry): void {
    if (entry.op === "create") {
      this.names.set(entry.name, entry.inode);
      this.nextInode = entry.inode + 1;
      return;
    }
    this.prepared = this.prepared.filter((txn) => txn.txid !== entry.txid);
    this.resolutions.push(entry);
  }

  maintain(): TxFakeEntry | null {
    return null;
  }

  preparedTransactions(): readonly PreparedTransaction[] {
    return this.prepared;
  }

  stats(): { inodes: number; dirs: number; files: number } {
    return { inodes: this.names.size + 1, dirs: 1, files: this.names.size };
  }

  encodeEntry(entry: TxFakeEntry): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(entry));
  }

  decodeEntry(bytes: Uint8Array): TxFakeEntry {
    return JSON.parse(new TextDecoder().decode(bytes)) as TxFakeEntry;
  }
}

export function fileAttr(inode: number): Attr {
  return { type: 1, mode: 0o644, uid: 0, gid: 0, atime: inode, mtime: inode, ctime: inode, nlink: 1, length: 0, rdev: 0, flags: 0, winattr: 0 } as Attr;
}
