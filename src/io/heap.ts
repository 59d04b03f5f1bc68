import { createHook } from 'node:async_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's collector when asked for a minor collection; undefined when this V8 will not hand it over. */
type Collect = (options: { type: 'minor' }) => void;

/**
 * Less than this in the young generation is left to V8. Not more: with 8 MB, a replica's 4 MB left after its join still
 * cost 16-18 ms scavenges (two cores shared with the other node and the clients). A first start measured the same with
 * the promotion as without (500 / 502 ms, 6 alternating starts).
 */
const worthPromoting = 2 * 1024 * 1024;

let collect: Collect | null | undefined;

/** `gc`, taken once from a context made while V8 exposes it; the process's own globals never get it (the way Jest takes it). */
function collector(): Collect | undefined {
  if (collect !== undefined) return collect ?? undefined;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (collect = own as Collect);
  try {
    setFlagsFromString('--expose-gc');
    const taken: unknown = runInNewContext('gc');
    collect = typeof taken === 'function' ? (taken as Collect) : null;
  } catch {
    collect = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collect ?? undefined;
}

/**
 * Move what a load has just built out of V8's young generation, while the load still holds the thread.
 *
 * A whole store read at once (a start, a replica taking the holder's store, a database read again) ends with up to
 * two semi-spaces of live objects in the young generation. Left there, the next two scavenges copy them while the node
 * serves, whenever the allocation of ordinary requests happens to trigger them: 20-35 ms pauses seen at 100,000 users,
 * seconds after the load, against 2-12 ms otherwise. Two minor collections here make the same copy inside a load that
 * already blocks the thread for hundreds of ms. Cheap when there is little to copy: its cost is the pause it moves.
 */
export function promoteLoaded(): void {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  if (!young || young.space_used_size < worthPromoting) return;
  const gc = collector();
  if (!gc) return;
  gc({ type: 'minor' });
  gc({ type: 'minor' });
}

/**
 * How far, in percent, V8 lets the heap grow past what its last full collection left live, in a node `securenode start`
 * runs: V8's own factor for a heap with little memory (its conservative growing factor, 1.3).
 *
 * V8 otherwise picks the factor from how fast it collects against how fast the program allocates. A node allocates little
 * that lives long (about 1.5 KB a change, measured at 100,000 users), so V8 picks its highest, 4: a holder at
 * 100,000 users (52 MB live) took no full collection for a minute of steady changes and grew from 190 to 250 MB, and
 * on to 358 MB in a longer run. At 1.3 it collects about every 8-10 s under that load and stays at 170-200 MB. The
 * price: each of those collections pauses the node 12-23 ms at 100,000 users (mostly moving the young generation's
 * survivors, which V8's compaction setting does not change), where V8's own factor paused it for none in that minute;
 * and a node that has just read its store collects once more 10-20 s later, which held to half a core took 99 ms once.
 * A node at rest or serving reads allocates too little old garbage to collect often. A start at 1,000,000 users took
 * 8.5-9.4 s against 7.1-9.0 s (three each, alternating); a first start and keep-alive requests measured the same.
 */
export const heapGrowingPercent = 30;

/**
 * Hold the heap to heapGrowingPercent past what is live, unless the command line that started node already chose a
 * factor (`node --heap-growing-percent=N`). For the process `securenode start` runs only: a server that embeds a node
 * keeps its own. V8 reads the factor at each full collection, so it applies from the next one on. Returns whether it set it.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  return true;
}

let keptTick: object | undefined;

/**
 * Keep one of `process.nextTick`'s queue entries alive for the life of the process, and with it V8's shape for them.
 *
 * A node at rest gets V8's memory-reducing collections (about 15 s after its start, again after a busy spell), and those
 * drop every object shape that no live object has at that moment, however recently used. Nothing waits in the tick
 * queue at rest, so the shape its entries are built to goes (they are literals with symbol keys, built by transitions),
 * and the place in `nextTick` that builds them never recovers: from then on every entry goes through V8's slow path,
 * for the rest of the process. Measured with perf over 200,000 keep-alive requests after 30 s at rest: 2.0 µs more CPU per
 * request than the same node never left at rest (about 7%), all of it in that slow path (`MigrateToMap`,
 * `DefineKeyedOwnPropertyInLiteral`); with one entry kept, 0.2 µs. An entry is taken once, as async hooks
 * hand it over, with a hook enabled for that one call only. Returns the entry kept.
 */
export function keepTickShape(): object | undefined {
  if (keptTick !== undefined) return keptTick;
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'TickObject') keptTick ??= resource;
    },
  });
  hook.enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
  return keptTick;
}

/** Whether this process keeps a tick queue entry (a node started in it does). */
export function tickShapeKept(): boolean {
  return keptTick !== undefined;
}
