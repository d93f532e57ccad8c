// File contents for the file-data suite: random files written from /dev/urandom with their md5
// taken on the way, md5 of a file read back, and "the same edit to two files" (a file on a mount
// and its reference copy on the local disk) so that a mount's contents can be compared byte for
// byte with what a local file system makes of the same operations.

import { createHash } from "node:crypto";
import { open, stat, truncate, type FileHandle } from "node:fs/promises";

/** Reads and writes go in pieces of this size (mfsmount's own block is 64 KiB). */
const pieceBytes = 1 << 20;

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** A MooseFS chunk: 64 MiB of a file. */
export const chunkBytes = 64 * MiB;

/** Bytes from /dev/urandom. */
export async function randomBytesFromDevice(length: number): Promise<Buffer> {
  const device = await open("/dev/urandom", "r");
  try {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await device.read(buffer, filled, Math.min(pieceBytes, length - filled), null);
      if (bytesRead === 0) throw new Error("/dev/urandom returned end of file");
      filled += bytesRead;
    }
    return buffer;
  } finally {
    await device.close();
  }
}

/**
 * Writes `size` bytes from /dev/urandom to every path in `paths` (the same bytes to each), fsyncs
 * and closes them, and returns the md5 (hex) of what was written.
 */
export async function writeRandomFile(paths: readonly string[], size: number): Promise<string> {
  const hash = createHash("md5");
  const device = await open("/dev/urandom", "r");
  const targets: FileHandle[] = [];
  try {
    for (const path of paths) targets.push(await open(path, "w"));
    const buffer = Buffer.alloc(pieceBytes);
    for (let written = 0; written < size; ) {
      const want = Math.min(pieceBytes, size - written);
      const { bytesRead } = await device.read(buffer, 0, want, null);
      if (bytesRead === 0) throw new Error("/dev/urandom returned end of file");
      const piece = buffer.subarray(0, bytesRead);
      hash.update(piece);
      for (const target of targets) await writeAll(target, piece, written);
      written += bytesRead;
    }
    for (const target of targets) await target.sync();
  } finally {
    await device.close();
    for (const target of targets) await target.close();
  }
  return hash.digest("hex");
}

/** md5 (hex) of a whole file, read in pieces. */
export async function md5OfFile(path: string): Promise<string> {
  const hash = createHash("md5");
  const file = await open(path, "r");
  try {
    const buffer = Buffer.alloc(pieceBytes);
    for (let position = 0; ; ) {
      const { bytesRead } = await file.read(buffer, 0, pieceBytes, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await file.close();
  }
  return hash.digest("hex");
}

/**
 * Compares two files byte for byte. Returns undefined when they are equal, else where they first
 * differ (a length difference counts, at the end of the shorter one).
 */
export async function firstDifference(expectedPath: string, actualPath: string): Promise<string | undefined> {
  const [expected, actual] = [await open(expectedPath, "r"), await open(actualPath, "r")];
  try {
    const expectedSize = (await expected.stat()).size;
    const actualSize = (await actual.stat()).size;
    const a = Buffer.alloc(pieceBytes);
    const b = Buffer.alloc(pieceBytes);
    const common = Math.min(expectedSize, actualSize);
    for (let position = 0; position < common; position += pieceBytes) {
      const length = Math.min(pieceBytes, common - position);
      await readExactly(expected, a, length, position);
      await readExactly(actual, b, length, position);
      if (!a.subarray(0, length).equals(b.subarray(0, length))) {
        let offset = 0;
        while (a[offset] === b[offset]) offset++;
        const at = position + offset;
        return `first difference at byte ${at} (chunk ${Math.floor(at / chunkBytes)}): expected 0x${hex(a[offset]!)}, got 0x${hex(b[offset]!)}`;
      }
    }
    if (expectedSize !== actualSize) return `length ${actualSize}, expected ${expectedSize} (equal up to ${common})`;
    return undefined;
  } finally {
    await expected.close();
    await actual.close();
  }
}

/** A file on a mount and its reference copy on the local disk, edited together. */
export class MirroredFile {
  readonly mountPath: string;
  readonly referencePath: string;

  constructor(mountPath: string, referencePath: string) {
    this.mountPath = mountPath;
    this.referencePath = referencePath;
  }

  /** Writes `data` at `offset` into both (each opened, written, fsynced, closed). */
  async writeAt(offset: number, data: Uint8Array): Promise<void> {
    for (const path of [this.mountPath, this.referencePath]) {
      const file = await open(path, "r+");
      try {
        await writeAll(file, data, offset);
        await file.sync();
      } finally {
        await file.close();
      }
    }
  }

  /** Appends `data` to both. */
  async append(data: Uint8Array): Promise<void> {
    await this.writeAt((await stat(this.referencePath)).size, data);
  }

  /** truncate(2) of both to `length` (shrinks, or grows with zeros). */
  async truncate(length: number): Promise<void> {
    await truncate(this.mountPath, length);
    await truncate(this.referencePath, length);
  }

  /** Where `path` (this file, seen through any mount) differs from the reference, or undefined. */
  async differenceFrom(path: string = this.mountPath): Promise<string | undefined> {
    return firstDifference(this.referencePath, path);
  }
}

async function writeAll(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write returned 0 at ${position + done}`);
    done += bytesWritten;
  }
}

async function readExactly(file: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`short read at ${position + done} (file shrank while compared?)`);
    done += bytesRead;
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
