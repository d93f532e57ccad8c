/**
 * Export rules: which clients may mount which directory, and with which session rules. The text
 * format is mfsmaster's mfsexports.cfg (one rule per line: `ADDRESS DIRECTORY [OPTIONS]`); the
 * matching follows exports_check of mfsmaster 3.0.117, including its preferences when several
 * lines match.
 *
 * Not supported (documented in the report): user and group names in maproot/mapall (numbers
 * only), password-protected exports (clients get NOPASSWORD), and meta exports (".").
 */
import { SessionFlag, Status } from "@antler/ops";

export interface ExportRule {
  /** Client address range, inclusive (u32, host order as in the protocol). */
  readonly fromIp: number;
  readonly toIp: number;
  /** Exported directory without leading or trailing slashes; "" is the root. */
  readonly path: string;
  /** "." exports the meta filesystem (mfsmount -o mfsmeta). */
  readonly meta: boolean;
  /** Any subdirectory of `path` may be mounted too. */
  readonly alldirs: boolean;
  /** SESFLAG_* given to sessions (READONLY, DYNAMICIP, IGNOREGID, ADMIN, MAPALL). */
  readonly sesflags: number;
  readonly umask: number;
  /** maproot: what uid 0 becomes. */
  readonly rootUid: number;
  readonly rootGid: number;
  /** mapall: what every other uid becomes (only with SESFLAG_MAPALL). */
  readonly mapAllUid: number;
  readonly mapAllGid: number;
  readonly minGoal: number;
  readonly maxGoal: number;
  readonly minTrashTime: number;
  readonly maxTrashTime: number;
  /** DISABLE_* bits (1 << n) of forbidden operations. */
  readonly disables: number;
  /** Oldest client version allowed. */
  readonly minVersion: number;
  /** The line asks for a password; Antler cannot check passwords, so it refuses such mounts. */
  readonly needPassword: boolean;
}

export class ExportsParseError extends Error {
  override name = "ExportsParseError";
}

/** DISABLE_* bit numbers by the names mfsexports.cfg uses in `disable=`. */
export const disableBit = {
  chown: 0,
  chmod: 1,
  symlink: 2,
  mkfifo: 3,
  mkdev: 4,
  mksock: 5,
  mkdir: 6,
  unlink: 7,
  rmdir: 8,
  rename: 9,
  move: 10,
  link: 11,
  create: 12,
  readdir: 13,
  read: 14,
  write: 15,
  truncate: 16,
  setlength: 17,
  appendchunks: 18,
  snapshot: 19,
  settrash: 20,
  setsclass: 21,
  seteattr: 22,
  setxattr: 23,
  setfacl: 24,
} as const;

const defaultRule: ExportRule = {
  fromIp: 0,
  toIp: 0,
  path: "",
  meta: false,
  alldirs: false,
  // mfsmaster's defaults: read-only, root squashed to 999:999, goals 1..9, any trash time.
  sesflags: SessionFlag.READONLY,
  umask: 0,
  rootUid: 999,
  rootGid: 999,
  mapAllUid: 999,
  mapAllGid: 999,
  minGoal: 1,
  maxGoal: 9,
  minTrashTime: 0,
  maxTrashTime: 0xffffffff,
  disables: 0,
  minVersion: 0,
  needPassword: false,
};

/**
 * Parses exports text. Blank lines and `#` comments are skipped; a malformed line is an
 * ExportsParseError naming the line (mfsmaster only logs and skips it, but a gateway that silently
 * exports less than configured is worse than one that refuses to start).
 */
export function parseExports(text: string): ExportRule[] {
  const rules: ExportRule[] = [];
  let defaults = defaultRule;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/[ \t]+/);
    const where = `exports line ${i + 1}`;
    if (fields[0]!.toUpperCase() === "DEFAULTS") {
      defaults = applyOptions(defaults, fields.slice(1).join(","), where);
      continue;
    }
    if (fields.length < 2) throw new ExportsParseError(`${where}: incomplete definition`);
    const [fromIp, toIp] = parseNetwork(fields[0]!, where);
    const meta = fields[1] === ".";
    const path = meta ? "" : fields[1]!.replace(/^\/+/, "").replace(/\/+$/, "");
    let rule: ExportRule = { ...defaults, fromIp, toIp, meta, path };
    // Meta exports map root to 0 unless told otherwise (mfsmaster does the same).
    if (meta) rule = { ...rule, rootUid: 0, rootGid: 0 };
    rules.push(applyOptions(rule, fields.slice(2).join(","), where));
  }
  return rules;
}

function parseNetwork(text: string, where: string): [number, number] {
  if (text === "*") return [0, 0xffffffff];
  const dash = text.indexOf("-");
  if (dash > 0) return [parseIp(text.slice(0, dash), where), parseIp(text.slice(dash + 1), where)];
  const slash = text.indexOf("/");
  if (slash > 0) {
    const base = parseIp(text.slice(0, slash), where);
    const maskText = text.slice(slash + 1);
    let mask: number;
    if (/^\d+$/.test(maskText)) {
      const bits = Number(maskText);
      if (bits > 32) throw new ExportsParseError(`${where}: bad network bits ${maskText}`);
      mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    } else {
      mask = parseIp(maskText, where);
    }
    const from = (base & mask) >>> 0;
    return [from, (from | ~mask) >>> 0];
  }
  const ip = parseIp(text, where);
  return [ip, ip];
}

function parseIp(text: string, where: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new ExportsParseError(`${where}: bad address ${text}`);
  }
  return parts.reduce((ip, p) => ((ip << 8) | Number(p)) >>> 0, 0);
}

