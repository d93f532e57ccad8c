/**
 * Framing of every MooseFS link: `type:32 length:32 payload[length]`, big-endian. The decoder is
 * fed arbitrary chunks of a TCP stream (split anywhere, down to single bytes) and yields whole
 * frames; a header announcing more than the link's maximum payload is a FrameError (mfsmaster
 * closes such a link: CLTOMA_MAXPACKETSIZE and friends, limits.ts).
 */
import { FrameError } from "./errors.ts";
import { Writer } from "./writer.ts";

export interface Frame {
  readonly type: number;
  readonly payload: Uint8Array;
}

export const frameHeaderBytes = 8;

export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  return new Writer(frameHeaderBytes + payload.length).u32(type).u32(payload.length).bytes(payload).finish();
}

/** A frame's buffer starts this small and doubles as its bytes arrive, so a header alone cannot
 * make us allocate the whole announced payload. */
const payloadBufferBytesInitial = 64 * 1024;

export class FrameDecoder {
  readonly #payloadBytesMax: number;
  readonly #header = new Uint8Array(frameHeaderBytes);
  #headerFill = 0;
  #type = 0;
  #payload: Uint8Array | null = null;
  #payloadLength = 0;
  #payloadFill = 0;
  #failed: FrameError | null = null;

  constructor(payloadBytesMax: number) {
    this.#payloadBytesMax = payloadBytesMax;
  }

  /**
   * Consumes `chunk` and returns the frames it completed, in order. After a FrameError the stream
   * cannot be resynchronised: every later call throws the same error.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failed !== null) throw this.#failed;
    const frames: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#payload === null) {
        const take = Math.min(frameHeaderBytes - this.#headerFill, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < frameHeaderBytes) break;
        const view = new DataView(this.#header.buffer);
        this.#type = view.getUint32(0);
        const length = view.getUint32(4);
        if (length > this.#payloadBytesMax) {
          this.#failed = new FrameError(`frame type ${this.#type} announces ${length} payload bytes, max ${this.#payloadBytesMax}`);
          throw this.#failed;
        }
        this.#headerFill = 0;
        this.#payload = new Uint8Array(Math.min(length, payloadBufferBytesInitial));
        this.#payloadLength = length;
        this.#payloadFill = 0;
      }
      const take = Math.min(this.#payloadLength - this.#payloadFill, chunk.length - at);
      if (this.#payloadFill + take > this.#payload.length) {
        let capacity = this.#payload.length * 2;
        while (capacity < this.#payloadFill + take) capacity *= 2;
        const grown = new Uint8Array(Math.min(capacity, this.#payloadLength));
        grown.set(this.#payload.subarray(0, this.#payloadFill));
        this.#payload = grown;
      }
      this.#payload.set(chunk.subarray(at, at + take), this.#payloadFill);
      this.#payloadFill += take;
      at += take;
      if (this.#payloadFill === this.#payloadLength) {
        frames.push({ type: this.#type, payload: this.#payload });
        this.#payload = null;
      }
    }
    return frames;
  }

  /** Bytes of an unfinished frame held back (0 when the stream ended on a frame boundary). */
  get pendingBytes(): number {
    return this.#payload === null ? this.#headerFill : frameHeaderBytes + this.#payloadFill;
  }
}
