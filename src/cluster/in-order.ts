import type { StoreOp } from '../security/store.js';

/** Where a replica is: the holder's boot, and the number of the last of its changes the replica has taken. */
export interface Position {
  readonly epoch: string;
  readonly seq: number;
}

/** What became of a change offered to a replica. */
export type Offered = 'taken' | 'ahead' | 'refused';

/**
 * The holder's changes, taken by a replica in the holder's order whatever order they arrive in. Its own changes come
 * back in the holder's answers and the others' as broadcasts, on two connections; a change written together with
 * others (the holder's group commit) is answered after they are broadcast. A change ahead of the next one is kept
 * (at most `maxAhead`) until those before it come, and taken then.
 */
export class InOrder {
  /** More changes kept ahead than this, and the replica follows the holder instead: a peer cannot make it keep more. */
  static readonly maxAhead = 1_000;
  #at: Position | undefined;
  readonly #ahead = new Map<number, readonly StoreOp[]>();
  readonly #waiting = new Set<{ readonly epoch: string; readonly seq: number; readonly resolve: () => void }>();
  readonly #take: (ops: readonly StoreOp[]) => void;

  constructor(take: (ops: readonly StoreOp[]) => void) {
    this.#take = take;
  }

  get at(): Position | undefined {
    return this.#at;
  }

  /** Whether changes are kept ahead of a gap. */
  get waitingForGap(): boolean {
    return this.#ahead.size > 0;
  }

  /** The store was replaced by the holder's at `at` (a snapshot): what is kept and already in it goes. */
  moved(at: Position): void {
    if (this.#at?.epoch !== at.epoch) this.#ahead.clear();
    this.#at = at;
    this.#settle();
  }

  /**
   * The holder's change `seq`: taken when it is the next one (and any kept after it), kept when it is further ahead,
   * refused when it is of another boot of the holder, the replica has no store yet, or it is not a change.
   */
  offer(epoch: unknown, seq: unknown, ops: unknown): Offered {
    const at = this.#at;
    if (!at || epoch !== at.epoch || !Number.isSafeInteger(seq) || !Array.isArray(ops)) return 'refused';
    if ((seq as number) <= at.seq) return 'taken';
    if (seq !== at.seq + 1) {
      if (!this.#ahead.has(seq as number) && this.#ahead.size >= InOrder.maxAhead) return 'refused';
      this.#ahead.set(seq as number, ops as StoreOp[]);
      return 'ahead';
    }
    this.#take(ops as StoreOp[]);
    this.#at = { epoch: at.epoch, seq: seq as number };
    this.#settle();
    return 'taken';
  }

  /** Whether the replica has the holder's change `seq` of `epoch` within `ms` (the changes before it arriving meanwhile). */
  reached(epoch: string, seq: number, ms: number): Promise<boolean> {
    const has = () => this.#at?.epoch === epoch && this.#at.seq >= seq;
    if (has() || this.#at?.epoch !== epoch) return Promise.resolve(has());
    return new Promise((resolve) => {
      const waiter = {
        epoch,
        seq,
        resolve: () => {
          clearTimeout(timer);
          this.#waiting.delete(waiter);
          resolve(has());
        },
      };
      const timer = setTimeout(waiter.resolve, ms);
      this.#waiting.add(waiter);
    });
  }

  /** Take what is kept and now next, drop what is behind, and answer those waiting for what the replica now has (or can no longer get). */
  #settle(): void {
    const at = this.#at!;
    let seq = at.seq;
    for (let next = this.#ahead.get(seq + 1); next !== undefined; next = this.#ahead.get(seq + 1)) {
      this.#ahead.delete(++seq);
      this.#take(next);
    }
    if (seq !== at.seq) this.#at = { epoch: at.epoch, seq };
    for (const kept of this.#ahead.keys()) if (kept <= seq) this.#ahead.delete(kept);
    for (const waiter of this.#waiting) if (waiter.epoch !== at.epoch || waiter.seq <= seq) waiter.resolve();
  }
}
