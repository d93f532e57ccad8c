/** Undo steps run newest first, each once, and a failing step does not stop the others. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Cleanup } from "./cleanup.ts";

test("steps run in reverse order, once, past failures", async () => {
  const cleanup = new Cleanup();
  const ran: string[] = [];
  const logged: string[] = [];
  cleanup.add("a", async () => void ran.push("a"));
  cleanup.add("b", async () => {
    ran.push("b");
    throw new Error("boom");
  });
  const runC = cleanup.add("c", async () => void ran.push("c"));
  cleanup.add("d", async () => void ran.push("d"));
  await runC(); // run early by its owner: not again later
  await Promise.all([cleanup.runAll((line) => logged.push(line)), cleanup.runAll((line) => logged.push(line))]);
  await cleanup.runAll((line) => logged.push(line));
  assert.deepEqual(ran, ["c", "d", "b", "a"]);
  assert.deepEqual(logged, ["cleanup: b failed: boom"]);
});
