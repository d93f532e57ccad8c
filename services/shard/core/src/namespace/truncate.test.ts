/**
 * TRUNCATE flags (OPENED, UPDATE, TIMEFIX, RESERVE) and OPEN (permission checks unless
 * AFTER_CREATE, TRUNCATE, registration of the open file) against fs_try_setlength,
 * fs_do_setlength and fs_opencheck; directory sizes follow file lengths.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OpenFlag, Status, TruncateFlag } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const user = ctxOf(1000, [1000], 5);

test("truncate sets the length, answers the previous one, and moves mtime/ctime", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  const r = h.ok({ kind: "truncate", inode: f, flags: 0, length: 1234 });
  assert.equal(r.prevLength, 0);
  assert.equal(r.attr.length, 1234);
  assert.equal(r.attr.mtime, r.attr.ctime);
  assert.equal(h.ok({ kind: "truncate", inode: f, flags: 0, length: 10 }).prevLength, 1234);
  assert.equal(h.attr(1).length, 1000, "root size: 10 bytes → 1000");
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 1536 });
  assert.equal(h.attr(1).length, 1_000_150, "1.50 KiB → 1000150");
});

test("UPDATE only grows and keeps times; TIMEFIX keeps times when nothing changes", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 100 });
  const before = h.attr(f);
  const shrink = h.exec({ kind: "truncate", inode: f, flags: TruncateFlag.UPDATE, length: 50 });
  assert.equal(shrink.entry, null);
  assert.equal(h.attr(f).length, 100);
  h.ok({ kind: "truncate", inode: f, flags: TruncateFlag.UPDATE, length: 200 });
  assert.equal(h.attr(f).length, 200);
  assert.equal(h.attr(f).mtime, before.mtime);
  h.ok({ kind: "truncate", inode: f, flags: TruncateFlag.TIMEFIX, length: 200 });
  assert.equal(h.attr(f).mtime, before.mtime);
});

test("RESERVE hands out consecutive offsets without changing the length", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 100 });
  const a = h.ok({ kind: "truncate", inode: f, flags: TruncateFlag.RESERVE | TruncateFlag.OPENED, length: 10 });
  const b = h.ok({ kind: "truncate", inode: f, flags: TruncateFlag.RESERVE | TruncateFlag.OPENED, length: 5 });
  assert.equal(a.prevLength, 100);
  assert.equal(b.prevLength, 110);
  assert.equal(b.attr.length, 100);
});

test("truncate checks: write permission unless opened, files only", () => {
  const h = new Harness();
  const f = h.create(1, "f", rootCtx, 0o644);
  assert.equal(h.status({ kind: "truncate", inode: f, flags: 0, length: 1 }, user), Status.EACCES);
  assert.equal(h.status({ kind: "truncate", inode: f, flags: TruncateFlag.OPENED, length: 1 }, user), Status.OK);
  assert.equal(h.status({ kind: "truncate", inode: 1, flags: 0, length: 1 }), Status.EPERM);
  assert.equal(h.status({ kind: "truncate", inode: 999, flags: 0, length: 1 }), Status.ENOENT);
});

test("open checks permissions unless AFTER_CREATE, truncates with TRUNCATE, registers the file", () => {
  const h = new Harness({ defaultTrashtimeSeconds: 0 });
  const f = h.create(1, "f", ctxOf(0, [0], 0), 0o644);
  h.ok({ kind: "truncate", inode: f, flags: 0, length: 99 });
  assert.equal(h.status({ kind: "open", inode: f, flags: OpenFlag.WRITE }, user), Status.EACCES);
  assert.equal(h.status({ kind: "open", inode: 1, flags: OpenFlag.READ }), Status.EPERM);
  const r = h.ok({ kind: "open", inode: f, flags: OpenFlag.READ }, user);
  assert.equal(r.oflags, 0);
  assert.equal(r.attr.length, 99);
  const again = h.exec({ kind: "open", inode: f, flags: OpenFlag.READ }, user);
  assert.equal(again.entry, null, "already registered");
  assert.equal(h.ok({ kind: "open", inode: f, flags: OpenFlag.WRITE | OpenFlag.AFTER_CREATE | OpenFlag.TRUNCATE }, user).attr.length, 99, "AFTER_CREATE skips the truncate too");
  assert.equal(h.ok({ kind: "open", inode: f, flags: OpenFlag.WRITE | OpenFlag.TRUNCATE }).attr.length, 0);
  h.ok({ kind: "unlink", parent: 1, name: "f" });
  assert.equal(h.status({ kind: "getattr", inode: f, opened: true }, user), Status.OK, "open by the user: sustained");
});
