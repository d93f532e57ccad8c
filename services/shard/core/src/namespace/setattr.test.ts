/**
 * SETATTR rules of mfsmaster's fs_setattr (protocol §3.4): who may chmod, chown, chgrp and set
 * times, suid/sgid clearing on chown per sugidclearmode, sgid dropped for non-members, the
 * kernel's suid-clearing special case, ctime; and AMTIME_INODES moving times only forward.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionFlag, SetMask, Status, type CommandOf } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const owner = ctxOf(1000, [1000, 60]);
const other = ctxOf(2000, [2000]);

function setattr(inode: number, fields: Partial<CommandOf<"setattr">>): CommandOf<"setattr"> {
  return { kind: "setattr", inode, opened: false, setmask: 0, mode: 0, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0, ...fields };
}

function ownedFile(h: Harness, mode = 0o644): number {
  const f = h.create(1, `f${h.nowMs}`, rootCtx, mode);
  h.ok(setattr(f, { setmask: SetMask.UID | SetMask.GID, uid: 1000, gid: 1000 }));
  return f;
}

test("only the owner or root chmods; others get EPERM", () => {
  const h = new Harness();
  const f = ownedFile(h);
  assert.equal(h.status(setattr(f, { setmask: SetMask.MODE, mode: 0o600 }), other), Status.EPERM);
  assert.equal(h.ok(setattr(f, { setmask: SetMask.MODE, mode: 0o600 }), owner).attr.mode, 0o600);
  assert.equal(h.ok(setattr(f, { setmask: SetMask.MODE, mode: 0o640 }), rootCtx).attr.mode, 0o640);
});

test("only root changes the owner; the owner chgrps only to his own groups", () => {
  const h = new Harness();
  const f = ownedFile(h);
  assert.equal(h.status(setattr(f, { setmask: SetMask.UID, uid: 2000 }), owner), Status.EPERM);
  assert.equal(h.status(setattr(f, { setmask: SetMask.UID, uid: 1000 }), owner), Status.OK, "chown to oneself is allowed");
  assert.equal(h.status(setattr(f, { setmask: SetMask.GID, gid: 70 }), owner), Status.EPERM);
  assert.equal(h.ok(setattr(f, { setmask: SetMask.GID, gid: 60 }), owner).attr.gid, 60);
  const ignoreGid = ctxOf(1000, [1000], 1, { sesflags: SessionFlag.IGNOREGID });
  assert.equal(h.status(setattr(f, { setmask: SetMask.GID, gid: 70 }), ignoreGid), Status.OK);
  const mapall = ctxOf(1000, [1000], 1, { sesflags: SessionFlag.MAPALL });
  assert.equal(h.status(setattr(f, { setmask: SetMask.GID, gid: 1000 }), mapall), Status.EPERM);
});

test("explicit times need ownership, *_NOW only write permission", () => {
  const h = new Harness();
  const f = ownedFile(h, 0o666);
  assert.equal(h.status(setattr(f, { setmask: SetMask.MTIME | SetMask.ATIME, atime: 5, mtime: 6 }), other), Status.EPERM);
  const now = h.ok(setattr(f, { setmask: SetMask.MTIME_NOW | SetMask.ATIME_NOW }), other).attr;
  assert.equal(now.mtime, now.atime);
  assert.equal(now.ctime, now.mtime);
  const g = ownedFile(h, 0o644);
  assert.equal(h.status(setattr(g, { setmask: SetMask.MTIME_NOW }), other), Status.EACCES);
  const times = h.ok(setattr(g, { setmask: SetMask.MTIME | SetMask.ATIME, atime: 5, mtime: 6 }), owner).attr;
  assert.equal(times.atime, 5);
  assert.equal(times.mtime, 6);
  assert.ok(times.ctime > 6, "ctime is the time of the change");
});

test("sgid is dropped when a non-member sets it; the kernel's suid clear needs no ownership", () => {
  const h = new Harness();
  const f = ownedFile(h);
  h.ok(setattr(f, { setmask: SetMask.GID, gid: 60 }), owner);
  assert.equal(h.ok(setattr(f, { setmask: SetMask.MODE, mode: 0o2755 }), owner).attr.mode, 0o2755);
  const g = ownedFile(h);
  h.ok(setattr(g, { setmask: SetMask.GID, gid: 77 }));
  assert.equal(h.ok(setattr(g, { setmask: SetMask.MODE, mode: 0o2755 }), owner).attr.mode, 0o755);
  const s = ownedFile(h);
  h.ok(setattr(s, { setmask: SetMask.MODE, mode: 0o4777 }));
  assert.equal(h.ok(setattr(s, { setmask: SetMask.MODE, mode: 0o777 }), other).attr.mode, 0o777);
});

test("chown clears suid/sgid per sugidclearmode", () => {
  const cases: [number, number, number][] = [
    [0, 0o6755, 0o6755],
    [1, 0o6755, 0o0755],
    [4, 0o6755, 0o0755],
    [4, 0o6745, 0o2745],
  ];
  for (const [clearMode, before, after] of cases) {
    const h = new Harness();
    const f = ownedFile(h);
    h.ok(setattr(f, { setmask: SetMask.MODE, mode: before }));
    const r = h.ok(setattr(f, { setmask: SetMask.UID, uid: 5, sugidclearmode: clearMode }));
    assert.equal(r.attr.mode, after, `mode ${clearMode} from ${before.toString(8)}`);
    assert.equal(r.attr.uid, 5);
  }
  const h = new Harness();
  const d = h.mkdir(1, "d", rootCtx, 0o2755);
  assert.equal(h.ok(setattr(d, { setmask: SetMask.GID, gid: 5, sugidclearmode: 4 })).attr.mode, 0o2755, "ext keeps bits on directories");
});

test("setattr with setmask 0 returns attributes and still moves ctime", () => {
  const h = new Harness();
  const f = ownedFile(h);
  const before = h.attr(f).ctime;
  const r = h.exec(setattr(f, {}), other);
  assert.equal(r.result.status, Status.OK);
  assert.ok(h.attr(f).ctime > before);
});

test("amtime moves atime (relatime) and mtime only forward; mtime sets ctime", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  const a = h.attr(f);
  h.ok({ kind: "amtime", entries: [{ inode: f, atime: a.atime + 100, mtime: a.mtime + 50 }] });
  const b = h.attr(f);
  assert.equal(b.atime, a.atime + 100);
  assert.equal(b.mtime, a.mtime + 50);
  assert.equal(b.ctime, a.mtime + 50);
  const e = h.exec({ kind: "amtime", entries: [{ inode: f, atime: 0, mtime: 1 }, { inode: 999999, atime: 5, mtime: 5 }] });
  assert.equal(e.entry, null, "nothing moves backwards; unknown inodes are ignored");
  h.ok({ kind: "amtime", entries: [{ inode: f, atime: b.atime + 10, mtime: 0 }] });
  assert.equal(h.attr(f).atime, b.atime, "relatime: atime already newer than mtime/ctime and younger than a day");
});
