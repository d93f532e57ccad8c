export { AssertionError, assert, unreachable } from "./assert.ts";
export * as limits from "./limits.ts";
