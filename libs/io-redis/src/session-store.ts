/**
 * Client sessions in Redis, so a mount can resume its session on any gateway, after a gateway
 * restart and (with Redis persistence) after a whole-cluster restart.
 *
 * Keys:
 * - `antler:session:next`: INCR counter. Session ids are cluster-unique, non-zero and increasing
 *   (MooseFS expects a master-chosen u32 that never repeats while a mount may still hold it).
 * - `antler:session:<id>`: a hash with `record` (the JSON of everything but the id: the key holds
 *   the id), `gateway` (which gateway holds the session now), `created` and `seen` (ms since the
 *   epoch). Its TTL is the sustain time, refreshed while a gateway holds the session, so a session
 *   whose mount went away for good disappears on its own. Also one field `u:<msgid>` per
 *   unanswered request of the session (`<requestId>\n<fingerprint>`, written before the request
 *   leaves the gateway and removed when it is answered), so the packets a mount re-sends after a
 *   reconnect — to any gateway — are recognised; they live and die with the session.
 *
 * The store does not know what a session record contains: the caller gives a `parse` that turns
 * the stored JSON back into its record type (and rejects what it does not recognise), so this
 * package stays independent of the gateway's types.
 */
import { assert, limits } from "@antler/base";
import type { RedisClient } from "./connect.ts";

export const sessionKeyPrefix = "antler:session:";
export const sessionCounterKey = "antler:session:next";
const sessionIdMax = 0xffff_ffff;

export function sessionKey(sessionId: number): string {
  return `${sessionKeyPrefix}${sessionId}`;
}

/** The stored session could not be understood (corrupt, or written by an incompatible version). */
export class SessionDecodeError extends Error {
  override name = "SessionDecodeError";
}

/** Every u32 session id was handed out; MooseFS session ids cannot grow further. */
export class SessionIdsExhaustedError extends Error {
  override name = "SessionIdsExhaustedError";
}

export interface SessionEntry<R> {
  readonly record: R;
  /** The gateway that touched the session last ("" before the first touch). */
  readonly gatewayId: string;
  readonly createdMs: number;
  readonly seenMs: number;
  /** Seconds until Redis forgets the session unless it is touched again. */
  readonly ttlSeconds: number;
}

export interface SessionStore<R extends { readonly sessionId: number }> {
  /** Allocates the next session id and persists the record with a sustain-time TTL. */
  create(draft: Omit<R, "sessionId">): Promise<R>;
  /** The persisted session, or null when it is unknown or expired. SessionDecodeError if corrupt. */
  load(sessionId: number): Promise<R | null>;
  /** Records which gateway holds the session and refreshes its TTL. False if it no longer exists. */
  touch(sessionId: number, gatewayId: string): Promise<boolean>;
  /** Forgets the session (CLOSESESSION). Deleting an unknown session is not an error. */
  delete(sessionId: number): Promise<void>;
  /**
   * The session's unanswered requests, msgid → `<requestId>\n<fingerprint>` (empty when the
   * session is unknown). Values the store did not write are skipped.
   */
  unanswered(sessionId: number): Promise<Map<number, UnansweredEntry>>;
  /** Records msgid's unanswered request (replacing the one before); nothing if the session is gone. */
  putUnanswered(sessionId: number, msgid: number, entry: UnansweredEntry): Promise<void>;
  /** Forgets msgid's unanswered request if it is still `requestId` (not a later one). */
  clearUnanswered(sessionId: number, msgid: number, requestId: string): Promise<void>;
  /** Up to `max` sessions, for status tools. Corrupt entries are skipped. */
  list(max?: number): Promise<SessionEntry<R>[]>;
}

/** One unanswered request: its request id and its command's fingerprint (neither holds a newline). */
export interface UnansweredEntry {
  readonly requestId: string;
  readonly fingerprint: string;
}

const unansweredFieldPrefix = "u:";

export interface SessionStoreOptions<R> {
  /** Turns `{ sessionId, ...storedJson }` back into a record; throws on anything unexpected. */
  readonly parse: (value: unknown) => R;
  readonly sustainSeconds?: number;
  readonly now?: () => number;
}

// Refreshes an existing session only: a touch racing a delete must not resurrect a hash that
// holds a gateway and no record.
const touchScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'gateway', ARGV[1], 'seen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

// Writes only into a session that exists: a put racing a delete or the TTL must not leave a hash
// without a record and without a TTL behind.
const putUnansweredScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

// Removes the field only while it still names this request: a late clear from a connection the
// mount already left must not drop what its new connection recorded under the same msgid.
const clearUnansweredScript = `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '\\n' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0`;

