/**
 * A random workload of namespace changes run twice: on one machine as the local commands, on an
 * identical one as one-shard transactions (the parts a coordinator would send, built from
 * lookups). Whenever the command succeeds the transaction must succeed and leave the very same
 * state; whenever it fails the transaction must fail too, logging nothing.
 * Reproduce a failing run with TXN_EQUIV_SEED=<seed> (printed on failure).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isFailure, nameFromText, type Command, type Result, type TxPart } from "@antler/ops";
import { seededRandom } from "@antler/testkit";
import { Harness, rootCtx, t0Ms } from "../test-kit.ts";
import { decodeSnapshot } from "./tx-test-kit.ts";

const names = ["a", "b", "c", "d"].map(nameFromText);

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

/** What parent/name names on `h`, with the named node's type and owner. */
function named(h: Harness, parent: number, name: string): { inode: number; type: number; uid: number } | null {
  const found = h.m.execute({ kind: "lookup", parent, name }, rootCtx, h.nowMs);
  const result = found.result;
  if (isFailure(result) || !("attr" in result) || !("inode" in result)) return null;
  return { inode: result.inode, type: result.attr.type, uid: result.attr.uid };
}

/** The parts a coordinator would send for `cmd`; null when the command changes nothing by a transaction. */
function partsOf(h: Harness, cmd: Command): TxPart[] | null {
  switch (cmd.kind) {
    case "unlink":
    case "rmdir": {
      const node = named(h, cmd.parent, cmd.name);
      if (node === null) return null;
      return [
        { op: "entry-remove", parent: cmd.parent, name: cmd.name, inode: node.inode, kind: cmd.kind, nodeUid: node.uid },
        { op: "edge-remove", inode: node.inode, parent: cmd.parent, name: cmd.name, kind: cmd.kind },
      ];
    }
    case "link": {
      const node = h.m.execute({ kind: "getattr", inode: cmd.inode, opened: false }, rootCtx, h.nowMs).result;
      if (isFailure(node) || !("attr" in node)) return null;
      return [
        { op: "entry-add", parent: cmd.parentDst, name: cmd.nameDst, inode: cmd.inode, type: node.attr.type, kind: "link", replace: null, replaceUid: 0 },
        { op: "edge-add", inode: cmd.inode, parent: cmd.parentDst, name: cmd.nameDst },
      ];
    }
    case "rename": {
      const node = named(h, cmd.parentSrc, cmd.nameSrc);
      if (node === null) return null;
      const replaced = named(h, cmd.parentDst, cmd.nameDst);
      if (replaced?.inode === node.inode) return null;
      const parts: TxPart[] = [
        { op: "entry-remove", parent: cmd.parentSrc, name: cmd.nameSrc, inode: node.inode, kind: "rename", nodeUid: node.uid },
        {
          op: "entry-add", parent: cmd.parentDst, name: cmd.nameDst, inode: node.inode, type: node.type, kind: "rename",
          replace: replaced?.inode ?? null, replaceUid: replaced?.uid ?? 0,
        },
        { op: "edge-move", inode: node.inode, from: { parent: cmd.parentSrc, name: cmd.nameSrc }, to: { parent: cmd.parentDst, name: cmd.nameDst } },
      ];
      if (replaced !== null) parts.push({ op: "edge-remove", inode: replaced.inode, parent: cmd.parentDst, name: cmd.nameDst, kind: "replaced" });
      return parts;
    }
    default:
      return null;
  }
}

function stateOf(h: Harness): unknown {
  const { header, nodes } = decodeSnapshot(h.m.exportState());
  const ignored = new Set(["applied", "clock", "requests", "decidedTxns", "txRequests"]);
  // JSON keeps the order of entries, parents and tombstones, which are part of the state.
  return JSON.parse(JSON.stringify({ header: Object.entries(header).filter(([key]) => !ignored.has(key)), nodes }, (_key, value: unknown) =>
    typeof value === "bigint" ? `${value}n` : value));
}

function run(seed: number, steps: number): { committed: number; refused: number } {
  const rnd = seededRandom(seed);
  const plain = new Harness();
  const txn = new Harness();
  const dirs = [1];
  const files: number[] = [];
  let committed = 0;
  let refused = 0;
  for (let step = 0; step < steps; step++) {
    const at = t0Ms + (step + 1) * 10_000;
    const dir = pick(rnd, dirs);
    const name = pick(rnd, names);
    const roll = rnd();
    let cmd: Command;
    if (roll < 0.15) cmd = { kind: "mkdir", parent: dir, name, mode: 0o755, umask: 0, copysgid: false };
    else if (roll < 0.3) cmd = { kind: "create", parent: dir, name, mode: 0o644, umask: 0 };
    else if (roll < 0.65) cmd = { kind: "rename", parentSrc: dir, nameSrc: name, parentDst: pick(rnd, dirs), nameDst: pick(rnd, names) };
    else if (roll < 0.75) cmd = { kind: "unlink", parent: dir, name };
    else if (roll < 0.85) cmd = { kind: "rmdir", parent: dir, name };
    else if (files.length > 0) cmd = { kind: "link", inode: pick(rnd, files), parentDst: dir, nameDst: name };
    else continue;
    const parts = partsOf(txn, cmd);
    plain.nowMs = at - 1000;
    const expected: Result = plain.run(cmd);
    if (parts === null) {
      txn.nowMs = at - 1000;
      assert.deepEqual(txn.run(cmd), expected, `step ${step}: ${cmd.kind} run plainly`);
    } else {
      const txid = `s${step}#1`;
      txn.nowMs = at - 2000;
      const prepared = txn.exec({ kind: "txprepare", slot: 0, txid, parts, clientRequestId: `s${step}` });
      if (isFailure(expected)) {
        assert.ok(isFailure(prepared.result), `step ${step}: ${cmd.kind} failed (${expected.status}) but the transaction prepared`);
        assert.equal(prepared.entry, null);
        refused++;
      } else {
        assert.equal(prepared.result.status, 0, `step ${step}: ${cmd.kind} succeeded but the prepare failed (${prepared.result.status})`);
        const commit = txn.exec({ kind: "txcommit", slot: 0, txid });
        assert.equal(commit.result.status, 0);
        committed++;
      }
    }
    if (!isFailure(expected) && "inode" in expected && (cmd.kind === "mkdir" || cmd.kind === "create")) {
      (cmd.kind === "mkdir" ? dirs : files).push(expected.inode);
    }
    assert.deepEqual(stateOf(txn), stateOf(plain), `step ${step}: ${cmd.kind} leaves the same state`);
  }
  return { committed, refused };
}

test("random one-shard transactions leave exactly the state of the local commands", () => {
  const seed = Number(process.env.TXN_EQUIV_SEED ?? Math.floor(Math.random() * 2 ** 31));
  try {
    let committed = 0;
    let refused = 0;
    for (let round = 0; round < 3; round++) {
      const counts = run(seed + round, 200);
      committed += counts.committed;
      refused += counts.refused;
    }
    assert.ok(committed > 60 && refused > 30, `the workload exercised both outcomes (${committed} committed, ${refused} refused)`);
  } catch (err) {
    console.error(`random equivalence failed: reproduce with TXN_EQUIV_SEED=${seed}`);
    throw err;
  }
});
