/**
 * One shard log record holds a batch of state-machine entries (group commit: every entry produced
 * while the previous append was in flight goes into the next one). Layout, big-endian:
 *
 *   magic:16 = 0x414C ("AL")  version:8 = 1  count:32  count * [ length:32 bytes:length ]
 *
 * Decoding is strict: a record that is not exactly this is a LogBatchError, never a partial batch.
 */
import { limits } from "@antler/base";

const magic = 0x414c;
const version = 1;
const headerBytes = 2 + 1 + 4;

export class LogBatchError extends Error {
  override name = "LogBatchError";
}

export function batchBytes(entries: readonly Uint8Array[]): number {
  let total = headerBytes;
  for (const entry of entries) total += 4 + entry.length;
  return total;
}

export function encodeBatch(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 0 || entries.length > limits.shardLogBatchEntriesMax) throw new LogBatchError(`batch of ${entries.length} entries`);
  const out = new Uint8Array(batchBytes(entries));
  const view = new DataView(out.buffer);
  view.setUint16(0, magic);
  view.setUint8(2, version);
  view.setUint32(3, entries.length);
  let offset = headerBytes;
  for (const entry of entries) {
    view.setUint32(offset, entry.length);
    out.set(entry, offset + 4);
    offset += 4 + entry.length;
  }
  return out;
}

/** The entries of a record, as views into `record` (no copies). */
export function decodeBatch(record: Uint8Array): Uint8Array[] {
  if (record.length < headerBytes) throw new LogBatchError("record shorter than a batch header");
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (view.getUint16(0) !== magic) throw new LogBatchError("not a log batch (bad magic)");
  if (view.getUint8(2) !== version) throw new LogBatchError(`unsupported log batch version ${view.getUint8(2)}`);
  const count = view.getUint32(3);
  if (count === 0 || count > limits.shardLogBatchEntriesMax) throw new LogBatchError(`batch count ${count} out of range`);
  const entries: Uint8Array[] = [];
  let offset = headerBytes;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > record.length) throw new LogBatchError(`batch truncated in entry ${i} length`);
    const length = view.getUint32(offset);
    offset += 4;
    if (length > record.length - offset) throw new LogBatchError(`batch truncated in entry ${i}`);
    entries.push(record.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== record.length) throw new LogBatchError(`${record.length - offset} trailing bytes after the batch`);
  return entries;
}