export function createSessionStore<R extends { readonly sessionId: number }>(
  redis: RedisClient,
  options: SessionStoreOptions<R>,
): SessionStore<R> {
  const sustainSeconds = options.sustainSeconds ?? limits.sessionSustainSeconds;
  const now = options.now ?? Date.now;
  assert(Number.isInteger(sustainSeconds) && sustainSeconds > 0, "sustainSeconds must be a positive integer");

  function decode(sessionId: number, recordJson: string): R {
    let stored: unknown;
    try {
      stored = JSON.parse(recordJson);
    } catch (err) {
      throw new SessionDecodeError(`session ${sessionId}: record is not JSON`, { cause: err });
    }
    if (stored === null || typeof stored !== "object" || Array.isArray(stored)) {
      throw new SessionDecodeError(`session ${sessionId}: record is not an object`);
    }
    try {
      return options.parse({ ...stored, sessionId });
    } catch (err) {
      throw new SessionDecodeError(`session ${sessionId}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  return {
    async create(draft) {
      // INCR alone is the allocation: ids are unique and increasing across every gateway. A crash
      // between INCR and the write only skips an id, which MooseFS does not mind.
      const sessionId = await redis.incr(sessionCounterKey);
      if (sessionId > sessionIdMax) throw new SessionIdsExhaustedError(`session id ${sessionId} exceeds u32`);
      assert(sessionId > 0, "INCR returned a non-positive session id");
      const record = { ...draft, sessionId } as R;
      const { sessionId: _omitted, ...stored } = record;
      const nowMs = now();
      const replies = await redis
        .multi()
        .hset(sessionKey(sessionId), { record: JSON.stringify(stored), gateway: "", created: nowMs, seen: nowMs })
        .expire(sessionKey(sessionId), sustainSeconds)
        .exec();
      throwOnTransactionError(replies);
      return record;
    },

    async load(sessionId) {
      if (!isSessionId(sessionId)) return null;
      const recordJson = await redis.hget(sessionKey(sessionId), "record");
      return recordJson === null ? null : decode(sessionId, recordJson);
    },

    async touch(sessionId, gatewayId) {
      if (!isSessionId(sessionId)) return false;
      const touched = await redis.eval(touchScript, 1, sessionKey(sessionId), gatewayId, now(), sustainSeconds);
      return touched === 1;
    },

    async delete(sessionId) {
      if (!isSessionId(sessionId)) return;
      await redis.del(sessionKey(sessionId));
    },

    async unanswered(sessionId) {
      const found = new Map<number, UnansweredEntry>();
      if (!isSessionId(sessionId)) return found;
      const fields = await redis.hgetall(sessionKey(sessionId));
      for (const [field, value] of Object.entries(fields)) {
        if (!field.startsWith(unansweredFieldPrefix)) continue;
        const msgid = Number(field.slice(unansweredFieldPrefix.length));
        const newline = value.indexOf("\n");
        if (!Number.isInteger(msgid) || msgid < 0 || newline <= 0) continue;
        found.set(msgid, { requestId: value.slice(0, newline), fingerprint: value.slice(newline + 1) });
      }
      return found;
    },

    async putUnanswered(sessionId, msgid, entry) {
      if (!isSessionId(sessionId)) return;
      assert(!entry.requestId.includes("\n") && !entry.fingerprint.includes("\n"), "unanswered entry with a newline");
      await redis.eval(putUnansweredScript, 1, sessionKey(sessionId), `${unansweredFieldPrefix}${msgid}`, `${entry.requestId}\n${entry.fingerprint}`);
    },

    async clearUnanswered(sessionId, msgid, requestId) {
      if (!isSessionId(sessionId)) return;
      await redis.eval(clearUnansweredScript, 1, sessionKey(sessionId), `${unansweredFieldPrefix}${msgid}`, requestId);
    },

    async list(max = limits.sessionListMax) {
      const entries: SessionEntry<R>[] = [];
      let cursor = "0";
      // SCAN visits every key that exists for the whole scan at least once; a bounded number of
      // rounds (each returns about COUNT keys) keeps a huge keyspace from stalling a status call.
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${sessionKeyPrefix}*`, "COUNT", 1000);
        cursor = next;
        const ids = keys.map((key) => Number(key.slice(sessionKeyPrefix.length))).filter(isSessionId);
        const pipeline = redis.pipeline();
        for (const id of ids) {
          pipeline.hgetall(sessionKey(id));
          pipeline.ttl(sessionKey(id));
        }
        const replies = ids.length === 0 ? [] : ((await pipeline.exec()) ?? []);
        for (let i = 0; i < ids.length && entries.length < max; i++) {
          const [hashError, hash] = replies[2 * i] ?? [];
          const [, ttl] = replies[2 * i + 1] ?? [];
          if (hashError || hash === null || typeof hash !== "object") continue;
          const fields = hash as Record<string, string>;
          if (fields.record === undefined) continue;
          try {
            entries.push({
              record: decode(ids[i]!, fields.record),
              gatewayId: fields.gateway ?? "",
              createdMs: Number(fields.created ?? 0),
              seenMs: Number(fields.seen ?? 0),
              ttlSeconds: typeof ttl === "number" ? ttl : -1,
            });
          } catch (err) {
            if (!(err instanceof SessionDecodeError)) throw err;
          }
        }
      } while (cursor !== "0" && entries.length < max);
      entries.sort((a, b) => a.record.sessionId - b.record.sessionId);
      return entries;
    },
  };
}

function isSessionId(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value <= sessionIdMax;
}

function throwOnTransactionError(replies: [Error | null, unknown][] | null): void {
  // exec() answers null when the transaction was aborted, and per-command errors in the pairs.
  if (replies === null) throw new Error("Redis transaction aborted");
  for (const [error] of replies) if (error) throw error;
}
