import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { copyProblems, parseCheckFile, parseFileInfo, ToolOutputError } from "./data-path-tools.ts";

// Captured from mfsfileinfo / mfscheckfile 3.0.117 against mfsmaster 3.0.117 with 3 chunkservers.
const twoChunks = `/tmp/m/f:
\tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)
\t\tcopy 1: 10.213.100.1:9423 (status:VALID)
\t\tcopy 2: 10.213.100.1:9424 (status:VALID)
\tchunk 1: 0000000000000002_00000003 / (id:2 ver:3)
\t\tcopy 1: 10.213.100.1:9422 (status:VALID)
\t\tcopy 2: 10.213.100.1:9424 (status:WRONG VERSION)
`;

describe("mfsfileinfo / mfscheckfile output", () => {
  test("chunks, versions and copies with their status", () => {
    const chunks = parseFileInfo(twoChunks);
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks[1], {
      index: 1,
      id: "0000000000000002",
      version: "00000003",
      copies: [
        { host: "10.213.100.1", port: 9422, status: "VALID" },
        { host: "10.213.100.1", port: 9424, status: "WRONG VERSION" },
      ],
    });
    assert.deepEqual(copyProblems(chunks, 2), ["chunk 1 0000000000000002_00000003: 1 valid of 2 [9422:VALID,9424:WRONG VERSION]"]);
    assert.deepEqual(copyProblems(chunks.slice(0, 1), 2), []);
    assert.deepEqual(copyProblems(chunks.slice(0, 1), 3).length, 1);
  });

  test("empty files, holes and chunks without copies", () => {
    assert.deepEqual(parseFileInfo("/tmp/m/e:\n\tno chunks - empty file\n"), []);
    const sparse = parseFileInfo("/tmp/m/s:\n\tchunk 0: empty\n\tchunk 1: 0000000000000003_00000001 / (id:3 ver:1)\n\t\tno valid copies !!!\n");
    assert.deepEqual(sparse, [{ index: 0, copies: [] }, { index: 1, id: "0000000000000003", version: "00000001", copies: [] }]);
    assert.deepEqual(copyProblems(sparse, 2), ["chunk 1 0000000000000003_00000001: 0 valid of 0 []"]);
  });

  test("anything else is a typed error, not a silent pass", () => {
    assert.throws(() => parseFileInfo(""), ToolOutputError);
    assert.throws(() => parseFileInfo("/tmp/m/f: ENOENT (No such file or directory)\n"), ToolOutputError);
    assert.throws(() => parseFileInfo("/tmp/m/f:\n\t\tcopy 1: 10.213.100.1:9423 (status:VALID)\n"), ToolOutputError);
    assert.throws(() => parseFileInfo("/tmp/m/f:\n\tsomething new\n"), ToolOutputError);
  });

  test("mfscheckfile counts chunks per number of copies", () => {
    const counts = parseCheckFile("/tmp/m/s:\n chunks with 2 copies:            1\n chunks with 0 copies:            4\n empty (zero) chunks:             2\n");
    assert.deepEqual([...counts], [[2, 1], [0, 4]]);
  });
});
