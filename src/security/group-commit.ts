import { setTimeout as delay } from 'node:timers/promises';
import { LandedWrites, workOutNoting, type ReadSet } from './change-reads.js';
import type { Mutation, StoreData, StoreOp } from './store.js';

// A node's changes made while its last transaction runs go together in its
// next (a group commit): a PostgreSQL node then takes the generation's lock
// once for all of them, not once each; the file store appends once (durably). Only changes that can be taken in any
// order go together: each is worked out from the node's store as it is, and one
// that reads or writes what an earlier one writes goes alone, after them,
// worked out again from the store with them taken.

/** The most changes one turn carries. */
export const batchMax = 64;
/** How long a change waits for the turn before it (a database that does not answer holds that one up to its timeout). */
export const turnWaitMs = 1_000;

/** A change waiting for a turn, and its caller's answer. */
export interface Waiting {
  readonly mutation: Mutation<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** A mutation worked out from a store at generation `known`: its outcome and what it read. */
export interface Early<T> {
  readonly known: string;
  readonly outcome: ReturnType<Mutation<T>>;
  readonly reads: ReadSet;
}

/** A waiting change with what it came to when worked out before its transaction (undefined: refused, or nothing to do). */
export interface Planned extends Waiting {
  readonly early: Early<unknown> | undefined;
}

/** A mutation worked out from `data` (at generation `known`), noting what it read; undefined when it refuses or changes nothing. */
export function workOutEarly<T>(data: StoreData, known: string | undefined, mutation: Mutation<T>): Early<T> | undefined {
  if (known === undefined) return undefined;
  try {
    const { outcome, reads } = workOutNoting(data, mutation);
    return outcome.ops.length === 0 ? undefined : { known, outcome, reads };
  } catch {
    return undefined;
  }
}

/**
 * The changes that waited for one turn, in the order made: those that go together (two or more, each worked out by
 * `workOut`, none meeting what an earlier one writes; a role change meets everything after it), and those that go
 * alone after them (a refusal, a change with nothing to do, one that met an earlier one), in the order made: all of
 * them when fewer than two would go together.
 */
export function groupWaiting(waiting: readonly Waiting[], workOut: (mutation: Mutation<unknown>) => Early<unknown> | undefined): { together: Planned[]; alone: Waiting[] } {
  if (waiting.length < 2) return { together: [], alone: [...waiting] };
  const together: Planned[] = [];
  const alone: Waiting[] = [];
  const landed = new LandedWrites();
  for (const change of waiting) {
    const early = workOut(change.mutation);
    if (early && !landed.meets(early.reads, early.outcome.ops)) {
      together.push({ ...change, early });
      landed.add(early.outcome.ops);
    } else alone.push(change);
  }
  return together.length > 1 ? { together, alone } : { together: [], alone: [...waiting] };
}

/**
 * A node's changes in turns, one turn at a time: the changes made while a turn runs (up to `max`) wait together for
 * the next, which `run` commits. A turn waits at most `waitMs` for the one before it, so that against a store that
 * does not answer, changes made at once fail as soon as one alone would, not one after another. `ended` is called
 * whenever a turn ends with no other running or queued.
 */
export class Turns {
  readonly #run: (waiting: readonly Waiting[]) => Promise<void>;
  readonly #ended: () => void;
  readonly #waitMs: number;
  readonly #max: number;
  /** The last turn, done or not: the next waits for it. */
  #last: Promise<unknown> = Promise.resolve();
  /** The changes made while the last turn runs: the next takes them all. */
  #waiting: Waiting[] | undefined;
  #running = 0;

  constructor(run: (waiting: readonly Waiting[]) => Promise<void>, ended: () => void, waitMs: number, max: number) {
    this.#run = run;
    this.#ended = ended;
    this.#waitMs = waitMs;
    this.#max = max;
  }

  /** Whether a turn runs now. */
  get running(): boolean {
    return this.#running > 0;
  }

  /** The mutation's answer, once a turn has committed it (or its refusal, or the store's failure). */
  add<T>(mutation: Mutation<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const change: Waiting = { mutation, resolve: resolve as (value: unknown) => void, reject };
      if (this.#waiting && this.#waiting.length < this.#max) return void this.#waiting.push(change);
      const waiting = [change];
      this.#waiting = waiting;
      const turn = Promise.race([this.#last, delay(this.#waitMs, undefined, { ref: false })]).then(async () => {
        if (this.#waiting === waiting) this.#waiting = undefined;
        this.#running++;
        try {
          await this.#run(waiting);
        } finally {
          // Ended when no turn runs and none is queued (one queued starts at once, in the next microtask).
          if (--this.#running === 0 && this.#waiting === undefined) this.#ended();
        }
      });
      this.#last = turn.catch(() => {});
    });
  }
}
