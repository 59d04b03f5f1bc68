import { allActions, authorizeEndpoint, authorizeEntity, compileEndpoints, normalizeEndpoint, type Action, type RoleDefinition } from './rbac-matcher.js';

/** A route of the node: the requests RBAC decides on are these, with their parameters filled in. */
export interface RouteShape {
  readonly method: string;
  readonly pattern: string;
}

/** One request or entity action that a set of permissions allows or not. */
export type Probe =
  | { readonly kind: 'endpoint'; readonly method: string; readonly path: string; readonly pattern?: string }
  | { readonly kind: 'entity'; readonly entityId: string; readonly action: Action };

/** Whether some permissions allow one probe. */
export type Allows = (probe: Probe) => boolean;

// A parameter value no permission names: it stands for every value that no row mentions.
const unnamed = '\u0000unnamed';

/** What a list of role definitions allows, in every enforce mode: its endpoint and its entity rows. */
export function allowsOf(definitions: readonly RoleDefinition[]): Allows {
  const endpoints = compileEndpoints(definitions.flatMap((role) => role.endpoints));
  const entities = definitions.flatMap((role) => role.entities);
  return (probe) => (probe.kind === 'endpoint' ? authorizeEndpoint(endpoints, probe.method, probe.path, probe.pattern).allowed : authorizeEntity(entities, probe.entityId, probe.action));
}

/**
 * Whether role definitions allow every request and every entity action, read
 * off the rows without a probe: no negative row, no row without actions (an
 * entry with none denies), a '*' endpoint row for each action and a '*' entity
 * row for each action. Then the first candidate that covers an action is an
 * allowing one whatever the path, and '*' covers every action, so nothing can
 * be refused (the superuser's rows). A false here proves nothing: the probes decide.
 */
export function holdsEverything(definitions: readonly RoleDefinition[]): boolean {
  const endpoints = definitions.flatMap((role) => role.endpoints);
  const entities = definitions.flatMap((role) => role.entities);
  const covering = (actions: readonly (Action | '*')[], action: Action) => actions.includes('*') || actions.includes(action);
  return (
    endpoints.every((row) => !row.negative && row.actions.length > 0) &&
    entities.every((row) => !row.negative) &&
    allActions.every((action) => endpoints.some((row) => normalizeEndpoint(row.endpoint) === '*' && covering(row.actions, action))) &&
    allActions.every((action) => entities.some((row) => row.entity_id === '*' && covering(row.actions, action)))
  );
}

/**
 * Every request and entity action that can tell two sets of permissions apart.
 * A decision depends on a path only through which rows name it (a row's
 * segment is either a literal or '*'), so for each parameter of each route it
 * is enough to try every literal that a row has at that position, and one
 * value no row names. The same holds for entity ids. Every path a row names
 * is tried with every action too, routed or not (yet), so that a row for an
 * endpoint a later version adds is no way around the rule. The list is finite
 * and exact: if no probe is allowed by one set and refused by the other, no
 * request is.
 */
export function probesFor(routes: readonly RouteShape[], definitions: readonly RoleDefinition[]): Probe[] {
  const keys = definitions.flatMap((role) => role.endpoints.map((row) => row.endpoint.split('/')));
  const probes: Probe[] = [];
  for (const route of routes) {
    const segments = route.pattern.split('/');
    let paths: string[][] = [[]];
    segments.forEach((segment, index) => {
      if (!segment.startsWith(':')) {
        paths = paths.map((path) => [...path, segment]);
        return;
      }
      const values = new Set([unnamed, ...keys.filter((key) => key.length === segments.length && key[index] !== '*').map((key) => key[index]!)]);
      paths = paths.flatMap((path) => [...values].map((value) => [...path, value]));
    });
    for (const path of paths) probes.push({ kind: 'endpoint', method: route.method, path: path.join('/'), pattern: route.pattern });
  }
  for (const key of new Set(keys.map((segments) => (segments.length === 1 ? ['', ...segments] : segments).map((segment) => (segment === '*' ? unnamed : segment)).join('/')))) {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) probes.push({ kind: 'endpoint', method, path: key });
  }
  const ids = new Set([unnamed, ...definitions.flatMap((role) => role.entities.map((row) => row.entity_id))]);
  for (const entityId of ids) for (const action of allActions) probes.push({ kind: 'entity', entityId, action });
  return probes;
}

/** A probe as an operator reads it. */
export function describeProbe(probe: Probe): string {
  if (probe.kind === 'entity') return `${probe.action} on entity ${probe.entityId === unnamed ? '*' : probe.entityId}`;
  const parameter = probe.pattern?.split('/').find((segment) => segment.startsWith(':'))?.slice(1);
  return `${probe.method} ${probe.path.replaceAll(unnamed, parameter ? `{${parameter}}` : '*')}`;
}

/**
 * The escalation rule (Kubernetes RBAC's): the first request that `after`
 * allows, `before` did not, and the caller may not make itself; undefined
 * when the change gives nobody anything the caller does not hold.
 */
export function firstGain(caller: Allows, probes: readonly Probe[], after: Allows, before: Allows = () => false): Probe | undefined {
  return probes.find((probe) => after(probe) && !before(probe) && !caller(probe));
}
