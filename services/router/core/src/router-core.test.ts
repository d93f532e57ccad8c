/** Slot headers and the merge of fan-out replies. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Status, type Result } from "@antler/ops";
import { mergeFanOut } from "./fan-out.ts";
import { parseSlotHeader } from "./slot-header.ts";

test("slot headers: decimal slots in range or *, nothing else", () => {
  assert.deepEqual(parseSlotHeader("0"), { slot: 0 });
  assert.deepEqual(parseSlotHeader("2047"), { slot: 2047 });
  assert.equal(parseSlotHeader("*"), "all");
  for (const bad of ["", "2048", "-1", "01", "1.5", " 1", "abc", "99999999"]) assert.equal(parseSlotHeader(bad), null, bad);
});

const statfs = (n: number): Result => ({ status: 0, totalSpace: n, availSpace: n, freeSpace: n, trashSpace: 0, sustainedSpace: 1, inodes: n * 10 });

test("statfs replies are summed field by field", () => {
  assert.deepEqual(mergeFanOut("statfs", [statfs(1), statfs(2), statfs(3)]), {
    status: 0,
    totalSpace: 6,
    availSpace: 6,
    freeSpace: 6,
    trashSpace: 0,
    sustainedSpace: 3,
    inodes: 60,
  });
});

test("other fan-outs: OK only if all shards say OK, else the first failure in shard order", () => {
  assert.deepEqual(mergeFanOut("closesession", [{ status: 0 }, { status: 0 }] as Result[]), { status: 0 });
  assert.deepEqual(mergeFanOut("sustained", [{ status: 0 }, { status: Status.EPERM }, { status: Status.IO }] as Result[]), { status: Status.EPERM });
  assert.deepEqual(mergeFanOut("statfs", [statfs(1), { status: Status.ENOENT }]), { status: Status.ENOENT });
  assert.deepEqual(mergeFanOut("amtime", [{ status: 0 } as Result, null]), { status: Status.EAGAIN });
});