function parseUidGid(text: string, where: string): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  if (match === null) throw new ExportsParseError(`${where}: only numeric uid[:gid] is supported, got ${text}`);
  const uid = Number(match[1]);
  // Without a gid mfsmaster takes the user's primary group from the password database, which a
  // pure gateway cannot read; the numeric uid is used (right for 0:0, the common case).
  const gid = match[2] === undefined ? uid : Number(match[2]);
  return [uid, gid];
}

/** Seconds, optionally with s/m/h/d/w suffixes ("1d12h"), as mfsexports.cfg allows. */
function parseSeconds(text: string, where: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
  let total = 0;
  const re = /(\d+)([smhdw])/gy;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text.length === 0) throw new ExportsParseError(`${where}: bad time ${text}`);
  return Math.min(total, 0xffffffff);
}

function parseVersion(text: string, where: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (match === null) throw new ExportsParseError(`${where}: bad version ${text}`);
  return (Number(match[1]) << 16) | (Number(match[2]) << 8) | (Number(match[3]) * 2);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function applyOptions(rule: ExportRule, options: string, where: string): ExportRule {
  const r: Mutable<ExportRule> = { ...rule };
  let rootRedefined = false;
  for (const option of options.split(",")) {
    if (option === "") continue;
    const eq = option.indexOf("=");
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? "" : option.slice(eq + 1);
    switch (key) {
      case "ro":
      case "readonly":
        r.sesflags |= SessionFlag.READONLY;
        break;
      case "rw":
      case "readwrite":
        r.sesflags &= ~SessionFlag.READONLY;
        break;
      case "alldirs":
        r.alldirs = true;
        break;
      case "ignoregid":
        r.sesflags |= SessionFlag.IGNOREGID;
        break;
      case "admin":
      case "canchangequota":
        r.sesflags |= SessionFlag.ADMIN;
        break;
      case "dynamicip":
        r.sesflags |= SessionFlag.DYNAMICIP;
        break;
      case "maproot":
        [r.rootUid, r.rootGid] = parseUidGid(value, where);
        rootRedefined = true;
        break;
      case "mapall":
        [r.mapAllUid, r.mapAllGid] = parseUidGid(value, where);
        r.sesflags |= SessionFlag.MAPALL;
        break;
      case "password":
      case "md5pass":
        r.needPassword = true;
        break;
      case "nopassword":
        r.needPassword = false;
        break;
      case "minversion":
        r.minVersion = parseVersion(value, where);
        break;
      case "mingoal":
      case "maxgoal": {
        const goal = Number(value);
        if (!/^\d$/.test(value) || goal < 1 || goal > 9) throw new ExportsParseError(`${where}: bad ${key} ${value}`);
        if (key === "mingoal") r.minGoal = goal;
        else r.maxGoal = goal;
        break;
      }
      case "mintrashtime":
        r.minTrashTime = parseSeconds(value, where);
        break;
      case "maxtrashtime":
        r.maxTrashTime = parseSeconds(value, where);
        break;
      case "umask":
        if (!/^[0-7]{3}$/.test(value)) throw new ExportsParseError(`${where}: bad umask ${value}`);
        r.umask = parseInt(value, 8);
        break;
      case "disable":
        for (const name of value.split(":")) {
          if (!(name in disableBit)) throw new ExportsParseError(`${where}: unknown disable ${name}`);
          r.disables |= 1 << disableBit[name as keyof typeof disableBit];
        }
        break;
      default:
        throw new ExportsParseError(`${where}: unknown option ${option}`);
    }
  }
  if (r.minGoal > r.maxGoal) throw new ExportsParseError(`${where}: mingoal > maxgoal`);
  if (r.minTrashTime > r.maxTrashTime) throw new ExportsParseError(`${where}: mintrashtime > maxtrashtime`);
  // mapall without an explicit maproot squashes root the same way (mfsmaster does this).
  if ((r.sesflags & SessionFlag.MAPALL) !== 0 && !rootRedefined) {
    r.rootUid = r.mapAllUid;
    r.rootGid = r.mapAllGid;
  }
  return r;
}

/** The export a client gets: the first best match by mfsmaster's preferences, or a status. */
export function matchExport(
  rules: readonly ExportRule[],
  peerIp: number,
  clientVersion: number,
  path: string,
): ExportRule | typeof Status.EACCES | typeof Status.NOPASSWORD {
  const wanted = path.replace(/^\/+/, "").replace(/\/+$/, "");
  let best: ExportRule | null = null;
  let passwordRefused = false;
  for (const rule of rules) {
    if (peerIp < rule.fromIp || peerIp > rule.toIp || clientVersion < rule.minVersion || rule.meta) continue;
    const pathOk =
      rule.path === ""
        ? wanted === "" || rule.alldirs
        : wanted === rule.path || (rule.alldirs && wanted.startsWith(rule.path + "/"));
    if (!pathOk) continue;
    if (rule.needPassword) {
      passwordRefused = true;
      continue;
    }
    if (best === null || prefer(rule, best)) best = rule;
  }
  if (best !== null) return best;
  return passwordRefused ? Status.NOPASSWORD : Status.EACCES;
}

/** mfsmaster's tie-breaks between matching lines: rw, unsquashed root, admin, longer path. */
function prefer(candidate: ExportRule, current: ExportRule): boolean {
  if ((candidate.sesflags & SessionFlag.READONLY) === 0 && (current.sesflags & SessionFlag.READONLY) !== 0) return true;
  if (candidate.rootUid === 0 && current.rootUid !== 0) return true;
  if ((candidate.sesflags & SessionFlag.ADMIN) !== 0 && (current.sesflags & SessionFlag.ADMIN) === 0) return true;
  return candidate.path.length > current.path.length;
}
