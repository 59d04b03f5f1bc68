import type { SecurityStore } from './store.js';
import { authorizeEndpoint, authorizeEntity, builtInRoles, compileEndpoints, isBuiltInRole, type Action, type CompiledEndpoints, type EntityPermission, type RoleDefinition } from './rbac-matcher.js';

/** security.rbac.enforce: endpoints, entities, both, or neither (authentication only). */
export type EnforceMode = 'on' | 'entity' | 'both' | 'off';

interface Compiled {
  readonly generation: number;
  readonly endpoints: CompiledEndpoints;
  readonly entities: readonly EntityPermission[];
}

/**
 * Kong's RBAC over the store's roles: a caller's role names (built-in or
 * stored; unknown ones grant nothing) are merged once per role set and store
 * version, so that a request pays the candidate walk and nothing else.
 */
export class Authorizer {
  readonly mode: EnforceMode;
  readonly #store: SecurityStore;
  readonly #cache = new Map<string, Compiled>();
  /** Endpoint decisions by store version, roles, method, path and route: the hot path is one lookup. */
  readonly #decisions = new Map<string, boolean>();
  #decisionsGeneration = -1;

  constructor(store: SecurityStore, mode: EnforceMode) {
    this.#store = store;
    this.mode = mode;
  }

  /** The definition of a role name, built-in or stored. */
  role(name: string): RoleDefinition | undefined {
    return isBuiltInRole(name) ? builtInRoles[name] : this.#store.getRole(name);
  }

  #compiled(roles: readonly string[]): Compiled {
    const key = roles.join('\u0000');
    const cached = this.#cache.get(key);
    if (cached && cached.generation === this.#store.generation) return cached;
    const definitions = roles.map((name) => this.role(name)).filter((role): role is RoleDefinition => role !== undefined);
    const compiled = { generation: this.#store.generation, endpoints: compileEndpoints(definitions.flatMap((role) => role.endpoints)), entities: definitions.flatMap((role) => role.entities) };
    if (this.#cache.size >= 1000) this.#cache.clear();
    this.#cache.set(key, compiled);
    return compiled;
  }

  /** Whether roles may call this endpoint; always, unless the mode checks endpoints. */
  endpointAllowed(roles: readonly string[], method: string, path: string, routePattern?: string): boolean {
    if (this.mode !== 'on' && this.mode !== 'both') return true;
    if (this.#decisionsGeneration !== this.#store.generation || this.#decisions.size >= 10_000) {
      this.#decisions.clear();
      this.#decisionsGeneration = this.#store.generation;
    }
    const key = `${roles.join('\u0000')}\u0001${method}\u0001${path}\u0001${routePattern ?? ''}`;
    let allowed = this.#decisions.get(key);
    if (allowed === undefined) {
      allowed = authorizeEndpoint(this.#compiled(roles).endpoints, method, path, routePattern).allowed;
      this.#decisions.set(key, allowed);
    }
    return allowed;
  }

  /** Whether roles may act on one entity; always, unless the mode checks entities. */
  entityAllowed(roles: readonly string[], entityId: string, action: Action): boolean {
    if (this.mode !== 'entity' && this.mode !== 'both') return true;
    return authorizeEntity(this.#compiled(roles).entities, entityId, action);
  }
}
