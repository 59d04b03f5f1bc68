import { availableParallelism } from 'node:os';

/**
 * At most `limit` tasks run at once; the rest wait their turn in the order they came. A task's failure frees its slot
 * and reaches its own caller only.
 */
export class Slots {
  readonly limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`a slot limit is a whole number of at least 1, not ${String(limit)}`);
    this.limit = limit;
  }

  /** Tasks running now, and waiting for a slot. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next in line, so a task that arrives meanwhile cannot take it first.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * How many argon2 hashes a process makes at once: one a core, and never all of libuv's threadpool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise), which file writes and DNS share. Each hash holds 19 MiB while it runs; more hashes
 * than cores add that memory and no throughput (16 hashes on 2 cores, 2 / 4 / 8 at once: 166 / 187 / 210 ms, peak 95 /
 * 130 / 130 MB).
 */
export function hashingLimit(cores = availableParallelism(), threadpool = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4)): number {
  const threads = Number.isSafeInteger(threadpool) && threadpool >= 1 ? threadpool : 4;
  return Math.max(1, Math.min(cores, threads - 1));
}
