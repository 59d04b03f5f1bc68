/** The four actions of Kong's RBAC, from the HTTP method (reference A1). */
export type Action = 'read' | 'create' | 'update' | 'delete';

/** An endpoint permission of a role (SPEC 7). */
export interface EndpointPermission {
  readonly endpoint: string;
  readonly actions: readonly (Action | '*')[];
  readonly negative: boolean;
}

/** The kinds of entity a permission may name; `wildcard` is what Kong stores for entity_id '*'. */
export const entityTypes = ['user', 'role', 'api_key', 'wildcard'] as const;
export type EntityType = (typeof entityTypes)[number];

/** An entity permission of a role (SPEC 7, Kong A5): an id, or '*' for every entity. */
export interface EntityPermission {
  readonly entity_id: string;
  readonly entity_type: EntityType;
  readonly actions: readonly (Action | '*')[];
  readonly negative: boolean;
}

/** What a role grants. */
export interface RoleDefinition {
  readonly description?: string;
  readonly endpoints: readonly EndpointPermission[];
  readonly entities: readonly EntityPermission[];
}

export const allActions: readonly Action[] = ['read', 'create', 'update', 'delete'];

const covers = (actions: readonly (Action | '*')[], action: Action): boolean => actions.includes('*') || actions.includes(action);

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

/** The endpoint rows of several roles merged, ready for many decisions. */
export type CompiledEndpoints = ReadonlyMap<string, Entry>;

/** Merge the endpoint rows of several roles: for one endpoint and action, a negative from any role wins. */
export function compileEndpoints(permissions: readonly EndpointPermission[]): CompiledEndpoints {
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
export function authorizeEndpoint(permissions: readonly EndpointPermission[] | CompiledEndpoints, method: string, path: string, routePattern?: string): EndpointDecision {
  const action = actionFor(method);
  const merged = permissions instanceof Map ? permissions : compileEndpoints(permissions as readonly EndpointPermission[]);
  for (const candidate of candidateEndpoints(path, routePattern)) {
    const entry = merged.get(candidate);
    if (!entry) continue;
    if (entry.deny.has(action)) return { allowed: false, decidedBy: candidate };
    if (entry.allow.has(action)) return { allowed: true, decidedBy: candidate };
    if (entry.allow.size === 0 && entry.deny.size === 0) return { allowed: false, decidedBy: candidate };
  }
  return { allowed: false };
}

/**
 * Kong's entity authorization (A5, without workspaces): the entity's own id,
 * then '*'; at the first that has rows covering the action, a negative from any
 * role wins; no covering row denies.
 */
export function authorizeEntity(permissions: readonly EntityPermission[], entityId: string, action: Action): boolean {
  for (const candidate of [entityId, '*']) {
    const rows = permissions.filter((permission) => permission.entity_id === candidate && covers(permission.actions, action));
    if (rows.some((permission) => permission.negative)) return false;
    if (rows.length > 0) return true;
  }
  return false;
}

/** The endpoint rows of `/prefix`, `/prefix/*` ... down to `depth` wildcard segments (Kong's way to cover a subtree). */
export function subtree(prefix: string, depth: number, actions: readonly (Action | '*')[], negative: boolean): EndpointPermission[] {
  return Array.from({ length: depth + 1 }, (_, wild) => ({ endpoint: `${prefix}${'/*'.repeat(wild)}`, actions, negative }));
}

const everyEntity = (actions: readonly (Action | '*')[]): EntityPermission[] => [{ entity_id: '*', entity_type: 'wildcard', actions, negative: false }];

/** The built-in roles (SPEC 7, Kong A6), not editable. */
export const builtInRoles: Readonly<Record<'superuser' | 'admin' | 'read-only', RoleDefinition>> = {
  superuser: { description: 'Full access to every endpoint and entity', endpoints: [{ endpoint: '*', actions: ['*'], negative: false }], entities: everyEntity(['*']) },
  admin: {
    description: 'Full access, except managing users and roles',
    endpoints: [{ endpoint: '*', actions: ['*'], negative: false }, ...subtree('/_security/user', 4, ['*'], true), ...subtree('/_security/role', 4, ['*'], true)],
    entities: everyEntity(['*']),
  },
  'read-only': { description: 'Read access to every endpoint', endpoints: [{ endpoint: '*', actions: ['read'], negative: false }], entities: everyEntity(['read']) },
};

/** Whether a role name is one of the built-in roles. */
export function isBuiltInRole(name: string): name is keyof typeof builtInRoles {
  return Object.hasOwn(builtInRoles, name);
}
