// The crash test's plan and verdict (crash-burst.ts) against a small in-memory namespace: the
// preparation and any subset of the burst applied whole must pass; each kind of half-applied or
// lost operation must be caught.

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { test } from "node:test";
import { seededRandom } from "@antler/testkit";
import { describeOp, judgeTrial, pathsToView, planTrial, spuriousErrors, type BurstCall, type BurstOp, type Looked, type TrialPlan, type TrialView } from "./crash-burst.ts";

/** Paths → nodes (hard links share one node object). */
class Namespace {
  readonly nodes = new Map<string, { inode: number; type: "d" | "f"; nlink: number }>();
  private nextInode = 100;

  call(call: BurstCall): void {
    const [kind, path, second] = call;
    if (kind === "mkdir") this.nodes.set(path, { inode: this.nextInode++, type: "d", nlink: 2 });
    else if (kind === "create") this.nodes.set(path, { inode: this.nextInode++, type: "f", nlink: 1 });
    else if (kind === "link") {
      const node = this.nodes.get(path)!;
      node.nlink++;
      this.nodes.set(second!, node);
    } else throw new Error(`unexpected prep call ${kind}`);
  }

  apply(op: BurstOp): void {
    switch (op.kind) {
      case "mkdir":
        this.call(["mkdir", op.path]);
        break;
      case "rename":
        for (const [path, node] of [...this.nodes]) {
          if (path === op.from || path.startsWith(`${op.from}/`)) {
            this.nodes.delete(path);
            this.nodes.set(op.to + path.slice(op.from.length), node);
          }
        }
        break;
      case "link":
        this.call(["link", op.existing, op.path]);
        break;
      case "unlink":
        this.nodes.get(op.path)!.nlink--;
        this.nodes.delete(op.path);
        break;
      case "rmdir":
        this.nodes.delete(op.path);
        break;
    }
  }

  view(): TrialView {
    return {
      lookup: (path) => {
        const node = this.nodes.get(path);
        return node === undefined ? null : ({ ...node } satisfies Looked);
      },
      listing: (dir) => {
        if (!this.nodes.has(dir) && !/^t\d+$/.test(dir)) return null;
        return [...this.nodes.keys()].filter((path) => dirname(path) === dir).map((path) => path.slice(dir.length + 1));
      },
    };
  }
}

function prepared(plan: TrialPlan): { namespace: Namespace; inodes: Map<string, number> } {
  const namespace = new Namespace();
  for (const phase of plan.prep) for (const call of phase) namespace.call(call);
  const inodes = new Map([...namespace.nodes].map(([path, node]) => [path, node.inode]));
  return { namespace, inodes };
}

const plan = planTrial(7, seededRandom(42));
const indexOf = (kind: BurstOp["kind"]): number => plan.burst.findIndex((op) => op.kind === kind);

test("the plan: same seed same plan, every kind present, renames and links to another parent", () => {
  assert.deepEqual(planTrial(7, seededRandom(42)), plan);
  assert.notDeepEqual(planTrial(7, seededRandom(43)).burst, plan.burst);
  for (const kind of ["mkdir", "rename", "link", "unlink", "rmdir"] as const) assert.ok(indexOf(kind) >= 0, kind);
  for (const op of plan.burst) {
    if (op.kind === "rename") assert.notEqual(dirname(op.from), dirname(op.to));
    if (op.kind === "link") assert.notEqual(dirname(op.existing), dirname(op.path));
  }
  const { lookups, listings } = pathsToView(plan);
  assert.deepEqual(listings.slice(0, plan.parents.length), plan.parents);
  assert.ok(lookups.length >= plan.burst.length);
});

test("nothing applied, everything applied, or any part applied whole: no violation", () => {
  const outcomesNone = plan.burst.map(() => "unanswered");
  const none = prepared(plan);
  assert.deepEqual(judgeTrial(plan, outcomesNone, none.inodes, none.namespace.view()), []);
  const all = prepared(plan);
  for (const op of plan.burst) all.namespace.apply(op);
  assert.deepEqual(judgeTrial(plan, plan.burst.map(() => "ok"), all.inodes, all.namespace.view()), []);
  const some = prepared(plan);
  const outcomes = plan.burst.map((op, index) => {
    if (index % 2 === 0) return "EIO";
    some.namespace.apply(op);
    return index % 4 === 1 ? "ok" : "unanswered";
  });
  assert.deepEqual(judgeTrial(plan, outcomes, some.inodes, some.namespace.view()), []);
});

