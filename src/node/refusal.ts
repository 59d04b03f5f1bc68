import type { FastifyRequest } from 'fastify';
import type { Authorizer } from '../security/authorizer.js';
import { describeProbe } from '../security/escalation.js';
import type { Action, RoleDefinition } from '../security/rbac-matcher.js';
import type { StoreData, StoredUser } from '../security/store.js';
import type { Principal } from './authenticator.js';
import { rightsOf } from './authorization.js';

/**
 * An answer other than success, decided inside a store mutation from the store
 * as it is at the change: nothing is committed, and the node answers `body`
 * with `status` (and audits a denial).
 */
export class Refusal extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The audit fields of an access denial. */
  readonly denied: Record<string, unknown> | undefined;

  constructor(status: number, body: Record<string, unknown>, denied?: Record<string, unknown>) {
    super(typeof body.error === 'string' ? body.error : `refused with ${status}`);
    this.status = status;
    this.body = body;
    this.denied = denied;
  }
}

/** Kong's 403 as a refusal. */
export function forbiddenRefusal(principal: Principal, action: Action, denied: Record<string, unknown>): Refusal {
  return new Refusal(403, { error: `${principal.user.username}, you do not have permissions to ${action} this resource` }, denied);
}

/** Entity RBAC for one entity inside a mutation: refuses with 403 unless the caller may act on it. */
export function requireEntity(request: FastifyRequest, authorizer: Authorizer, entity: { id: string; type: string }, action: Action): void {
  const principal = request.principal!;
  if (!authorizer.entityAllowed(rightsOf(principal), entity.id, action)) throw forbiddenRefusal(principal, action, { entity_type: entity.type, entity_id: entity.id, action });
}

/**
 * The escalation rule inside a mutation: refuses with 403 when `after` (a
 * user's or a role's permissions once changed) allows anything that `before`
 * did not and the caller does not hold itself.
 */
export function requireWithin(request: FastifyRequest, authorizer: Authorizer, target: string, after: readonly RoleDefinition[], before?: readonly RoleDefinition[]): void {
  const principal = request.principal!;
  const gain = authorizer.escalation(rightsOf(principal), after, before);
  if (!gain) return;
  const what = describeProbe(gain);
  throw new Refusal(403, { error: `${principal.user.username}, you cannot give ${target} permissions you do not hold yourself: ${what}` }, { target, escalation: what });
}

/**
 * The user `name` as the store holds it at the change, after the entity check
 * and, unless only read, the rule that nobody manages a user who holds more than
 * they do: 404 when there is none, 403 when the caller may not.
 */
export function requireUser(request: FastifyRequest, authorizer: Authorizer, data: StoreData, name: string, action: Action, missing: Record<string, unknown> = { error: `user [${name}] not found` }): StoredUser {
  const user = Object.hasOwn(data.users, name) ? data.users[name]! : undefined;
  if (!user) throw new Refusal(404, missing);
  requireEntity(request, authorizer, { id: user.id ?? name, type: 'user' }, action);
  // Reading a user grants nothing; changing one that holds more than the caller would hand it over.
  if (action !== 'read') requireNotAbove(request, authorizer, `user [${name}]`, authorizer.definitions(user.roles));
  return user;
}

/** Nobody manages a user or role that holds more than they do (a password change would hand it over): refuses with 403. */
export function requireNotAbove(request: FastifyRequest, authorizer: Authorizer, target: string, held: readonly RoleDefinition[]): void {
  const principal = request.principal!;
  const gain = authorizer.escalation(rightsOf(principal), held);
  if (!gain) return;
  const what = describeProbe(gain);
  throw new Refusal(403, { error: `${principal.user.username}, you cannot manage ${target}: it holds permissions you do not hold yourself: ${what}` }, { target, escalation: what });
}
