// Seeded generation of hostile client traffic for the gateway's MooseFS client port: random bytes,
// frames with random types and lengths, frames cut short, absurd declared lengths, REGISTER
// packets with broken fields, and registered sessions followed by garbage. Everything derives
// from one seed, so a failure is replayed with the seed the fuzz test prints.
// Framing (moosefs-protocol.md §1.2): type:32 length:32 (big-endian), then `length` bytes.

/** A small, fast, seedable PRNG (mulberry32); plenty for choosing fuzz inputs. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, bound). */
  below(bound: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * bound);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(count: number): Uint8Array {
    const out = new Uint8Array(count);
    for (let index = 0; index < count; index++) out[index] = this.nextU32() & 0xff;
    return out;
  }
}

/** The 64-byte ACL blob that starts every REGISTER (moosefs-protocol.md §2.2). */
const registerBlob = "DjI1GAQDULI5d2YjA26ypc3ovkhjvhciTQVx3CS4nYgtBoUcsljiVpsErJENHaw0";
const clientVersion = 0x000300ea;
/** Message types worth hitting: NOP, version/config queries, REGISTER, FUSE ops, admin range. */
const interestingTypes = [0, 1, 2, 4, 5, 6, 7, 400, 402, 404, 406, 408, 410, 418, 420, 424, 428, 430, 432, 434, 450, 452, 460, 462, 464, 466, 468, 470, 472, 474, 500, 510, 520, 530, 547, 700, 701, 0xffffffff];

export function frame(type: number, payload: Uint8Array, declaredLength = payload.length): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, type >>> 0);
  view.setUint32(4, declaredLength >>> 0);
  out.set(payload, 8);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** A well-formed NEWSESSION register for path "/" with the given info string. */
export function registerNewSession(info: string): Uint8Array {
  const infoBytes = new TextEncoder().encode(`${info}\0`);
  const path = new TextEncoder().encode("/\0");
  const payload = concat([
    new TextEncoder().encode(registerBlob),
    Uint8Array.of(2),
    u32(clientVersion),
    u32(infoBytes.length),
    infoBytes,
    u32(path.length),
    path,
  ]);
  return frame(400, payload);
}

export const scenarioNames = [
  "random-bytes",
  "random-frame",
  "truncated-frame",
  "huge-length",
  "broken-register",
  "session-then-garbage",
  "byte-by-byte",
  "connect-and-close",
] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** What one fuzz connection sends: chunks written in order (with small pauses between them). */
export interface Scenario {
  readonly name: ScenarioName;
  readonly chunks: readonly Uint8Array[];
  /** Reset the connection (RST) at the end instead of closing it politely. */
  readonly reset: boolean;
}

export function makeScenario(prng: Prng): Scenario {
  const name = prng.pick(scenarioNames);
  const reset = prng.below(4) === 0;
  return { name, chunks: scenarioChunks(name, prng), reset };
}

function scenarioChunks(name: ScenarioName, prng: Prng): Uint8Array[] {
  switch (name) {
    case "random-bytes":
      return [prng.bytes(1 + prng.below(300))];
    case "random-frame": {
      const frames = Array.from({ length: 1 + prng.below(5) }, () => frame(prng.pick(interestingTypes), prng.bytes(prng.below(120))));
      return [concat(frames)];
    }
    case "truncated-frame": {
      const whole = frame(prng.pick(interestingTypes), prng.bytes(4 + prng.below(200)));
      return [whole.slice(0, prng.below(whole.length))];
    }
    case "huge-length":
      return [frame(prng.pick(interestingTypes), prng.bytes(prng.below(64)), prng.pick([0xffffffff, 0x7fffffff, 100_000_000, 65_536 * 1024]))];
    case "broken-register": {
      const valid = registerNewSession(`fuzz-${prng.nextU32()}`);
      const broken = valid.slice();
      // Corrupt a few bytes (the blob, rcode, a length field or the strings), or cut it short.
      for (let flips = 1 + prng.below(4); flips > 0; flips--) broken[8 + prng.below(broken.length - 8)] = prng.nextU32() & 0xff;
      return [prng.below(3) === 0 ? broken.slice(0, 8 + prng.below(broken.length - 8)) : broken];
    }
    case "session-then-garbage": {
      const garbage = Array.from({ length: 1 + prng.below(4) }, () => {
        const type = prng.pick(interestingTypes);
        // A msgid first, like real FUSE requests, then random fields.
        return frame(type, concat([u32(prng.nextU32()), prng.bytes(prng.below(80))]));
      });
      return [registerNewSession(`fuzz-${prng.nextU32()}`), ...garbage];
    }
    case "byte-by-byte": {
      const whole = frame(prng.pick(interestingTypes), prng.bytes(prng.below(40)));
      return Array.from(whole, (byte) => Uint8Array.of(byte));
    }
    case "connect-and-close":
      return [];
  }
}
