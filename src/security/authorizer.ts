import type { SecurityStore } from './store.js';
import { allowsOf, firstGain, holdsEverything, probesFor, type Allows, type Probe, type RouteShape } from './escalation.js';
import { authorizeEndpoint, authorizeEntity, builtInRoles, compileEndpoints, isBuiltInRole, type Action, type CompiledEndpoints, type EntityPermission, type RoleDefinition } from './rbac-matcher.js';

/** security.rbac.enforce: endpoints, entities, both, or neither (authentication only). */
export type EnforceMode = 'on' | 'entity' | 'both' | 'off';

/**
 * What a caller holds: its roles, and for an API key also its owner's roles
 * now (Elasticsearch's limited-by): a request must be allowed by both.
 */
export interface Rights {
  readonly roles: readonly string[];
  readonly limitedBy?: readonly string[];
}

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
  /** The node's routes: what the escalation rule compares permissions on. */
  readonly #routes: RouteShape[] = [];

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
    const definitions = this.definitions(roles);
    const compiled = { generation: this.#store.generation, endpoints: compileEndpoints(definitions.flatMap((role) => role.endpoints)), entities: definitions.flatMap((role) => role.entities) };
    if (this.#cache.size >= 1000) this.#cache.clear();
    this.#cache.set(key, compiled);
    return compiled;
  }

  /** Record a route of the node, for the escalation rule. */
  addRoute(route: RouteShape): void {
    this.#routes.push(route);
  }

  /**
   * Whether a caller may call this endpoint: always, unless the mode checks
   * endpoints or `always` says this endpoint is checked in every mode (managing
   * security is).
   */
  /**
   * Whether a caller may reach a path of a service behind the node (a gateway
   * route, a forward-auth request): decided by endpoint rows on the path alone,
   * in every mode but off, since entity rows cannot name a service's paths.
   */
  serviceAllowed(rights: Rights, method: string, path: string): boolean {
    return this.endpointAllowed(rights, method, path, undefined, this.#servicesChecked);
  }

  /** serviceAllowed for one gateway route, as routeDecider keeps it. */
  serviceDecider(): ReturnType<Authorizer['routeDecider']> {
    return this.routeDecider(undefined, this.#servicesChecked);
  }

  /** A service's paths are checked in every mode but off. */
  get #servicesChecked(): boolean {
    return this.mode !== 'off';
  }

  /**
   * endpointAllowed for one route, as a function that keeps the route's last decision: the same role list (the very
   * array: the store hands one to every request of a user, and replaces it whole on a change), the same method and
   * path, and the store unchanged since, give the same answer without a key to build and look up. One decision per
   * route, held in place: nothing grows, nothing is allocated on a hit; anything else asks endpointAllowed.
   * Measured on keep-alive GET /: the key of #endpoint and its lookup were the largest part of the node's own work.
   */
  routeDecider(routePattern: string | undefined, always: boolean): (roles: readonly string[], limitedBy: readonly string[] | undefined, method: string, path: string) => boolean {
    const last = { generation: -1, roles: [] as readonly string[], limitedBy: undefined as readonly string[] | undefined, method: '', path: '', allowed: false };
    return (roles, limitedBy, method, path) => {
      const generation = this.#store.generation;
      if (last.generation === generation && last.roles === roles && last.limitedBy === limitedBy && last.method === method && last.path === path) return last.allowed;
      const allowed = this.endpointAllowed(limitedBy === undefined ? { roles } : { roles, limitedBy }, method, path, routePattern, always);
      last.generation = generation;
      last.roles = roles;
      last.limitedBy = limitedBy;
      last.method = method;
      last.path = path;
      last.allowed = allowed;
      return allowed;
    };
  }

  endpointAllowed(rights: Rights, method: string, path: string, routePattern?: string, always = false): boolean {
    if (!always && this.mode !== 'on' && this.mode !== 'both') return true;
    return this.#endpoint(rights.roles, method, path, routePattern) && (rights.limitedBy === undefined || this.#endpoint(rights.limitedBy, method, path, routePattern));
  }

  #endpoint(roles: readonly string[], method: string, path: string, routePattern?: string): boolean {
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

  /** Whether a caller may act on one entity; always, unless the mode checks entities. */
  entityAllowed(rights: Rights, entityId: string, action: Action): boolean {
    if (this.mode !== 'entity' && this.mode !== 'both') return true;
    return authorizeEntity(this.#compiled(rights.roles).entities, entityId, action) && (rights.limitedBy === undefined || authorizeEntity(this.#compiled(rights.limitedBy).entities, entityId, action));
  }

  /** The definitions of role names (unknown names grant nothing). */
  definitions(roles: readonly string[]): RoleDefinition[] {
    return roles.map((name) => this.role(name)).filter((role): role is RoleDefinition => role !== undefined);
  }

  /**
   * The escalation rule, in every enforce mode: the first request or entity
   * action that `after` allows, `before` did not, and the caller does not hold;
   * undefined when the change grants nothing beyond the caller.
   */
  escalation(rights: Rights, after: readonly RoleDefinition[], before: readonly RoleDefinition[] = []): Probe | undefined {
    // A caller that holds everything (a superuser, its unrestricted key) can give nothing beyond itself: no probe
    // to try. Measured: the probes of one change, cold, held a node's event loop ~70 ms at its first role change.
    if (holdsEverything(this.definitions(rights.roles)) && (rights.limitedBy === undefined || holdsEverything(this.definitions(rights.limitedBy)))) return undefined;
    const caller = [...this.definitions(rights.roles), ...this.definitions(rights.limitedBy ?? [])];
    const probes = probesFor(this.#routes, [...caller, ...after, ...before]);
    const own = allowsOf(this.definitions(rights.roles));
    const limit: Allows = rights.limitedBy === undefined ? () => true : allowsOf(this.definitions(rights.limitedBy));
    return firstGain((probe) => own(probe) && limit(probe), probes, allowsOf(after), allowsOf(before));
  }
}
