/**
 * Byte strings in JS strings. MooseFS names are raw bytes (not necessarily UTF-8); carrying them
 * as one char per byte keeps them usable as Map keys and exact on the wire.
 */
import { assert } from "@antler/base";

/** A byte string: every char code is 0..255. */
export type Name = string;

export function nameFromBytes(bytes: Uint8Array): Name {
  let out = "";
  // Chunked to stay clear of argument-count limits for long values.
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(i + 4096, bytes.length)));
  }
  return out;
}

export function nameToBytes(name: Name): Uint8Array {
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    assert(code < 256, "name is not a byte string");
    out[i] = code;
  }
  return out;
}

/** A byte string from text, encoded as UTF-8 (for tests and tools). */
export function nameFromText(text: string): Name {
  return nameFromBytes(new TextEncoder().encode(text));
}

/** Text from a byte string, decoded as UTF-8 (for logs and tools). */
export function nameToText(name: Name): string {
  return new TextDecoder().decode(nameToBytes(name));
}
