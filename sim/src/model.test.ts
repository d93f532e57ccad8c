import { test } from "node:test";
import assert from "node:assert/strict";
import { createStateMachine } from "@antler/shard-core";
import { NodeType, SetMask, Status, XattrMode, type Command, type Ctx } from "@antler/ops";
import { compareResult, NamespaceModel } from "./model.ts";
import { Prng } from "./prng.ts";
import { fnvDirectorySlot } from "./simulation.ts";
import { Knowledge, nextCaller, nextCommand } from "./workload.ts";

const ctx: Ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const mkdir = (parent: number, name: string): Command => ({ kind: "mkdir", parent, name, mode: 0o755, umask: 0o022, copysgid: false });
const create = (parent: number, name: string): Command => ({ kind: "create", parent, name, mode: 0o644, umask: 0o022 });

test("model: creation, lookup and the errors mfsmaster checks first", () => {
  const m = new NamespaceModel();
  const dir = m.apply(mkdir(1, "d"), ctx);
  assert.equal(dir.status, Status.OK);
  assert.deepEqual(dir.attr, { type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, nlink: 2 });
  assert.equal(m.apply(mkdir(1, "d"), ctx).status, Status.EEXIST);
  const file = m.apply(create(dir.inode!, "f"), ctx);
  assert.equal(file.attr?.mode, 0o644 & ~0o022);
  assert.equal(m.apply(mkdir(file.inode!, "x"), ctx).status, Status.ENOTDIR);
  assert.equal(m.apply(mkdir(999, "x"), ctx).status, Status.ENOENT);
  assert.equal(m.apply({ kind: "lookup", parent: 999, name: "x" }, ctx).status, Status.ENOENT_NOCACHE);
  assert.equal(m.apply({ kind: "lookup", parent: dir.inode!, name: "." }, ctx).inode, dir.inode);
  assert.equal(m.apply({ kind: "lookup", parent: dir.inode!, name: ".." }, ctx).inode, 1);
  assert.equal(m.apply({ kind: "lookup", parent: 1, name: ".." }, ctx).inode, 1);
  assert.equal(m.apply(mkdir(1, "a/b"), ctx).status, Status.EINVAL);
  assert.equal(m.attrOf(1).nlink, 3, "root: 2 + one subdirectory");
});

test("model: unlink, rmdir and the trash", () => {
  const m = new NamespaceModel();
  const dir = m.apply(mkdir(1, "d"), ctx).inode!;
  const file = m.apply(create(dir, "f"), ctx).inode!;
  assert.equal(m.apply({ kind: "unlink", parent: 1, name: "d" }, ctx).status, Status.EPERM);
  assert.equal(m.apply({ kind: "rmdir", parent: dir, name: "f" }, ctx).status, Status.ENOTDIR);
  assert.equal(m.apply({ kind: "rmdir", parent: 1, name: "d" }, ctx).status, Status.ENOTEMPTY);
  assert.equal(m.apply({ kind: "unlink", parent: dir, name: "f" }, ctx).status, Status.OK);
  // The file went to the trash: still there by inode, with no links, and not linkable.
  assert.equal(m.apply({ kind: "getattr", inode: file, opened: false }, ctx).attr?.nlink, 0);
  assert.equal(m.apply({ kind: "link", inode: file, parentDst: 1, nameDst: "g" }, ctx).status, Status.ENOENT);
  assert.equal(m.apply({ kind: "rmdir", parent: 1, name: "d" }, ctx).status, Status.OK);
  assert.equal(m.apply({ kind: "getattr", inode: dir, opened: false }, ctx).status, Status.ENOENT);
  const link = m.apply({ kind: "symlink", parent: 1, name: "s", target: "x/y" }, ctx);
  assert.equal(link.attr?.length, 3);
  m.apply({ kind: "unlink", parent: 1, name: "s" }, ctx);
  assert.equal(m.apply({ kind: "readlink", inode: link.inode! }, ctx).status, Status.ENOENT, "symlinks are not kept in the trash");
});

