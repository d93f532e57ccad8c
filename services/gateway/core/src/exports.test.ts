/**
 * Exports (mfsexports.cfg) parsing and matching, after mfsmaster's exports.c: defaults, networks,
 * options, and the preferences between several matching lines.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SessionFlag, Status } from "@antler/ops";
import { ExportsParseError, matchExport, parseExports } from "./exports.ts";

test("the environment's export line: everyone, rw, alldirs, root stays root", () => {
  const [rule] = parseExports("* / rw,alldirs,maproot=0\n");
  assert.deepEqual(rule, {
    fromIp: 0, toIp: 0xffffffff, path: "", meta: false, alldirs: true, sesflags: 0, umask: 0, rootUid: 0, rootGid: 0,
    mapAllUid: 999, mapAllGid: 999, minGoal: 1, maxGoal: 9, minTrashTime: 0, maxTrashTime: 0xffffffff, disables: 0, minVersion: 0, needPassword: false,
  });
});

test("defaults are mfsmaster's: read-only and root squashed to 999", () => {
  const [rule] = parseExports("# comment\n\n10.0.0.0/8 /data\n");
  assert.equal(rule!.sesflags, SessionFlag.READONLY);
  assert.equal(rule!.rootUid, 999);
  assert.equal(rule!.path, "data");
  assert.equal(rule!.fromIp, 0x0a000000);
  assert.equal(rule!.toIp, 0x0affffff);
});

test("networks: single address, range, mask", () => {
  const rules = parseExports("10.1.2.3 / rw\n10.0.0.1-10.0.0.9 / rw\n192.168.0.0/255.255.0.0 / rw\n");
  assert.deepEqual(rules.map((r) => [r.fromIp, r.toIp]), [[0x0a010203, 0x0a010203], [0x0a000001, 0x0a000009], [0xc0a80000, 0xc0a8ffff]]);
});

test("options: mapall (also squashes root), goals, trash times, umask, disable, flags", () => {
  const [rule] = parseExports("* / rw,mapall=1000:1001,mingoal=2,maxgoal=3,mintrashtime=1h,maxtrashtime=2d,umask=027,disable=chown:mkdir,ignoregid,admin,dynamicip");
  assert.equal(rule!.sesflags, SessionFlag.MAPALL | SessionFlag.IGNOREGID | SessionFlag.ADMIN | SessionFlag.DYNAMICIP);
  assert.deepEqual([rule!.mapAllUid, rule!.mapAllGid, rule!.rootUid, rule!.rootGid], [1000, 1001, 1000, 1001]);
  assert.deepEqual([rule!.minGoal, rule!.maxGoal, rule!.minTrashTime, rule!.maxTrashTime, rule!.umask], [2, 3, 3600, 172_800, 0o27]);
  assert.equal(rule!.disables, (1 << 0) | (1 << 6));
});

test("malformed lines are errors naming the line", () => {
  assert.throws(() => parseExports("* / rw\n*"), (e) => e instanceof ExportsParseError && /line 2/.test(e.message));
  assert.throws(() => parseExports("300.0.0.1 / rw"), ExportsParseError);
  assert.throws(() => parseExports("* / bogus"), ExportsParseError);
  assert.throws(() => parseExports("* / maproot=nobody"), ExportsParseError);
  assert.throws(() => parseExports("* / mingoal=5,maxgoal=2"), ExportsParseError);
});

test("matching: path, alldirs, address, and preference for rw over ro", () => {
  const rules = parseExports("* / ro\n* / rw\n10.0.0.0/8 /data rw,alldirs,maproot=0\n");
  assert.equal((matchExport(rules, 0x0b000001, 0x000300ea, "/") as { sesflags: number }).sesflags, 0);
  assert.equal(matchExport(rules, 0x0b000001, 0x000300ea, "/data"), Status.EACCES);
  const sub = matchExport(rules, 0x0a000001, 0x000300ea, "/data/x/");
  assert.ok(typeof sub !== "number");
  assert.equal(sub.path, "data");
  assert.equal(matchExport(rules, 0x0a000001, 0x000300ea, "/database"), Status.EACCES);
});

test("password exports are refused with NOPASSWORD", () => {
  assert.equal(matchExport(parseExports("* / rw,password=secret"), 1, 0x000300ea, "/"), Status.NOPASSWORD);
});
