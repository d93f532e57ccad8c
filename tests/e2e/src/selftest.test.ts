// Quick tests of the e2e suite's own pure parts, run with the unit tests (no root, no FUSE, no
// clusters): transcript normalisation, the unified diff a failing comparison prints, the POSIX
// ACL xattr codec, the parser of `antler status --json`, and the cleanup registry's ordering.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeAclHex, encodeAclText, fromHex } from "./acl.ts";
import { parseStatus } from "./antler.ts";
import { frame, makeScenario, Prng, registerNewSession, scenarioNames } from "./fuzz-packets.ts";
import { cleanupAll, encodeMountPath, pendingCleanups, registerCleanup } from "./cleanup.ts";
import {
  abbreviate,
  differingSteps,
  fileTypeName,
  fnv1a32,
  formatError,
  formatMode,
  formatStat,
  formatXattrValue,
  renderTranscript,
  sortedNames,
  unifiedDiff,
} from "./transcript.ts";

describe("transcript normalisation", () => {
  test("a stat keeps type, mode with special bits, nlink, owner and size; nothing else", () => {
    const stat = { mode: 0o104755, nlink: 2, uid: 1000, gid: 100, size: 42, ino: 77, mtimeMs: 123 };
    const later = { ...stat, ino: 78, mtimeMs: 456 };
    assert.equal(formatStat(stat), "file mode=4755 nlink=2 uid=1000 gid=100 size=42");
    assert.equal(formatStat(later), formatStat(stat));
  });

  test("every file type has a name", () => {
    assert.equal(fileTypeName(0o040755), "dir");
    assert.equal(fileTypeName(0o120777), "symlink");
    assert.equal(fileTypeName(0o010644), "fifo");
    assert.equal(fileTypeName(0o140755), "socket");
    assert.equal(fileTypeName(0o020600), "chardev");
    assert.equal(fileTypeName(0o060600), "blockdev");
    assert.equal(fileTypeName(0o000644), "type-00");
  });

  test("modes are four octal digits including sticky, sgid and suid", () => {
    assert.equal(formatMode(0o41777), "1777");
    assert.equal(formatMode(0o100000), "0000");
    assert.equal(formatMode(0o7777), "7777");
  });

  test("errors become errno names; anything else a marker that never equals an errno", () => {
    assert.equal(formatError(Object.assign(new Error("x"), { code: "ENOTEMPTY" })), "ENOTEMPTY");
    assert.equal(formatError(Object.assign(new Error("x"), { code: "ERR_INVALID_ARG_TYPE" })), "error:ERR_INVALID_ARG_TYPE");
    assert.equal(formatError(new TypeError("x")), "error:TypeError");
    assert.equal(formatError("boom"), "error:string");
  });

  test("listings are sorted by code unit so readdir order does not matter", () => {
    assert.equal(sortedNames(["b", "a", "B", "ü"]), "[B,a,b,ü]");
    assert.equal(sortedNames([]), "[]");
  });

  test("xattr values: text quoted, short binary as hex, long binary as length and digest", () => {
    assert.equal(formatXattrValue("6f6e65"), '"one"');
    assert.equal(formatXattrValue(""), '""');
    assert.equal(formatXattrValue("00ff10"), "hex:00ff10");
    const long = "ff".repeat(100);
    assert.match(formatXattrValue(long), /^100 bytes fnv1a=[0-9a-f]{8}$/);
    assert.notEqual(formatXattrValue(long), formatXattrValue(`${"ff".repeat(99)}fe`));
  });

  test("long names are abbreviated but still distinguish different inputs", () => {
    assert.equal(abbreviate("short"), "short");
    const a = abbreviate("n".repeat(250));
    const b = abbreviate(`${"n".repeat(249)}m`);
    assert.match(a, /^n{16}…\(250 chars fnv1a=[0-9a-f]{8}\)$/);
    assert.notEqual(a, b);
  });

  test("FNV-1a matches the published test vectors", () => {
    assert.equal(fnv1a32([]), 0x811c9dc5);
    assert.equal(fnv1a32([0x61]), 0xe40c292c);
    assert.equal(fnv1a32(Array.from(new TextEncoder().encode("foobar"))), 0xbf9cf968);
  });

  test("a transcript line is 'step: text'", () => {
    assert.deepEqual(renderTranscript([{ step: "tree", text: "mkdir a -> ok" }]), ["tree: mkdir a -> ok"]);
  });
});

