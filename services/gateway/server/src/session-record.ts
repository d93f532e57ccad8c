/**
 * Validation of a SessionRecord read back from Redis. The store is shared by every gateway and
 * outlives versions, so what comes back is checked field by field: a record we do not understand
 * is rejected (the mount then registers a new session) rather than half-used.
 */
import type { SessionRecord } from "@antler/gateway-core";

const u32 = 0xffff_ffff;

/** Every numeric field of a SessionRecord with its largest value (all are unsigned). */
const numericFields = {
  sessionId: u32,
  rootInode: u32,
  sesflags: 0xff,
  umask: 0xffff,
  rootUid: u32,
  rootGid: u32,
  mapAllUid: u32,
  mapAllGid: u32,
  minGoal: 0xff,
  maxGoal: 0xff,
  minTrashTime: u32,
  maxTrashTime: u32,
  disables: u32,
  peerIp: u32,
  clientVersion: u32,
} as const satisfies Partial<Record<keyof SessionRecord, number>>;

const textFields = ["info", "path"] as const satisfies readonly (keyof SessionRecord)[];

export class SessionRecordError extends Error {
  override name = "SessionRecordError";
}

export function parseSessionRecord(value: unknown): SessionRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SessionRecordError("session record is not an object");
  }
  const source = value as Record<string, unknown>;
  const record: Record<string, number | string> = {};
  for (const [field, max] of Object.entries(numericFields)) {
    const v = source[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
      throw new SessionRecordError(`session record field ${field} is not an integer in 0..${max}`);
    }
    record[field] = v;
  }
  for (const field of textFields) {
    const v = source[field];
    if (typeof v !== "string") throw new SessionRecordError(`session record field ${field} is not a string`);
    record[field] = v;
  }
  if (record.sessionId === 0) throw new SessionRecordError("session id 0 is not a session");
  return record as unknown as SessionRecord;
}
