/**
 * Encoding of internal messages (commands, contexts, results) between services. JSON keeps the
 * messages readable in traces and logs; Uint8Array and bigint, which JSON lacks, are tagged
 * objects ({"$b": base64} and {"$n": decimal}). Decoding is strict: malformed input is a
 * CodecError, never a crash.
 */

export class CodecError extends Error {
  override name = "CodecError";
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const b64index = new Int16Array(128).fill(-1);
for (let i = 0; i < b64chars.length; i++) b64index[b64chars.charCodeAt(i)] = i;

export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += b64chars[n >> 18]! + b64chars[(n >> 12) & 63]! + b64chars[(n >> 6) & 63]! + b64chars[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += b64chars[n >> 18]! + b64chars[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += b64chars[n >> 18]! + b64chars[(n >> 12) & 63]! + b64chars[(n >> 6) & 63]! + "=";
  }
  return out;
}

export function base64Decode(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new CodecError("base64 length is not a multiple of 4");
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      const isPad = c === 61 && i + j >= text.length - pad;
      const v = isPad ? 0 : c < 128 ? b64index[c]! : -1;
      if (v < 0) throw new CodecError("invalid base64 character");
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { $n: value.toString() };
  if (value instanceof Uint8Array) return { $b: base64Encode(value) };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const v = value as { $n?: unknown; $b?: unknown };
      if (typeof v.$n === "string") {
        if (!/^-?\d+$/.test(v.$n)) throw new CodecError("invalid bigint");
        return BigInt(v.$n);
      }
      if (typeof v.$b === "string") return base64Decode(v.$b);
    }
  }
  return value;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeMessage(message: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(message, replacer));
}

/** Decodes bytes made by encodeMessage. The caller validates the shape it expects. */
export function decodeMessage(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes), reviver);
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError("malformed message", { cause: err });
  }
}
