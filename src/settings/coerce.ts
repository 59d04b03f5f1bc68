import { parse as parseYaml } from 'yaml';
import type { RouteRecord, SettingDefinition, SettingType, SettingValue } from './schema.js';
import { checkRoutes } from './gateway-routes.js';

/** A value read as its type, or what the type expected instead. */
export type Coerced = { ok: true; value: SettingValue } | { ok: false; expected: string };

/**
 * Read a raw value (typed from YAML, or a string from the environment or -E)
 * as the type its setting declares.
 */
export function coerceSetting(definition: SettingDefinition, raw: unknown): Coerced {
  return coerce(definition.type, raw);
}

function coerce(type: SettingType, raw: unknown): Coerced {
  switch (type.kind) {
    case 'string':
      if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return { ok: true, value: String(raw) };
      return { ok: false, expected: 'a string' };
    case 'bool':
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      if (raw === 'true' || raw === 'false') return { ok: true, value: raw === 'true' };
      return { ok: false, expected: 'true or false' };
    case 'int': {
      const number = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (Number.isInteger(number) && number >= type.min && number <= type.max) return { ok: true, value: number };
      return { ok: false, expected: `a whole number from ${type.min} to ${type.max}` };
    }
    case 'enum':
      if (typeof raw === 'string' && type.values.includes(raw)) return { ok: true, value: raw };
      return { ok: false, expected: `one of ${type.values.join(', ')}` };
    case 'duration':
      if (typeof raw === 'string' && parseDuration(raw) !== undefined) return { ok: true, value: raw };
      return { ok: false, expected: 'a duration such as 30s, 20m, 1h or 7d' };
    case 'list':
      return coerceList(type.values, raw);
    case 'routes':
      return coerceRoutes(raw);
  }
}

/** gateway.routes: a YAML list of maps, or from the environment or -E a YAML flow sequence ([{name: app, path: /app, upstream: ...}]). */
function coerceRoutes(raw: unknown): Coerced {
  let items: unknown = raw;
  if (typeof raw === 'string') {
    try {
      items = parseYaml(raw);
    } catch {
      return { ok: false, expected: 'a list of routes, e.g. [{name: app, path: /app, upstream: "http://127.0.0.1:3000"}]' };
    }
  }
  if (!Array.isArray(items)) return { ok: false, expected: 'a list of routes, each with name, path and upstream' };
  const checked = checkRoutes(items);
  if (!checked.ok) return { ok: false, expected: `a list of routes, each with name, path and upstream: ${checked.reason}` };
  return { ok: true, value: items as RouteRecord[] };
}

function coerceList(allowed: readonly string[] | undefined, raw: unknown): Coerced {
  let items: unknown[];
  if (Array.isArray(raw)) items = raw;
  else if (typeof raw === 'string') items = splitListString(raw);
  else return { ok: false, expected: 'a list' };
  const expected = allowed ? `a list of ${allowed.join(', ')}` : 'a list of strings';
  const values: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string' && typeof item !== 'number') return { ok: false, expected };
    const text = String(item);
    if (allowed && !allowed.includes(text)) return { ok: false, expected };
    values.push(text);
  }
  return { ok: true, value: values };
}

/** A list from the environment or -E: a YAML flow sequence ([a, b]) or comma-separated words. */
function splitListString(raw: string): unknown[] {
  const text = raw.trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = parseYaml(text);
      return Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      return [undefined];
    }
  }
  return text.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in a duration such as 20m; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * durationUnits[match[2]!]!;
}