describe("unified diff", () => {
  test("equal inputs give an empty diff", () => {
    assert.equal(unifiedDiff(["a", "b"], ["a", "b"]), "");
    assert.equal(unifiedDiff([], []), "");
  });

  test("a changed line is shown as - and + with context and correct ranges", () => {
    const expected = ["1", "2", "3", "4", "5", "6", "7", "8"];
    const actual = ["1", "2", "3", "4", "X", "6", "7", "8"];
    assert.equal(
      unifiedDiff(expected, actual, { expectedLabel: "mfsmaster", actualLabel: "antler" }),
      ["--- mfsmaster", "+++ antler", "@@ -2,7 +2,7 @@", " 2", " 3", " 4", "-5", "+X", " 6", " 7", " 8", ""].join("\n"),
    );
  });

  test("insertions, deletions and separate hunks", () => {
    const expected = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    const actual = ["a", "new", "b", "c", "d", "e", "f", "g", "h", "i", "j", "l"];
    const diff = unifiedDiff(expected, actual, { contextLines: 1 });
    assert.equal(
      diff,
      ["--- expected", "+++ actual", "@@ -1,2 +1,3 @@", " a", "+new", " b", "@@ -10,3 +11,2 @@", " j", "-k", " l", ""].join("\n"),
    );
  });

  test("everything removed or everything added", () => {
    assert.equal(unifiedDiff(["a"], [], { contextLines: 0 }), ["--- expected", "+++ actual", "@@ -1,1 +0,0 @@", "-a", ""].join("\n"));
    assert.equal(unifiedDiff([], ["a"], { contextLines: 0 }), ["--- expected", "+++ actual", "@@ -0,0 +1,1 @@", "+a", ""].join("\n"));
  });

  test("the differing steps are named, in order, including steps only one side has", () => {
    const expected = [
      { step: "tree", text: "x" },
      { step: "create", text: "y" },
      { step: "rm-rf", text: "z" },
    ];
    const actual = [
      { step: "tree", text: "x" },
      { step: "create", text: "Y" },
      { step: "rm-rf", text: "z" },
      { step: "extra", text: "!" },
    ];
    assert.deepEqual(differingSteps(expected, actual), ["create", "extra"]);
    assert.deepEqual(differingSteps(expected, expected), []);
  });
});

describe("POSIX ACL xattr codec", () => {
  test("text → bytes → text is the identity, with the kernel's layout", () => {
    const text = "user::rw-,user:1000:r--,group::r--,mask::r--,other::---";
    const hex = encodeAclText(text);
    assert.equal(hex, "0200000001000600ffffffff02000400e803000004000400ffffffff10000400ffffffff20000000ffffffff");
    assert.equal(decodeAclHex(hex), text);
  });

  test("malformed input gives a marker instead of throwing", () => {
    assert.equal(decodeAclHex("0200000001000600"), "malformed-acl:0200000001000600");
    assert.equal(decodeAclHex("zz"), "malformed-acl:zz");
    assert.match(decodeAclHex("03000000"), /^acl-version-3:/);
    assert.equal(decodeAclHex("020000004000070001000000"), "tag-64:1:rwx");
    assert.throws(() => encodeAclText("user::rwz"), /not an ACL entry/);
    assert.throws(() => encodeAclText("other:5:r--"), /takes no qualifier/);
  });

  test("hex parsing rejects odd lengths and non-hex characters", () => {
    assert.deepEqual(fromHex("00ff"), Uint8Array.of(0, 255));
    assert.equal(fromHex("0"), undefined);
    assert.equal(fromHex("0g"), undefined);
  });
});

