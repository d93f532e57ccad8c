/**
 * The two ways bytes from a peer can be wrong. Both are operating errors (bad input), never
 * programmer errors: the caller closes that one connection and carries on.
 */

/** The byte stream cannot be split into frames (oversized length, garbage header). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** A frame's payload does not match the layout of its message (wrong length, bad field). */
export class DecodeError extends Error {
  override name = "DecodeError";
}
