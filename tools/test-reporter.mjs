// node:test reporter for the default suite: quiet while tests pass, every failure in full, skipped
// tests with their reason, and one closing line per package ("N passed, N failed, N skipped").
export default async function* reporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  const skips = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const data = event.data;
    if (data.details?.type === "suite") continue;
    if (event.type === "test:fail") {
      failed++;
      failures.push(data);
    } else if (data.skip !== undefined || data.todo !== undefined) {
      skipped++;
      skips.push(`${data.name}${typeof data.skip === "string" ? `: ${data.skip}` : ""}`);
    } else {
      passed++;
    }
  }
  for (const s of skips) yield `- skipped ${s}\n`;
  for (const f of failures) {
    const error = f.details?.error;
    const cause = error?.cause ?? error;
    yield `✖ ${f.name} (${f.file ?? "?"})\n${String(cause?.stack ?? cause)}\n`;
  }
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
