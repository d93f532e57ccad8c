/**
 * A growable big-endian writer for building payloads. Values out of their field's range are
 * programmer errors (asserted): encoders take typed objects that were validated when decoded or
 * built by our own code.
 */
import { assert } from "@antler/base";

export class Writer {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(capacity = 64) {
    this.#bytes = new Uint8Array(capacity);
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
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `u8 out of range: ${value}`);
    this.#room(1);
    this.#bytes[this.#at++] = value;
    return this;
  }

  u16(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffff, `u16 out of range: ${value}`);
    this.#room(2);
    this.#view.setUint16(this.#at, value);
    this.#at += 2;
    return this;
  }

  u32(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `u32 out of range: ${value}`);
    this.#room(4);
    this.#view.setUint32(this.#at, value);
    this.#at += 4;
    return this;
  }

  u64(value: bigint | number): this {
    const big = typeof value === "bigint" ? value : BigInt(value);
    assert(big >= 0n && big <= 0xffffffffffffffffn, `u64 out of range: ${value}`);
    this.#room(8);
    this.#view.setBigUint64(this.#at, big);
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
    assert(value.length <= 0xff, `NAME longer than 255 bytes: ${value.length}`);
    return this.u8(value.length).bytes(value);
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#at);
  }
}
