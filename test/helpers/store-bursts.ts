import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { SecurityStore, StoredUser } from '../../src/security/store.js';

// Bursts of changes made at once on a store (a group commit's attacker test): increments of shared users (each reads
// what it writes), users apart, role changes (which meet everything after them), deletions of one user, and, where the
// store is asked to, refusals and changes with nothing to do.

/** The users every burst increments. */
export const sharedUsers = ['s0', 's1', 's2'] as const;

export const burstUser = (username: string): StoredUser => ({ username, id: randomUUID(), passwordHash: 'hash-1', roles: [], enabled: true, metadata: { n: 0 } });

/** One change of a burst; refusals and changes with nothing to do only when `withRefusals`. */
export function burstChange(withRefusals = false) {
  return fc.oneof(
    fc.record({ kind: fc.constant('increment' as const), target: fc.constantFrom(...sharedUsers) }),
    fc.record({ kind: fc.constant('apart' as const) }),
    fc.record({ kind: fc.constant('role' as const), target: fc.constantFrom('r0', 'r1') }),
    fc.record({ kind: fc.constant('delete' as const) }),
    ...(withRefusals ? [fc.record({ kind: fc.constant('refuse' as const) }), fc.record({ kind: fc.constant('nothing' as const) })] : []),
  );
}
export type BurstChange = ReturnType<typeof burstChange> extends fc.Arbitrary<infer C> ? C : never;

/** The count a shared user is at. */
export const countOf = (store: SecurityStore, name: string): number => (store.getUser(name)!.metadata as { n: number }).n;

/**
 * Make change `index` of burst `round` on `store`: an increment answers the count it made; a refusal throws `refused
 * <index>`; a change with nothing to do answers `nothing <index>`. The user `doomed-<round>` is the one deleted.
 */
export function makeBurstChange(store: SecurityStore, change: BurstChange, round: number, index: number): Promise<unknown> {
  switch (change.kind) {
    case 'increment':
      return store.mutate((data) => {
        const target = data.users[change.target]!;
        const n = (target.metadata as { n: number }).n + 1;
        return { ops: [{ op: 'putUser' as const, user: { ...target, metadata: { n } } }], result: n };
      });
    case 'apart':
      return store.putUser(burstUser(`apart-${round}-${index}`));
    case 'role':
      return store.putRole({ name: change.target, id: randomUUID(), description: `${round}-${index}`, endpoints: [], entities: [] });
    case 'delete':
      return store.deleteUser(`doomed-${round}`);
    case 'refuse':
      return store.mutate(() => {
        throw new Error(`refused ${index}`);
      });
    case 'nothing':
      return store.mutate(() => ({ ops: [], result: `nothing ${index}` }));
  }
}

/** Whether the burst's changes all landed on `store`: every increment once over `before`, every user apart there, the doomed user gone when deleted. */
export function burstLanded(store: SecurityStore, changes: readonly BurstChange[], before: Readonly<Record<string, number>>, round: number): boolean {
  for (const name of sharedUsers) {
    const increments = changes.filter((change) => change.kind === 'increment' && change.target === name).length;
    if (countOf(store, name) !== before[name]! + increments) return false;
  }
  if (!changes.every((change, index) => change.kind !== 'apart' || store.getUser(`apart-${round}-${index}`))) return false;
  return !(changes.some((change) => change.kind === 'delete') && store.getUser(`doomed-${round}`));
}
