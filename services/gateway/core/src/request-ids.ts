/**
 * Ids of client requests: `${prefix}${sessionId}:${msgid}:${counter}`. The prefix is the link's
 * cluster-unique id (every connection and gateway restart has its own), the counter counts the
 * connection's requests, so an id never repeats — except on purpose: a packet mfsmount re-sends
 * after reconnecting keeps the id of its first sending (connection.ts), and shards answer it from
 * their request-id memory. The `sessionId:msgid` part names the mfsmount worker thread that sent
 * it (one msgid per thread); checkers use it to tell a re-send from another thread's request.
 */
export function clientRequestId(prefix: string, sessionId: number, msgid: number, counter: number): string {
  return `${prefix}${sessionId}:${msgid}:${counter}`;
}

const threadPattern = /^(\d+:\d+):\d+$/;

/** The `sessionId:msgid` of a client request id; null for ids of another form (system requests). */
export function threadOfRequestId(requestId: string): string | null {
  const local = requestId.slice(requestId.lastIndexOf("/") + 1);
  return threadPattern.exec(local)?.[1] ?? null;
}
