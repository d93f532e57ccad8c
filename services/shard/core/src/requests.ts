/**
 * Recent request ids and their results, so that a client request retried after a failover (the
 * gateway resends it with the same requestId) is answered with the original result instead of
 * being applied twice. Filled by applying log entries, so every replica and every replay has the
 * same memory. Bounded: the oldest ids are forgotten first.
 */
import { limits } from "@antler/base";
import type { Result } from "@antler/ops";
import type { State } from "./state.ts";

export function rememberRequest(st: State, requestId: string, result: Result): void {
  st.requests.delete(requestId);
  st.requests.set(requestId, result);
  // One insertion can exceed the bound by one at most.
  if (st.requests.size > limits.requestIdsRememberedMax) {
    const oldest = st.requests.keys().next();
    if (oldest.done !== true) st.requests.delete(oldest.value);
  }
}

export function recalledResult(st: State, requestId: string | undefined): Result | undefined {
  return requestId === undefined ? undefined : st.requests.get(requestId);
}
