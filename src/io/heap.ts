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
