import { parseDuration } from '../coerce.js';
import { findSetting } from '../schema.js';
import type { Settings } from '../settings.js';
import { looksLikeVaultReference, VaultReferenceError, type VaultReference } from './reference.js';

/** What a backend may read besides the reference: settings, the environment, and fetch for hcv. */
export interface VaultContext {
  readonly settings: Settings;
  readonly env: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
}

/** A backend reads a secret's whole value (a string) for a reference; errors never include a value. */
export type VaultBackend = (reference: VaultReference, context: VaultContext) => Promise<string>;

/** A backend setting's value; one that is itself still an unresolved reference counts as unset. */
export function setting(settings: Settings, key: string): string | undefined {
  const value = settings.string(key);
  return value !== undefined && looksLikeVaultReference(value) ? undefined : value;
}

/**
 * A backend's option: the reference's ?name=, else the setting
 * vault.<backend>.<name> when there is one (an option some backends have no
 * setting for, such as env's ttl or azure's version, is read from the query only).
 */
export function option(reference: VaultReference, settings: Settings, name: string): string | undefined {
  const key = `vault.${reference.backend}.${name}`;
  return reference.options[name] ?? (findSetting(key) ? setting(settings, key) : undefined);
}

/** vault.timeout in milliseconds: how long one request to a secret store may take. */
export function requestTimeout(settings: Settings): number {
  return parseDuration(settings.string('vault.timeout') ?? '10s') ?? 10_000;
}

/** Stop with a reason that names no value. */
export const fail = (reason: string): never => {
  throw new VaultReferenceError(reason);
};
