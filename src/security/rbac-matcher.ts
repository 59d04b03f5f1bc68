/** The four actions of Kong's RBAC, from the HTTP method (reference A1). */
export type Action = 'read' | 'create' | 'update' | 'delete';

/** An endpoint permission of a role (SPEC 7). */
export interface EndpointPermission {
  readonly endpoint: string;
  readonly actions: readonly (Action | '*')[];
  readonly negative: boolean;
}

const allActions: readonly Action[] = ['read', 'create', 'update', 'delete'];

/** GET/HEAD/OPTIONS read, POST creates, PUT/PATCH update, DELETE deletes. */
export function actionFor(method: string): Action {
  switch (method.toUpperCase()) {
    case 'POST':
      return 'create';
    case 'PUT':
    case 'PATCH':
      return 'update';
    case 'DELETE':
      return 'delete';
    default:
      return 'read';
  }
}

/** Store form of an endpoint: trimmed, no trailing '/', a leading '/' (a bare '*' stays as it is). */
export function normalizeEndpoint(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/\/+$/, '');
  if (trimmed === '*') return '*';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/**
 * The candidates for a request, most specific first (Kong's order, A4): the path;
 * the route pattern with :params as '*'; the path with segments turned into '*'
 * one at a time from the right; then '*'.
 */
export function candidateEndpoints(path: string, routePattern?: string): string[] {
  const exact = normalizeEndpoint(path.split('?')[0]!);
  const list = [exact];
  if (routePattern) list.push(normalizeEndpoint(routePattern.replace(/:[^/]+/g, '*')));
  const segments = exact.split('/').slice(1);
  for (let wild = 1; wild <= segments.length; wild++) {
    list.push(`/${[...segments.slice(0, segments.length - wild), ...Array<string>(wild).fill('*')].join('/')}`);
  }
  list.push('*');
  return [...new Set(list)];
}

interface Entry {
  readonly allow: Set<Action>;
  readonly deny: Set<Action>;
}

/** Merge the endpoint rows of several roles: for one endpoint and action, a negative from any role wins. */
function mergeRows(permissions: readonly EndpointPermission[]): Map<string, Entry> {
  const merged = new Map<string, Entry>();
  for (const permission of permissions) {
    const key = normalizeEndpoint(permission.endpoint);
    const entry = merged.get(key) ?? { allow: new Set<Action>(), deny: new Set<Action>() };
    const actions = permission.actions.includes('*') ? allActions : (permission.actions as readonly Action[]);
    for (const action of actions) (permission.negative ? entry.deny : entry.allow).add(action);
    merged.set(key, entry);
  }
  return merged;
}

/** Why an endpoint decision was made: the entry that decided, or none. */
export interface EndpointDecision {
  readonly allowed: boolean;
  readonly decidedBy?: string;
}

/**
 * Kong's endpoint authorization (A4): the first candidate with a stored entry
 * that covers the action decides, a negative beating a positive there; an entry
 * that covers only other actions passes to the next candidate, an entry with no
 * actions at all denies; no match denies. Specificity beats polarity.
 */
export function authorizeEndpoint(permissions: readonly EndpointPermission[], method: string, path: string, routePattern?: string): EndpointDecision {
  const action = actionFor(method);
  const merged = mergeRows(permissions);
  for (const candidate of candidateEndpoints(path, routePattern)) {
    const entry = merged.get(candidate);
    if (!entry) continue;
    if (entry.deny.has(action)) return { allowed: false, decidedBy: candidate };
    if (entry.allow.has(action)) return { allowed: true, decidedBy: candidate };
    if (entry.allow.size === 0 && entry.deny.size === 0) return { allowed: false, decidedBy: candidate };
  }
  return { allowed: false };
}

/** The endpoint rows of `/prefix`, `/prefix/*` ... down to `depth` wildcard segments (Kong's way to cover a subtree). */
export function subtree(prefix: string, depth: number, actions: readonly (Action | '*')[], negative: boolean): EndpointPermission[] {
  return Array.from({ length: depth + 1 }, (_, wild) => ({ endpoint: `${prefix}${'/*'.repeat(wild)}`, actions, negative }));
}

/** The built-in roles (SPEC 7), not editable. */
export const builtInRoles: Readonly<Record<'superuser' | 'admin' | 'read-only', readonly EndpointPermission[]>> = {
  superuser: [{ endpoint: '*', actions: ['*'], negative: false }],
  admin: [{ endpoint: '*', actions: ['*'], negative: false }, ...subtree('/_security/user', 4, ['*'], true), ...subtree('/_security/role', 4, ['*'], true)],
  'read-only': [{ endpoint: '*', actions: ['read'], negative: false }],
};
