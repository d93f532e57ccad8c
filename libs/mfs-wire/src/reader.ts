/**
 * A bounds-checked cursor over a payload. Every read checks the remaining length first, so a
 * decoder can never read past the frame: a short payload is a DecodeError, never an exception of
 * another kind and never bytes of the next frame.
 */
import { DecodeError } from "./errors.ts";

export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.#bytes.length - this.#at;
  }

  get offset(): number {
    return this.#at;
  }

  #need(count: number, what: string): void {
    if (count > this.remaining) {
      throw new DecodeError(`${what}: needs ${count} bytes at offset ${this.#at}, ${this.remaining} left`);
    }
  }

  u8(what = "u8"): number {
    this.#need(1, what);
    return this.#bytes[this.#at++]!;
  }

  u16(what = "u16"): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.#at);
    this.#at += 2;
    return value;
  }

  u32(what = "u32"): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.#at);
    this.#at += 4;
    return value;
  }

  u64(what = "u64"): bigint {
    this.#need(8, what);
    const value = this.#view.getBigUint64(this.#at);
    this.#at += 8;
    return value;
  }

  /** A u64 that must fit a JS number exactly (lengths, sizes): larger is a DecodeError. */
  u64Number(what = "u64"): number {
    const value = this.u64(what);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(`${what}: ${value} exceeds 2^53`);
    return Number(value);
  }

  /** Raw bytes (a view into the payload, not a copy). */
  bytes(count: number, what = "bytes"): Uint8Array {
    this.#need(count, what);
    const out = this.#bytes.subarray(this.#at, this.#at + count);
    this.#at += count;
    return out;
  }

  /** NAME = leng:8 + leng bytes. */
  name(what = "name"): Uint8Array {
    return this.bytes(this.u8(`${what} length`), what);
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** Decoders call this last: trailing bytes mean the layout was not the one we think. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${what}: ${this.remaining} unexpected trailing bytes`);
  }
}
