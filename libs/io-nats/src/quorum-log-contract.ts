/**
 * What the shard server relies on from a TruncatableLogStream, as one test suite that runs against
 * every implementation (JetStreamLogStream on one server, QuorumLogStream on three): numbering,
 * fencing by expected last sequence, idempotent retries by msgId, a second writer, reading back
 * and truncation. If the quorum journal drifts from JetStream's behaviour, one of them fails.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FencedError, LogUnavailableError, type LogRecord, type TruncatableLogStream } from "./log-stream.ts";

export interface ContractLogs {
  /** A fresh, empty log. */
  readonly log: TruncatableLogStream;
  /** Another writer (its own instance and state) on the same log. */
  openOther(): Promise<TruncatableLogStream>;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function records(log: TruncatableLogStream, from = 1): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  await log.readAll(from, (r) => out.push(r));
  return out;
}

export function logStreamContract(name: string, make: () => Promise<ContractLogs>): void {
  test(`${name}: appends are numbered from 1 and read back in order`, async () => {
    const { log } = await make();
    assert.equal(await log.lastSeq(), 0);
    assert.equal(await log.firstSeq(), 1);
    assert.deepEqual(await records(log), []);
    for (let i = 0; i < 5; i++) assert.equal(await log.append(bytes(`r${i}`), i), i + 1);
    assert.equal(await log.lastSeq(), 5);
    assert.deepEqual((await records(log)).map((r) => `${r.seq}:${text(r.data)}`), ["1:r0", "2:r1", "3:r2", "4:r3", "5:r4"]);
    assert.deepEqual((await records(log, 4)).map((r) => r.seq), [4, 5]);
    assert.equal(await log.readAll(6, () => assert.fail("nothing after the end")), 5);
  });

  test(`${name}: a stale or future expected sequence is fenced and stores nothing`, async () => {
    const { log } = await make();
    await log.append(bytes("a"), 0);
    await log.append(bytes("b"), 1);
    await assert.rejects(log.append(bytes("stale"), 1), (err: unknown) => err instanceof FencedError && err.expectedLastSeq === 1);
    await assert.rejects(log.append(bytes("ahead"), 5), FencedError);
    await assert.rejects(log.append(bytes("empty"), 0), FencedError);
    assert.equal(await log.lastSeq(), 2);
    assert.deepEqual((await records(log)).map((r) => text(r.data)), ["a", "b"]);
    // The writer can go on from the right place.
    assert.equal(await log.append(bytes("c"), 2), 3);
  });

  test(`${name}: a retried append with the same msgId is stored once, even after its ack was lost`, async () => {
    const { log } = await make();
    assert.equal(await log.append(bytes("x"), 0, "w1-1"), 1);
    assert.equal(await log.append(bytes("x"), 0, "w1-1"), 1);
    assert.equal(await log.append(bytes("y"), 1, "w1-2"), 2);
    await assert.rejects(log.append(bytes("z"), 1, "w2-2"), FencedError);
    await assert.rejects(log.append(bytes("x"), 2, "w1-1"), FencedError, "an old id at a new position is not a success");
    assert.equal(await log.lastSeq(), 2);
    assert.deepEqual((await records(log)).map((r) => text(r.data)), ["x", "y"]);
  });

  test(`${name}: a second writer that appends fences the first; the first can re-read and go on`, async () => {
    const { log, openOther } = await make();
    assert.equal(await log.append(bytes("a1"), 0, "a:1"), 1);
    const other = await openOther();
    assert.equal(await other.lastSeq(), 1);
    assert.equal(await other.append(bytes("b2"), 1, "b:2"), 2);
    await assert.rejects(log.append(bytes("a2"), 1, "a:2"), FencedError);
    const last = await log.lastSeq();
    assert.equal(last, 2);
    assert.equal(await log.append(bytes("a3"), last, "a:3"), 3);
    await assert.rejects(other.append(bytes("b3"), 2, "b:3"), FencedError);
    assert.deepEqual((await records(other)).map((r) => text(r.data)), ["a1", "b2", "a3"]);
  });

  test(`${name}: two writers racing for the same slot: exactly one wins`, async () => {
    const { log, openOther } = await make();
    const other = await openOther();
    await log.append(bytes("base"), 0, "a:1");
    for (let round = 0; round < 10; round++) {
      const expected = await log.lastSeq();
      const outcomes = await Promise.allSettled([
        log.append(bytes(`a${round}`), expected, `a:r${round}`),
        other.append(bytes(`b${round}`), expected, `b:r${round}`),
      ]);
      const won = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
      assert.equal(won.length, 1, `round ${round}: ${won.length} writers succeeded`);
      assert.equal((won[0] as PromiseFulfilledResult<number>).value, expected + 1);
      assert.ok(lost[0]!.reason instanceof FencedError, String(lost[0]!.reason));
      assert.equal(await log.lastSeq(), expected + 1);
    }
    // Whatever happened, every reader sees one history.
    assert.deepEqual((await records(log)).map((r) => text(r.data)), (await records(other)).map((r) => text(r.data)));
  });

  test(`${name}: truncation keeps the tail and the last sequence; fencing still works`, async () => {
    const { log } = await make();
    for (let i = 0; i < 10; i++) await log.append(bytes(`r${i + 1}`), i);
    await log.truncateBefore(7);
    assert.equal(await log.firstSeq(), 7);
    assert.equal(await log.lastSeq(), 10);
    assert.deepEqual((await records(log, 7)).map((r) => r.seq), [7, 8, 9, 10]);
    await assert.rejects(log.readAll(1, () => {}), LogUnavailableError, "reading truncated records is a gap");
    await assert.rejects(log.append(bytes("stale"), 9), FencedError);
    assert.equal(await log.append(bytes("r11"), 10), 11);
    await log.truncateBefore(12);
    assert.equal(await log.firstSeq(), 12);
    assert.equal(await log.lastSeq(), 11);
    assert.equal(await log.readAll(12, () => assert.fail("nothing left")), 11);
    await assert.rejects(log.append(bytes("stale"), 0), FencedError, "an empty log after a purge is not a fresh log");
    assert.equal(await log.append(bytes("r12"), 11), 12);
    await log.truncateBefore(3);
    assert.equal(await log.firstSeq(), 12);
  });

  test(`${name}: reading crosses batch boundaries and stops at the end seen at the start`, async () => {
    const { log } = await make();
    const count = 300;
    for (let i = 0; i < count; i++) await log.append(bytes(String(i)), i);
    assert.deepEqual((await records(log, 3)).map((r) => Number(text(r.data))), Array.from({ length: count - 2 }, (_, i) => i + 2));
    let seen = 0;
    assert.equal(await log.readAll(count, () => seen++), count);
    assert.equal(seen, 1);
  });
}
