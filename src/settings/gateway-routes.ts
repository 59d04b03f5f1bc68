import { parseDuration } from './coerce.js';
import { nearest } from './nearest.js';
import type { RouteRecord } from './schema.js';

/** One service the node puts behind its authentication and RBAC (gateway.routes). */
export interface GatewayRoute {
  /** Names the route in logs, the audit log and error answers. */
  readonly name: string;
  /** The path prefix on the node's HTTPS port, such as '/app' (never '/' nor '/_…': the node answers those). */
  readonly path: string;
  /** The upstream's origin and base path, e.g. http://127.0.0.1:3000 or https://app.internal/base. */
  readonly upstream: URL;
  /** Whether the route's path is taken off before the request goes upstream (nginx's `proxy_pass http://up/;`). */
  readonly stripPath: boolean;
  /** How long the upstream may take to answer, and between two chunks of its answer (nginx's proxy_read_timeout). */
  readonly timeoutMs: number;
  /** A PEM file of the CA that signs an https upstream's certificate, relative to the config dir; default the system's CAs. */
  readonly ca?: string;
}

const fields = ['name', 'path', 'upstream', 'strip_path', 'timeout', 'ca'];
const namePattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Path segments of unreserved and sub-delimiter characters only: a route's path is matched as written, never decoded. */
const pathPattern = /^\/([A-Za-z0-9._~!$&'()*+,;=:@-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*)?$/;
const defaultTimeout = '60s';

/** Why a route is refused, or its parsed form. */
type Checked = { ok: true; route: GatewayRoute } | { ok: false; reason: string };

function checkRoute(record: unknown, index: number): Checked {
  const label = `route ${index + 1}`;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return { ok: false, reason: `${label} must be a map of name, path and upstream` };
  const fieldsOf = record as Record<string, unknown>;
  for (const [key, value] of Object.entries(fieldsOf)) {
    if (!fields.includes(key)) return { ok: false, reason: `${label} has an unknown field '${key}' (did you mean '${fields.find((field) => field.startsWith(key)) ?? nearest(key, fields)}'?)` };
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return { ok: false, reason: `${label}: ${key} must be a single value` };
  }
  const name = fieldsOf['name'];
  if (typeof name !== 'string' || !namePattern.test(name)) return { ok: false, reason: `${label}: name must be lower-case letters, digits, '-' and '_' (at most 64)` };
  const where = `route '${name}'`;
  const path = fieldsOf['path'];
  if (typeof path !== 'string' || !pathPattern.test(path) || path.split('/').some((segment) => segment === '.' || segment === '..')) {
    return { ok: false, reason: `${where}: path must be a path such as /app (letters, digits and -._~!$&'()*+,;=:@; no '%', no dot segment, no trailing '/')` };
  }
  if (path.startsWith('/_')) return { ok: false, reason: `${where}: path must not start with '/_': those paths are the node's own API (/_security, /_console, /_auth ...)` };
  if (path === '/') return { ok: false, reason: `${where}: path must be a prefix such as /app: the node answers / and /_* itself` };
  let upstream: URL;
  try {
    upstream = new URL(String(fieldsOf['upstream'] ?? ''));
  } catch {
    return { ok: false, reason: `${where}: upstream must be a URL such as http://127.0.0.1:3000` };
  }
  if ((upstream.protocol !== 'http:' && upstream.protocol !== 'https:') || upstream.username || upstream.password || upstream.search || upstream.hash || String(fieldsOf['upstream']).includes('#')) {
    return { ok: false, reason: `${where}: upstream must be an http:// or https:// URL with no user, query or fragment` };
  }
  const stripPath = fieldsOf['strip_path'] ?? false;
  if (typeof stripPath !== 'boolean') return { ok: false, reason: `${where}: strip_path must be true or false` };
  const timeout = String(fieldsOf['timeout'] ?? defaultTimeout);
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined || timeoutMs < 1 || timeoutMs > 86_400_000) return { ok: false, reason: `${where}: timeout must be a duration such as 30s or 5m (at most 1d)` };
  const ca = fieldsOf['ca'];
  if (ca !== undefined && (typeof ca !== 'string' || ca.length === 0)) return { ok: false, reason: `${where}: ca must be the path of a PEM file` };
  if (ca !== undefined && upstream.protocol !== 'https:') return { ok: false, reason: `${where}: ca is for an https:// upstream` };
  return { ok: true, route: { name, path, upstream, stripPath, timeoutMs, ...(ca === undefined ? {} : { ca: ca as string }) } };
}

/**
 * gateway.routes checked as a whole: each route well formed, names and paths
 * each used once. The records are kept as written (so that they print as
 * written); gatewayRoutes reads them.
 */
export function checkRoutes(records: readonly unknown[]): { ok: true; routes: GatewayRoute[] } | { ok: false; reason: string } {
  const routes: GatewayRoute[] = [];
  for (const [index, record] of records.entries()) {
    const checked = checkRoute(record, index);
    if (!checked.ok) return checked;
    const twin = routes.find((route) => route.name === checked.route.name || route.path === checked.route.path);
    if (twin) return { ok: false, reason: `routes '${twin.name}' and '${checked.route.name}' have the same ${twin.name === checked.route.name ? 'name' : 'path'}` };
    routes.push(checked.route);
  }
  return { ok: true, routes };
}

/** The routes of validated settings' gateway.routes. */
export function gatewayRoutes(records: readonly RouteRecord[]): GatewayRoute[] {
  const checked = checkRoutes(records);
  if (!checked.ok) throw new TypeError(`gateway.routes: ${checked.reason}`);
  return checked.routes;
}