test("model: rename rules", () => {
  const m = new NamespaceModel();
  const a = m.apply(mkdir(1, "a"), ctx).inode!;
  const b = m.apply(mkdir(a, "b"), ctx).inode!;
  assert.equal(m.apply({ kind: "rename", parentSrc: 1, nameSrc: "a", parentDst: b, nameDst: "x" }, ctx).status, Status.EINVAL);
  assert.equal(m.apply({ kind: "rename", parentSrc: 1, nameSrc: "a", parentDst: a, nameDst: "x" }, ctx).status, Status.EINVAL, "into itself");
  m.apply(create(b, "f"), ctx);
  m.apply(mkdir(1, "c"), ctx);
  assert.equal(m.apply({ kind: "rename", parentSrc: 1, nameSrc: "c", parentDst: a, nameDst: "b" }, ctx).status, Status.ENOTEMPTY);
  const f = m.apply(create(1, "f"), ctx).inode!;
  m.apply({ kind: "link", inode: f, parentDst: 1, nameDst: "g" }, ctx);
  const same = m.apply({ kind: "rename", parentSrc: 1, nameSrc: "f", parentDst: 1, nameDst: "g" }, ctx);
  assert.equal(same.attr?.nlink, 2, "onto another link of the same file: nothing happens");
  const moved = m.apply({ kind: "rename", parentSrc: 1, nameSrc: "c", parentDst: a, nameDst: "c2" }, ctx);
  assert.equal(moved.status, Status.OK);
  assert.equal(m.attrOf(a).nlink, 4);
  assert.equal(m.apply({ kind: "link", inode: a, parentDst: 1, nameDst: "h" }, ctx).status, Status.EPERM, "no directory hard links");
});

test("model: setattr and xattrs", () => {
  const m = new NamespaceModel();
  const f = m.apply(create(1, "f"), ctx).inode!;
  const base = { kind: "setattr", inode: f, opened: false, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 } as const;
  assert.equal(m.apply({ ...base, setmask: SetMask.MODE, mode: 0o600, uid: 0, gid: 0 }, ctx).attr?.mode, 0o600);
  const owned = m.apply({ ...base, setmask: SetMask.UID | SetMask.GID, mode: 0, uid: 7, gid: 8 }, ctx).attr;
  assert.deepEqual([owned?.uid, owned?.gid, owned?.mode], [7, 8, 0o600]);
  const x = (mode: number, value = new Uint8Array([1])): Command => ({ kind: "setxattr", inode: f, name: "user.a", value, mode, opened: false });
  assert.equal(m.apply(x(XattrMode.REPLACE_ONLY), ctx).status, Status.ENOATTR);
  assert.equal(m.apply(x(XattrMode.CREATE_ONLY), ctx).status, Status.OK);
  assert.equal(m.apply(x(XattrMode.CREATE_ONLY), ctx).status, Status.EEXIST);
  assert.equal(m.apply(x(XattrMode.REPLACE_ONLY, new Uint8Array([9])), ctx).status, Status.OK);
  assert.equal(m.apply({ kind: "getxattr", inode: f, name: "user.a", mode: 0, opened: false }, ctx).xattrValue, "09");
  assert.equal(m.apply(x(XattrMode.REMOVE), ctx).status, Status.OK);
  assert.equal(m.apply(x(XattrMode.REMOVE), ctx).status, Status.ENOATTR);
});

test("compareResult reports the first difference", () => {
  assert.equal(compareResult({ status: 0 }, { status: 0 }), null);
  assert.match(compareResult({ status: Status.EEXIST }, { status: 0 }) ?? "", /status 0, model expects 5/);
  const attr = { type: NodeType.FILE, mode: 0o644, uid: 0, gid: 0, nlink: 1 };
  assert.match(compareResult({ status: 0, inode: 5, attr }, { status: 0, inode: 6, attr }) ?? "", /inode 6/);
  assert.match(compareResult({ status: 0, attr }, { status: 0, attr: { ...attr, nlink: 2 } }) ?? "", /nlink 2/);
  assert.equal(compareResult({ status: 0, attr }, { status: 0, attr: { ...attr, mode: 0o100644 } }), null, "type bits above the permissions are ignored");
});

test("model and the real state machine agree on 3000 random commands from one session, root and not", () => {
  // A differential test without the cluster: the same commands, in the same order.
  const sm = createStateMachine({ shardId: 0, metaId: 1n, slotOfNewDirectory: fnvDirectorySlot });
  const model = new NamespaceModel();
  const prng = Prng.fromSeed(2024);
  const knowledge = new Knowledge();
  for (let i = 0; i < 3_000; i++) {
    const cmd = nextCommand(prng, knowledge);
    const caller = { ...ctx, ...nextCaller(prng) };
    const { result } = sm.execute(cmd, { ...caller, requestId: `r${i}` }, 1_000_000 + i);
    const allocated = result.status === 0 && "inode" in result && ["mkdir", "create", "symlink"].includes(cmd.kind) ? (result as { inode: number }).inode : undefined;
    const diff = compareResult(model.apply(cmd, caller, allocated), result as never);
    assert.equal(diff, null, `command ${i} by uid ${caller.uid} ${JSON.stringify(cmd, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v))}`);
    knowledge.learn(cmd, result);
  }
});
