/**
 * The exports file (mfsexports.cfg syntax). An absent file means the MooseFS default for a fresh
 * installation: everyone may mount everything read-write with root kept as root. Any other read
 * error, or a file that does not parse, stops the gateway: silently serving different rules than
 * the operator wrote would be worse than not starting.
 */
import { readFile } from "node:fs/promises";

export const defaultExportsText = "* / rw,alldirs,maproot=0\n";

export class ExportsFileError extends Error {
  override name = "ExportsFileError";
}

/** The file's text, or the default rules when there is no file (or none configured). */
export async function readExportsText(path: string | undefined): Promise<{ text: string; source: string }> {
  if (path === undefined) return { text: defaultExportsText, source: "default" };
  try {
    return { text: await readFile(path, "utf8"), source: path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { text: defaultExportsText, source: "default (file absent)" };
    throw new ExportsFileError(`cannot read exports file ${path}`, { cause: err });
  }
}