test("an acknowledged operation that is not visible is a violation", () => {
  for (const kind of ["mkdir", "rename", "link", "unlink", "rmdir"] as const) {
    const { namespace, inodes } = prepared(plan);
    const outcomes = plan.burst.map(() => "unanswered");
    outcomes[indexOf(kind)] = "ok";
    const violations = judgeTrial(plan, outcomes, inodes, namespace.view());
    assert.equal(violations.length, 1, `${kind}: ${violations.join("; ")}`);
    assert.match(violations[0]!, /acknowledged/);
  }
});

test("half-applied operations are violations", () => {
  const rename = plan.burst[indexOf("rename")]! as Extract<BurstOp, { kind: "rename" }>;
  const link = plan.burst[indexOf("link")]! as Extract<BurstOp, { kind: "link" }>;
  const unlink = plan.burst[indexOf("unlink")]! as Extract<BurstOp, { kind: "unlink" }>;
  const mkdir = plan.burst[indexOf("mkdir")]! as Extract<BurstOp, { kind: "mkdir" }>;
  const outcomes = plan.burst.map(() => "unanswered");
  const cases: Array<[string, (namespace: Namespace) => void, RegExp]> = [
    ["rename: entry added, old one kept", (ns) => ns.nodes.set(rename.to, ns.nodes.get(rename.from)!), /at both paths/],
    ["rename: old entry removed, new one never added", (ns) => ns.nodes.delete(rename.from), /at neither path/],
    ["rename: contents left behind", (ns) => {
      ns.apply(rename);
      ns.nodes.delete(`${rename.to}/m`);
    }, /contents did not move/],
    ["link: entry added, nlink not raised", (ns) => ns.nodes.set(link.path, { ...ns.nodes.get(link.existing)! }), /nlink 1 while 2/],
    ["unlink: entry removed, nlink not lowered", (ns) => ns.nodes.delete(unlink.path), /nlink 2 while 1/],
    ["mkdir: a node that is not a directory", (ns) => ns.nodes.set(mkdir.path, { inode: 1, type: "f", nlink: 1 }), /not a directory/],
  ];
  for (const [name, breakIt, expected] of cases) {
    const { namespace, inodes } = prepared(plan);
    breakIt(namespace);
    const violations = judgeTrial(plan, outcomes, inodes, namespace.view());
    assert.ok(violations.some((violation) => expected.test(violation)), `${name}: ${violations.join("; ") || "no violation"}`);
  }
});

test("a name listed but not found (an entry naming a missing node) is a violation", () => {
  const mkdir = plan.burst[indexOf("mkdir")]! as Extract<BurstOp, { kind: "mkdir" }>;
  const { namespace, inodes } = prepared(plan);
  const view = namespace.view();
  const broken: TrialView = {
    lookup: view.lookup,
    listing: (dir) => (dir === dirname(mkdir.path) ? [...(view.listing(dir) ?? []), mkdir.path.slice(dir.length + 1)] : view.listing(dir)),
  };
  const violations = judgeTrial(plan, plan.burst.map(() => "EIO"), inodes, broken);
  assert.deepEqual(violations, [`mkdir ${mkdir.path} (EIO): ${mkdir.path} is listed but cannot be looked up`]);
});

test("ENOENT is spurious unless a removal's name is gone anyway", () => {
  const { namespace } = prepared(plan);
  const rmdir = indexOf("rmdir");
  const mkdir = indexOf("mkdir");
  const outcomes = plan.burst.map(() => "ok");
  outcomes[rmdir] = "ENOENT";
  outcomes[mkdir] = "ENOENT";
  assert.equal(spuriousErrors(plan, outcomes, namespace.view()).length, 2);
  namespace.apply(plan.burst[rmdir]!);
  assert.deepEqual(spuriousErrors(plan, outcomes, namespace.view()), [`${describeOp(plan.burst[mkdir]!)}: ENOENT, though every name it needs existed`]);
});
