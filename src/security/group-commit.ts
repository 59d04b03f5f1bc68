import { meets, workOutNoting, type ReadSet } from './change-reads.js';
import type { Mutation, StoreData, StoreOp } from './store.js';

// A node's changes made while its last transaction runs go together in its
// next (a group commit): a PostgreSQL node then takes the generation's lock
// once for all of them, not once each. Only changes that can be taken in any
// order go together: each is worked out from the node's store as it is, and one
// that reads or writes what an earlier one writes goes alone, after them,
// worked out again from the store with them taken.

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
  const landed: (readonly StoreOp[])[] = [];
  for (const change of waiting) {
    const early = workOut(change.mutation);
    if (early && !meets(early.reads, early.outcome.ops, landed)) {
      together.push({ ...change, early });
      landed.push(early.outcome.ops);
    } else alone.push(change);
  }
  return together.length > 1 ? { together, alone } : { together: [], alone: [...waiting] };
}
