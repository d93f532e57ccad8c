// The sharded tree test's plan (tree-plan.ts): the sizes asked for, parents before children,
// bounded depth, unique paths, hard links across subtrees, and a partition that keeps each
// subtree with one writer.

import assert from "node:assert/strict";
import { test } from "node:test";
import { partitionByTop, planTree } from "./tree-plan.ts";

const plan = planTree({ dirs: 500, files: 3_000, seed: 11 });

test("the tree has the sizes asked for, parents first, at most 4 levels, unique paths", () => {
  assert.equal(plan.dirs.length, 500);
  assert.equal(plan.files.length, 3_000);
  const seen = new Set<string>();
  for (const dir of plan.dirs) {
    const parent = dir.path.includes("/") ? dir.path.slice(0, dir.path.lastIndexOf("/")) : undefined;
    if (parent !== undefined) assert.ok(seen.has(parent), `${dir.path} comes before its parent`);
    assert.ok(dir.path.split("/").length <= 4, `${dir.path} is deeper than 4 levels`);
    assert.equal(dir.path.split("/")[0], `t${dir.top}`);
    seen.add(dir.path);
  }
  assert.ok(plan.dirs.some((dir) => dir.path.split("/").length === 4), "no directory at level 4");
  const names = [...plan.dirs, ...plan.files, ...plan.symlinks, ...plan.hardLinks].map((item) => item.path);
  assert.equal(new Set(names).size, names.length, "paths repeat");
  for (const file of plan.files) assert.ok(seen.has(file.path.slice(0, file.path.lastIndexOf("/"))));
  const sizes = plan.files.map((file) => file.size);
  assert.ok(sizes.includes(0) && sizes.some((size) => size > 65_536), "sizes do not vary from empty to more than one block");
  assert.deepEqual(planTree({ dirs: 500, files: 3_000, seed: 11 }), plan);
});

test("hard links go from one top-level subtree into another, each file linked at most once", () => {
  assert.ok(plan.hardLinks.length > 0);
  const topOf = (path: string): string => path.split("/")[0]!;
  for (const link of plan.hardLinks) assert.notEqual(topOf(link.existing), topOf(link.path));
  assert.equal(new Set(plan.hardLinks.map((link) => link.existing)).size, plan.hardLinks.length);
});

test("the partition gives each subtree to one writer and loses nothing", () => {
  const parts = partitionByTop(plan, 5);
  assert.equal(parts.length, 5);
  assert.equal(parts.reduce((sum, part) => sum + part.dirs.length, 0), plan.dirs.length);
  assert.equal(parts.reduce((sum, part) => sum + part.files.length, 0), plan.files.length);
  assert.equal(parts.reduce((sum, part) => sum + part.symlinks.length, 0), plan.symlinks.length);
  for (const [index, part] of parts.entries()) {
    for (const item of [...part.dirs, ...part.files, ...part.symlinks]) assert.equal(item.top % 5, index);
  }
});
