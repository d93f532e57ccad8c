/**
 * Assertions are for programmer errors: a failed one means the code is wrong, not the input.
 * Operating errors (bad packets, missing files, lost leases) are typed results, never asserts.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message = "unreachable"): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
