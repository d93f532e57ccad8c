/**
 * A growable big-endian writer for building payloads. Values out of their field's range are
 * programmer errors (AssertionError): encoders take typed objects that were validated when
 * decoded or built by our own code.
 *
 * Hot path (every reply the gateway sends goes through here, a READDIR reply some 1 500 fields):
 * the range checks build their message only when they fail, and a u64 given as a number is
 * written as two u32 halves without a detour through BigInt.
 */
import { AssertionError } from "@antler/base";

const twoTo32 = 2 ** 32;
const twoTo64 = 2 ** 64;

function outOfRange(field: string, value: number | bigint): never {
  throw new AssertionError(`${field} out of range: ${value}`);
}

export class Writer {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(capacity = 64) {
    this.#bytes = new Uint8Array(Math.max(1, capacity));
    this.#view = new DataView(this.#bytes.buffer);
  }

  get length(): number {
    return this.#at;
  }

  #room(count: number): void {
    if (this.#at + count <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < this.#at + count) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  u8(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xff)) outOfRange("u8", value);
    this.#room(1);
    this.#bytes[this.#at++] = value;
    return this;
  }

  u16(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff)) outOfRange("u16", value);
    this.#room(2);
    this.#view.setUint16(this.#at, value);
    this.#at += 2;
    return this;
  }

  u32(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) outOfRange("u32", value);
    this.#room(4);
    this.#view.setUint32(this.#at, value);
    this.#at += 4;
    return this;
  }

  u64(value: bigint | number): this {
    this.#room(8);
    if (typeof value === "number") {
      // Two u32 halves, exact for every integral number below 2^64 (division by 2^32 is exact).
      if (!(Number.isInteger(value) && value >= 0 && value < twoTo64)) outOfRange("u64", value);
      this.#view.setUint32(this.#at, Math.floor(value / twoTo32));
      this.#view.setUint32(this.#at + 4, value % twoTo32);
    } else {
      if (!(value >= 0n && value <= 0xffffffffffffffffn)) outOfRange("u64", value);
      this.#view.setBigUint64(this.#at, value);
    }
    this.#at += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.#room(value.length);
    this.#bytes.set(value, this.#at);
    this.#at += value.length;
    return this;
  }

  /** NAME = leng:8 + bytes. */
  name(value: Uint8Array): this {
    if (value.length > 0xff) throw new AssertionError(`NAME longer than 255 bytes: ${value.length}`);
    return this.u8(value.length).bytes(value);
  }

  /** Overwrites the u32 at `offset` (already written), e.g. a length known only at the end. */
  u32At(offset: number, value: number): this {
    if (!(Number.isInteger(offset) && offset >= 0 && offset + 4 <= this.#at)) outOfRange("u32 offset", offset);
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) outOfRange("u32", value);
    this.#view.setUint32(offset, value);
    return this;
  }

  /** The bytes written; the buffer itself when it was sized exactly, else a copy of them. */
  finish(): Uint8Array {
    return this.#at === this.#bytes.length ? this.#bytes : this.#bytes.slice(0, this.#at);
  }
}
