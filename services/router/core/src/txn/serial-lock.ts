/**
 * A mutual-exclusion lock for async work: callers run one at a time, in arrival order. The
 * coordinator moves directories to new parents under it, so the ancestry it checks cannot change
 * under it until the move is committed (two moves checked at once could each be fine alone and
 * together form a cycle).
 */
export class SerialLock {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;

  /** Runs `work` once every earlier holder has finished (successfully or not). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held++;
    try {
      await previous;
      return await work();
    } finally {
      this.#held--;
      release();
    }
  }

  /** Holders running or waiting now. */
  get queued(): number {
    return this.#held;
  }
}

/**
 * Locks per inode, taken by the coordinator around a transaction's prepare-to-commit on every
 * inode its parts touch: the same inodes a participant locks while the transaction is prepared.
 * Transactions on a common inode (mkdirs in one directory) then wait for each other here, in
 * arrival order, instead of colliding at the shard (TXLOCKED), aborting and backing off — which
 * under contention starves some of them. Keys are taken in ascending order, so two holders never
 * wait for each other.
 */
export class InodeLocks {
  readonly #tails = new Map<number, Promise<void>>();

  async run<T>(inodes: readonly number[], work: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    try {
      for (const inode of [...new Set(inodes)].sort((a, b) => a - b)) releases.push(await this.#acquire(inode));
      return await work();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** Inodes locked or waited for now. */
  get size(): number {
    return this.#tails.size;
  }

  async #acquire(inode: number): Promise<() => void> {
    const previous = this.#tails.get(inode) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(inode, tail);
    await previous;
    return () => {
      release();
      // The last holder leaves no entry behind.
      if (this.#tails.get(inode) === tail) this.#tails.delete(inode);
    };
  }
}
