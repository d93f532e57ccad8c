/**
 * A tiny state machine for testing the shard server without shard-core: a flat directory where
 * `create` allocates the next inode and `lookup` finds it. Like the real one, `execute` applies the
 * change at once and returns an entry carrying its full outcome; `apply` checks the outcome.
 */
import { Status, type Command, type Ctx, type Result } from "@antler/ops";
import type { ShardStateMachine } from "../state-machine.ts";

export interface FakeEntry {
  readonly op: "create" | "tick";
  readonly name?: string;
  readonly inode?: number;
  readonly nowMs?: number;
}

export class FakeStateMachine implements ShardStateMachine<FakeEntry> {
  readonly names = new Map<string, number>();
  nextInode = 2;
  ticks = 0;
  applied = 0;
  /** When set, maintain() emits a tick entry. */
  maintainEmits = false;

  execute(cmd: Command, _ctx: Ctx, nowMs: number): { result: Result; entry: FakeEntry | null } {
    // Like any state machine handed a command it did not expect, the fake throws on bad fields.
    if ((cmd.kind === "create" || cmd.kind === "lookup") && typeof cmd.name !== "string") throw new TypeError("name must be a string");
    if (cmd.kind === "create") {
      if (this.names.has(cmd.name)) return { result: { status: Status.EEXIST }, entry: null };
      const entry: FakeEntry = { op: "create", name: cmd.name, inode: this.nextInode };
      this.apply(entry);
      return { result: { status: 0, inode: entry.inode!, attr: attrAt(nowMs), oflags: 0 }, entry };
    }
    if (cmd.kind === "lookup") {
      const inode = this.names.get(cmd.name);
      if (inode === undefined) return { result: { status: Status.ENOENT }, entry: null };
      return { result: { status: 0, inode, attr: attrAt(nowMs), lflags: 0 }, entry: null };
    }
    if (cmd.kind === "statfs") {
      return { result: { status: 0, totalSpace: 0, availSpace: 0, freeSpace: 0, trashSpace: 0, sustainedSpace: 0, inodes: this.names.size }, entry: null };
    }
    return { result: { status: Status.ENOTSUP }, entry: null };
  }

  apply(entry: FakeEntry): void {
    this.applied++;
    if (entry.op === "tick") {
      this.ticks++;
      return;
    }
    if (entry.inode !== this.nextInode) throw new Error(`replay mismatch: entry allocated ${entry.inode}, state is at ${this.nextInode}`);
    this.names.set(entry.name!, entry.inode);
    this.nextInode++;
  }

  maintain(nowMs: number): FakeEntry | null {
    if (!this.maintainEmits) return null;
    const entry: FakeEntry = { op: "tick", nowMs };
    this.apply(entry);
    return entry;
  }

  encodeEntry(entry: FakeEntry): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(entry));
  }

  decodeEntry(bytes: Uint8Array): FakeEntry {
    return JSON.parse(new TextDecoder().decode(bytes)) as FakeEntry;
  }
}

function attrAt(nowMs: number) {
  const t = Math.floor(nowMs / 1000);
  return { type: 1 as const, mode: 0o644, uid: 0, gid: 0, atime: t, mtime: t, ctime: t, nlink: 1, length: 0, rdev: 0, flags: 0, winattr: 0 };
}
