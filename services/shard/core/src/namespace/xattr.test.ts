/**
 * Extended attributes and POSIX ACLs as mfsmaster keeps them (xattr.c, posixacl.c, fs_setfacl):
 * set modes, ENOATTR, listing, length-only reads, name-space permissions, the NOXATTR attribute
 * flag, ACL-based permission checks with named entries and the mask, chmod on ACL'd files, and
 * default ACL inheritance.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AccessMask, AclType, Status, XattrMode, nameFromText, nameToText, type Acl } from "@antler/ops";
import { Harness, ctxOf, rootCtx } from "../test-kit.ts";

const n = nameFromText;
const bytes = (s: string) => new TextEncoder().encode(s);
const owner = ctxOf(1000, [1000]);

function setx(h: Harness, inode: number, name: string, value: string, mode: number = XattrMode.CREATE_OR_REPLACE, ctx = rootCtx) {
  return h.status({ kind: "setxattr", inode, name: n(name), value: bytes(value), mode, opened: false }, ctx);
}

test("set modes: create-only, replace-only, remove; ENOATTR for missing names", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  assert.equal(h.attr(f).flags & 0x08, 0x08, "NOXATTR while there are none");
  assert.equal(setx(h, f, "user.a", "1", XattrMode.REPLACE_ONLY), Status.ENOATTR);
  assert.equal(setx(h, f, "user.a", "1", XattrMode.CREATE_ONLY), Status.OK);
  assert.equal(h.attr(f).flags & 0x08, 0, "NOXATTR cleared");
  assert.equal(setx(h, f, "user.a", "2", XattrMode.CREATE_ONLY), Status.EEXIST);
  assert.equal(setx(h, f, "user.a", "22", XattrMode.REPLACE_ONLY), Status.OK);
  const got = h.ok({ kind: "getxattr", inode: f, name: n("user.a"), mode: 0, opened: false });
  assert.deepEqual(got.value, bytes("22"));
  const len = h.ok({ kind: "getxattr", inode: f, name: n("user.a"), mode: 1, opened: false });
  assert.equal(len.length, 2);
  assert.equal(len.value, undefined);
  assert.equal(setx(h, f, "user.a", "", XattrMode.REMOVE), Status.OK);
  assert.equal(setx(h, f, "user.a", "", XattrMode.REMOVE), Status.ENOATTR);
  assert.equal(h.status({ kind: "getxattr", inode: f, name: n("user.a"), mode: 0, opened: false }), Status.ENOATTR);
  assert.equal(h.attr(f).flags & 0x08, 0x08);
});

test("listing: NUL-terminated names, newest first; invalid names and modes", () => {
  const h = new Harness();
  const f = h.create(1, "f");
  setx(h, f, "user.k", "v");
  setx(h, f, "user.second", "v");
  const list = h.ok({ kind: "getxattr", inode: f, name: "", mode: 0, opened: false });
  assert.equal(nameToText(String.fromCharCode(...list.value!)), "user.second\0user.k\0");
  assert.equal(list.length, 19);
  assert.equal(h.status({ kind: "getxattr", inode: f, name: "", mode: 2, opened: false }), Status.EINVAL);
  assert.equal(setx(h, f, "a\0b", "v"), Status.EINVAL);
  assert.equal(h.status({ kind: "setxattr", inode: f, name: n("user.big"), value: new Uint8Array(65_537), mode: 0, opened: false }), Status.ERANGE);
});

test("name spaces: trusted and security are root's, system the owner's; R/W permission unless opened", () => {
  const h = new Harness();
  const f = h.create(1, "f", rootCtx, 0o644);
  h.ok({ kind: "setattr", inode: f, opened: false, setmask: 0x04, mode: 0, uid: 1000, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  const stranger = ctxOf(2000, [2000]);
  assert.equal(setx(h, f, "trusted.x", "1", 0, owner), Status.EPERM);
  assert.equal(setx(h, f, "security.x", "1", 0, owner), Status.EPERM);
  assert.equal(setx(h, f, "security.x", "1", 0, rootCtx), Status.OK);
  assert.equal(setx(h, f, "system.x", "1", 0, stranger), Status.EPERM);
  assert.equal(setx(h, f, "user.x", "1", 0, stranger), Status.EACCES);
  assert.equal(h.status({ kind: "setxattr", inode: f, name: n("user.x"), value: bytes("1"), mode: 0, opened: true }, stranger), Status.OK);
  assert.equal(h.status({ kind: "getxattr", inode: f, name: n("trusted.y"), mode: 0, opened: false }, stranger), Status.EPERM);
});

function acl(fields: Partial<Acl>): Acl {
  return { userPerm: 7, groupPerm: 5, otherPerm: 0, mask: 7, users: [], groups: [], ...fields };
}

test("access ACLs: named users and groups are limited by the mask; mode shows the mask", () => {
  const h = new Harness();
  const f = h.create(1, "f", rootCtx, 0o640);
  h.ok({ kind: "setattr", inode: f, opened: false, setmask: 0x04, mode: 0, uid: 1000, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 });
  assert.equal(h.status({ kind: "setfacl", inode: f, acltype: AclType.ACCESS, acl: acl({}) }, ctxOf(2000)), Status.EPERM);
  h.ok({ kind: "setfacl", inode: f, acltype: AclType.ACCESS, acl: acl({ users: [{ id: 2000, perm: 7 }], groups: [{ id: 300, perm: 6 }], mask: 4 }) }, owner);
  const attr = h.attr(f);
  assert.equal(attr.mode, 0o740, "group bits show the mask");
  assert.equal(attr.flags & 0x08, 0);
  const access = (ctx: ReturnType<typeof ctxOf>, m: number) => h.status({ kind: "access", inode: f, modemask: m }, ctx);
  assert.equal(access(ctxOf(2000), AccessMask.R), Status.OK);
  assert.equal(access(ctxOf(2000), AccessMask.W), Status.EACCES, "named user rwx masked to r");
  assert.equal(access(ctxOf(3000, [300]), AccessMask.R), Status.OK);
  assert.equal(access(ctxOf(3000, [301]), AccessMask.R), Status.EACCES, "others get otherPerm 0");
  assert.equal(access(owner, AccessMask.W), Status.OK);
  const got = h.ok({ kind: "getfacl", inode: f, acltype: AclType.ACCESS });
  assert.deepEqual(got.acl.users, [{ id: 2000, perm: 7 }]);
  assert.equal(got.acl.mask, 4);
  h.ok({ kind: "setattr", inode: f, opened: false, setmask: 0x02, mode: 0o770, uid: 0, gid: 0, atime: 0, mtime: 0, winattr: 0, sugidclearmode: 0 }, owner);
  assert.equal(h.ok({ kind: "getfacl", inode: f, acltype: AclType.ACCESS }).acl.mask, 7, "chmod sets the mask");
  assert.equal(access(ctxOf(2000), AccessMask.W), Status.OK);
  assert.equal(h.status({ kind: "getfacl", inode: f, acltype: AclType.DEFAULT }), Status.ENOATTR);
  h.ok({ kind: "setfacl", inode: f, acltype: AclType.ACCESS, acl: null }, owner);
  assert.equal(h.status({ kind: "getfacl", inode: f, acltype: AclType.ACCESS }), Status.ENOATTR);
  assert.equal(h.attr(f).flags & 0x08, 0x08);
});

test("an access ACL equal to the mode is not stored, but sets the mode", () => {
  const h = new Harness();
  const f = h.create(1, "f", rootCtx, 0o600);
  h.ok({ kind: "setfacl", inode: f, acltype: AclType.ACCESS, acl: acl({ userPerm: 6, groupPerm: 4, otherPerm: 4, mask: 0xffff }) });
  assert.equal(h.status({ kind: "getfacl", inode: f, acltype: AclType.ACCESS }), Status.ENOATTR);
  assert.equal(h.attr(f).mode, 0o644);
});

test("default ACLs: files get them as access ACL, directories as both; umask is ignored", () => {
  const h = new Harness();
  const d = h.mkdir(1, "d", rootCtx, 0o755);
  h.ok({ kind: "setfacl", inode: d, acltype: AclType.DEFAULT, acl: acl({ userPerm: 7, groupPerm: 5, otherPerm: 0, mask: 7, users: [{ id: 2000, perm: 6 }] }) });
  const f = h.ok({ kind: "create", parent: d, name: n("f"), mode: 0o666, umask: 0o077 });
  assert.equal(f.attr.mode, 0o660, "user rw (666&7), mask rw, other 0");
  const fa = h.ok({ kind: "getfacl", inode: f.inode, acltype: AclType.ACCESS }).acl;
  assert.deepEqual(fa.users, [{ id: 2000, perm: 6 }]);
  assert.equal(fa.groupPerm, 5);
  assert.equal(h.status({ kind: "getfacl", inode: f.inode, acltype: AclType.DEFAULT }), Status.ENOATTR);
  const sub = h.ok({ kind: "mkdir", parent: d, name: n("s"), mode: 0o777, umask: 0o022, copysgid: false });
  assert.equal(h.ok({ kind: "getfacl", inode: sub.inode, acltype: AclType.DEFAULT }).acl.users.length, 1);
  const simple = h.mkdir(1, "simple");
  h.ok({ kind: "setfacl", inode: simple, acltype: AclType.DEFAULT, acl: acl({ userPerm: 7, groupPerm: 0, otherPerm: 0, mask: 0xffff }) });
  const g = h.ok({ kind: "create", parent: simple, name: n("g"), mode: 0o666, umask: 0o022 });
  assert.equal(g.attr.mode, 0o600, "a simple default ACL only masks the mode");
  assert.equal(h.status({ kind: "getfacl", inode: g.inode, acltype: AclType.ACCESS }), Status.ENOATTR);
});
