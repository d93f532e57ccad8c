// POSIX ACLs in their Linux xattr form (`system.posix_acl_access` / `system.posix_acl_default`),
// so the workload can set and read ACLs through plain xattr calls without the `acl` tools.
// Layout (linux/posix_acl_xattr.h): version:u32le = 2, then entries of
// tag:u16le perm:u16le id:u32le; entries without a qualifier carry id 0xFFFFFFFF.
// Text form as getfacl prints it, comma-separated: "user::rw-,user:1000:r--,mask::r--".

const aclXattrVersion = 2;
const headerBytes = 4;
const entryBytes = 8;
const undefinedId = 0xffffffff;

const tagNames = [
  [0x01, "user", false],
  [0x02, "user", true],
  [0x04, "group", false],
  [0x08, "group", true],
  [0x10, "mask", false],
  [0x20, "other", false],
] as const;

/** "user::rw-,user:1000:r--,group::r--,mask::r--,other::---" → the xattr bytes as hex. */
export function encodeAclText(text: string): string {
  const entries = text.split(",").map(parseEntry);
  const bytes = new Uint8Array(headerBytes + entries.length * entryBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, aclXattrVersion, true);
  entries.forEach((entry, index) => {
    const offset = headerBytes + index * entryBytes;
    view.setUint16(offset, entry.tag, true);
    view.setUint16(offset + 2, entry.perm, true);
    view.setUint32(offset + 4, entry.id, true);
  });
  return toHex(bytes);
}

/** The xattr bytes (hex) → text form; malformed input yields a descriptive marker, not a throw. */
export function decodeAclHex(hex: string): string {
  const bytes = fromHex(hex);
  if (bytes === undefined || bytes.length < headerBytes || (bytes.length - headerBytes) % entryBytes !== 0) {
    return `malformed-acl:${hex}`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(0, true);
  if (version !== aclXattrVersion) return `acl-version-${version}:${hex}`;
  const entries: string[] = [];
  for (let offset = headerBytes; offset < bytes.length; offset += entryBytes) {
    const tag = view.getUint16(offset, true);
    const perm = view.getUint16(offset + 2, true);
    const id = view.getUint32(offset + 4, true);
    const known = tagNames.find(([bits]) => bits === tag);
    if (known === undefined) {
      entries.push(`tag-${tag}:${id}:${formatPerm(perm)}`);
      continue;
    }
    const [, name, qualified] = known;
    entries.push(`${name}:${qualified ? String(id) : ""}:${formatPerm(perm)}`);
  }
  return entries.join(",");
}

function parseEntry(text: string): { tag: number; perm: number; id: number } {
  const match = /^(user|group|mask|other):(\d*):([r-][w-][x-])$/.exec(text);
  if (match === null) throw new Error(`not an ACL entry: ${text}`);
  const [, name, qualifier, permText] = match;
  const qualified = qualifier !== "";
  const known = tagNames.find(([, tagName, tagQualified]) => tagName === name && tagQualified === qualified);
  if (known === undefined) throw new Error(`ACL entry ${text}: ${name} takes no qualifier`);
  const perm = (permText![0] === "r" ? 4 : 0) | (permText![1] === "w" ? 2 : 0) | (permText![2] === "x" ? 1 : 0);
  return { tag: known[0], perm, id: qualified ? Number(qualifier) : undefinedId };
}

function formatPerm(perm: number): string {
  const known = (perm & 4 ? "r" : "-") + (perm & 2 ? "w" : "-") + (perm & 1 ? "x" : "-");
  return perm & ~7 ? `${known}+0x${perm.toString(16)}` : known;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index++) bytes[index] = parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  return bytes;
}
