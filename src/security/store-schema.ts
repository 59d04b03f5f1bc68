import { validators } from '../node/compiled-validators.js';
import type { StoreData } from './store.js';

/**
 * What is wrong with a parsed store file, said as a place and a reason (never
 * a value), or undefined when it has the shape the node serves from. Entries
 * must also sit under their own name, so that a lookup finds what it names.
 */
export function storeShapeError(data: unknown): string | undefined {
  const validate = validators.store;
  if (!validate(data)) {
    const issue = validate.errors?.[0];
    return `${issue?.instancePath || '/'} ${issue?.message ?? 'has the wrong shape'}`;
  }
  const store = data as StoreData;
  // Key by key: Object.entries would build a pair for each of a million users, 1.5 s and its garbage at a start.
  const misplaced = (entries: Record<string, object>, field: string): string | undefined => {
    for (const key of Object.keys(entries)) if ((entries[key] as Record<string, unknown>)[field] !== key) return key;
    return undefined;
  };
  const where =
    misplaced(store.users, 'username') ?? misplaced(store.roles ?? {}, 'name') ?? misplaced(store.apiKeys ?? {}, 'id') ?? misplaced(store.serviceTokens ?? {}, 'name') ?? misplaced(store.sessions ?? {}, 'id');
  return where === undefined ? undefined : `the entry under '${where.slice(0, 64)}' names another`;
}
