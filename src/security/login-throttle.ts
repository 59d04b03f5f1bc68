/** How failed logins from one address are slowed. */
export interface ThrottleOptions {
  /** Failures let through without delay. */
  readonly free: number;
  /** The first delay; each further failure doubles it. */
  readonly baseMs: number;
  /** The delay never grows beyond this. */
  readonly maxMs: number;
  /** An address forgotten this long after its last failure starts afresh. */
  readonly windowMs: number;
  /** Addresses remembered at most (the oldest go first). */
  readonly maxEntries: number;
  /** Checks a slowed address may have waiting behind the one in progress; more are turned away. */
  readonly maxWaiting: number;
}

const defaults: ThrottleOptions = { free: 3, baseMs: 100, maxMs: 5_000, windowMs: 15 * 60_000, maxEntries: 10_000, maxWaiting: 4 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Failed logins counted per source address: once an address has failed more
 * than `free` times, each of its requests that needs a credential check first
 * waits a delay that doubles with each failure, up to `maxMs`. Other addresses
 * are not slowed; nothing here blocks the event loop.
 *
 * A slowed address also gets one check at a time: its checks queue, each
 * waiting its own delay, and beyond `maxWaiting` they are turned away at once.
 * So a flood of wrong passwords from one address holds at most one slot of the
 * password-hashing thread pool, and the delay cannot be dodged by sending many
 * guesses in parallel.
 */
export class LoginThrottle {
  readonly #options: ThrottleOptions;
  readonly #failures = new Map<string, { count: number; last: number }>();
  readonly #queues = new Map<string, { tail: Promise<unknown>; size: number }>();

  constructor(options: Partial<ThrottleOptions> = {}) {
    this.#options = { ...defaults, ...options };
  }

  /** The delay, in ms, before a credential from `address` is checked. */
  delayFor(address: string, now = Date.now()): number {
    const entry = this.#failures.get(address);
    if (!entry) return 0;
    if (now - entry.last > this.#options.windowMs) {
      this.#failures.delete(address);
      return 0;
    }
    const over = entry.count - this.#options.free;
    return over <= 0 ? 0 : Math.min(this.#options.maxMs, this.#options.baseMs * 2 ** Math.min(over - 1, 30));
  }

  /** Count a failure from `address`. */
  fail(address: string, now = Date.now()): void {
    const entry = this.#failures.get(address);
    const count = entry && now - entry.last <= this.#options.windowMs ? entry.count + 1 : 1;
    // Re-inserted, so that the map's order is the order of last failures.
    this.#failures.delete(address);
    if (this.#failures.size >= this.#options.maxEntries) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(address, { count, last: now });
  }

  /**
   * Run `check` for a credential from `address`: at once when the address is
   * not slowed; else after its delay, one at a time. `check` must count its own
   * failure (fail) before it resolves, so that the next one waits longer.
   * Undefined when too many checks from the address are already waiting.
   */
  schedule<T>(address: string, check: () => Promise<T>): Promise<T> | undefined {
    const queue = this.#queues.get(address);
    if (!queue && this.delayFor(address) === 0) return check();
    if (queue && queue.size > this.#options.maxWaiting) return undefined;
    const entry = queue ?? { tail: Promise.resolve(), size: 0 };
    entry.size++;
    const run = entry.tail.then(async () => {
      await sleep(this.delayFor(address));
      return check();
    });
    entry.tail = run.then(
      () => this.#leave(address, entry),
      () => this.#leave(address, entry),
    );
    this.#queues.set(address, entry);
    return run;
  }

  #leave(address: string, entry: { size: number }): void {
    if (--entry.size === 0) this.#queues.delete(address);
  }
}
