/**
 * Everything the benchmark starts registers how to undo it here; undo steps run in reverse order,
 * each at most once, on normal exit, on failure and on Ctrl-C/SIGTERM. A failing step is reported
 * and the remaining steps still run.
 */
export type CleanupStep = { what: string; undo: () => Promise<void> };

export class Cleanup {
  private readonly steps: CleanupStep[] = [];
  private running: Promise<void> | null = null;

  /** Registers an undo step; returns a function that runs it now (and removes it). */
  add(what: string, undo: () => Promise<void>): () => Promise<void> {
    const step = { what, undo };
    this.steps.push(step);
    return async () => {
      const index = this.steps.indexOf(step);
      if (index < 0) return;
      this.steps.splice(index, 1);
      await step.undo();
    };
  }

  /** Runs every remaining step, newest first. Concurrent calls share one run. */
  runAll(log: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.undo();
        } catch (error) {
          log(`cleanup: ${step.what} failed: ${(error as Error).message}`);
        }
      }
      this.running = null;
    })();
    return this.running;
  }
}