describe("antler status --json parsing", () => {
  test("keeps role, pid and status of every process", () => {
    const status = parseStatus(
      JSON.stringify({
        phase: "serving",
        processes: [
          { name: "gateway-0", role: "gateway", pid: 10, status: "running", restarts: 1 },
          { name: "shard-0", role: "shard", pid: null, status: "restarting", restarts: 2, shardId: 0, leader: true },
        ],
      }),
    );
    assert.equal(status.phase, "serving");
    assert.deepEqual(status.processes[0], { name: "gateway-0", role: "gateway", pid: 10, status: "running", restarts: 1 });
    assert.deepEqual(status.processes[1], {
      name: "shard-0",
      role: "shard",
      pid: null,
      status: "restarting",
      restarts: 2,
      shardId: 0,
      leader: true,
    });
  });

  test("rejects output that is not a status", () => {
    assert.throws(() => parseStatus("cluster is down"), /printed no JSON/);
    assert.throws(() => parseStatus("{}"), /no processes list/);
  });
});

describe("cleanup registry", () => {
  test("cleanupAll runs newest first, once each; released and forgotten entries do not run again", () => {
    const order: string[] = [];
    registerCleanup("first", () => order.push("first"));
    const released = registerCleanup("released", () => order.push("released"));
    const forgotten = registerCleanup("forgotten", () => order.push("forgotten"));
    registerCleanup("failing", () => {
      throw new Error("cannot");
    });
    registerCleanup("last", () => order.push("last"));
    released.release();
    released.release();
    forgotten.forget();
    assert.deepEqual(pendingCleanups(), ["first", "failing", "last"]);
    const originalWrite = process.stderr.write;
    process.stderr.write = () => true;
    let failures: string[];
    try {
      failures = cleanupAll();
    } finally {
      process.stderr.write = originalWrite;
    }
    assert.deepEqual(order, ["released", "last", "first"]);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!, /cleanup of failing failed: Error: cannot/);
    assert.deepEqual(pendingCleanups(), []);
  });

  test("mount paths are escaped as /proc/mounts writes them", () => {
    assert.equal(encodeMountPath("/tmp/a b\\c"), "/tmp/a\\040b\\134c");
  });
});

describe("fuzz packet generation", () => {
  test("one seed gives one sequence of scenarios; another seed a different one", () => {
    const run = (seed: number): string[] => {
      const prng = new Prng(seed);
      return Array.from({ length: 50 }, () => {
        const scenario = makeScenario(prng);
        return `${scenario.name}:${scenario.reset}:${scenario.chunks.map((chunk) => Array.from(chunk).join(".")).join("|")}`;
      });
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
  });

  test("every scenario kind is reachable", () => {
    const prng = new Prng(7);
    const seen = new Set(Array.from({ length: 400 }, () => makeScenario(prng).name));
    assert.deepEqual([...seen].sort(), [...scenarioNames].sort());
  });

  test("PRNG bounds hold", () => {
    const prng = new Prng(1);
    for (let index = 0; index < 1000; index++) {
      const value = prng.below(10);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 10);
    }
  });

  test("frames are type:32 length:32 big-endian, then the payload", () => {
    assert.deepEqual(Array.from(frame(400, Uint8Array.of(9, 8))), [0, 0, 1, 0x90, 0, 0, 0, 2, 9, 8]);
    assert.deepEqual(Array.from(frame(1, Uint8Array.of(), 0xffffffff)), [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
  });

  test("a NEWSESSION register has the documented length 77 + ileng + pleng", () => {
    const packet = registerNewSession("/mnt/twenty-two-bytes");
    const view = new DataView(packet.buffer);
    assert.equal(view.getUint32(0), 400);
    assert.equal(view.getUint32(4), 101, "22-byte info (with NUL) and path \"/\\0\" give 101 bytes");
    assert.equal(packet.length, 8 + 101);
    assert.equal(packet[8 + 64], 2, "rcode NEWSESSION follows the 64-byte blob");
  });
});
