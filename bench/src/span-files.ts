/**
 * Reads the span files the services of a traced cluster wrote (one `<service>-<pid>.jsonl` per
 * process, libs/telemetry file-exporter.ts). A line that is not a span record (a process killed
 * mid-write leaves a torn last line) is counted and skipped, never fatal: the breakdown then says
 * how much it could not read.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { SpanRecord } from "@antler/telemetry";

export interface SpanFiles {
  files: string[];
  records: SpanRecord[];
  /** Lines that did not parse as a span record. */
  malformedLines: number;
}

/** The record a line holds, or null when it is not one (shape checked field by field). */
export function parseSpanLine(line: string): SpanRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object") return null;
  const record = value as Record<string, unknown>;
  const isString = (key: string) => typeof record[key] === "string";
  const isNumber = (key: string) => typeof record[key] === "number" && Number.isFinite(record[key]);
  if (!isString("traceId") || !isString("spanId") || !isString("name") || !isString("service")) return null;
  if (record.parentSpanId !== null && !isString("parentSpanId")) return null;
  if (!isNumber("startMicros") || !isNumber("durationMicros") || !isNumber("kind") || !isNumber("status") || !isNumber("pid")) return null;
  if (record.process !== null && !isString("process")) return null;
  if (record.attributes === null || typeof record.attributes !== "object") return null;
  return value as SpanRecord;
}

export async function readSpanFiles(dir: string): Promise<SpanFiles> {
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith(".jsonl")).sort();
  const records: SpanRecord[] = [];
  let malformedLines = 0;
  for (const name of names) {
    const text = await fsp.readFile(path.join(dir, name), "utf8");
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const record = parseSpanLine(line);
      if (record === null) malformedLines += 1;
      else records.push(record);
    }
  }
  return { files: names, records, malformedLines };
}
