import { SecurenodeError } from '../../errors.js';
import { parseDuration } from '../coerce.js';
import type { SettingValue } from '../schema.js';
import type { Settings } from '../settings.js';
import { option } from './backend.js';
import { vaultBackends, type VaultContext } from './backends.js';
import { looksLikeVaultReference, parseVaultReference, VaultReferenceError } from './reference.js';

export type { VaultContext } from './backends.js';

/** A reference's value: the backend's secret, or with a key, that field of a flat JSON object. */
async function dereference(text: string, context: VaultContext): Promise<string> {
  const reference = parseVaultReference(text);
  const backend = vaultBackends[reference.backend];
  if (!backend) throw new VaultReferenceError(`could not find vault (${reference.backend}); the backends are ${Object.keys(vaultBackends).join(', ')}`);
  const secret = await backend(reference, context);
  if (reference.key === undefined) return secret;
  let object: unknown;
  try {
    object = JSON.parse(secret);
  } catch {
    object = undefined;
  }
  const field = typeof object === 'object' && object !== null ? (object as Record<string, unknown>)[reference.key] : undefined;
  if (typeof field !== 'string') throw new VaultReferenceError(`subfield ${reference.key} not found in JSON secret`);
  return field;
}

/** Options of resolveVaultReferences: the environment, fetch, and a memo so that each reference is read once. */
export type ResolveOptions = Omit<VaultContext, 'settings'> & { readonly memo?: Map<string, string> };

async function resolveValue(name: string, value: SettingValue, context: VaultContext, memo: Map<string, string>): Promise<SettingValue | undefined> {
  const one = async (text: string, label: string): Promise<string> => {
    try {
      const known = memo.get(text);
      if (known !== undefined) return known;
      const resolved = await dereference(text, context);
      memo.set(text, resolved);
      return resolved;
    } catch (error) {
      const reason = error instanceof VaultReferenceError ? error.message : 'unexpected error';
      throw new SecurenodeError('ERR_VAULT', `failed to dereference '${text}': ${reason} for setting '${label}'`);
    }
  };
  if (typeof value === 'string' && looksLikeVaultReference(value)) return one(value, name);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string') && value.some(looksLikeVaultReference)) {
    return Promise.all((value as string[]).map((item, index) => (looksLikeVaultReference(item) ? one(item, `${name}[${index}]`) : item)));
  }
  return undefined;
}

/**
 * How often the values of these settings' references must be read again: the
 * shortest `ttl` among them (the reference's ?ttl=, else vault.<backend>.ttl),
 * in milliseconds; undefined when none has one (read once, as Kong's default).
 * With `which: 'neg_ttl'`, how long a failed read is remembered before the
 * next is tried.
 */
export function referencesTtl(raw: Settings, keys: readonly string[], which: 'ttl' | 'neg_ttl' = 'ttl'): number | undefined {
  let shortest: number | undefined;
  for (const key of keys) {
    const value = raw.string(key);
    if (value === undefined || !looksLikeVaultReference(value)) continue;
    // env references have no ttl setting (the environment does not change under a running process); a ?ttl= still counts.
    const text = option(parseVaultReference(value), raw, which);
    const ttl = text === undefined ? undefined : parseDuration(text);
    if (ttl !== undefined && ttl > 0) shortest = Math.min(shortest ?? ttl, ttl);
  }
  return shortest;
}

/**
 * Resolve every {vault://...} reference in the settings (SPEC 8), once, into
 * memory only: the vault.* settings first (they configure the backends), then
 * the rest. An unresolvable reference is fatal (ERR_VAULT, exit 78), naming the
 * reference and the setting, never a value.
 */
export async function resolveVaultReferences(settings: Settings, options: ResolveOptions): Promise<Settings> {
  const { memo = new Map<string, string>(), ...context } = options;
  let resolved = settings;
  for (const pass of [(key: string) => key.startsWith('vault.'), (key: string) => !key.startsWith('vault.')]) {
    const updates = new Map<string, SettingValue>();
    for (const key of resolved.explicitKeys().filter(pass)) {
      const value = await resolveValue(key, resolved.explicit(key)!, { ...context, settings: resolved }, memo);
      if (value !== undefined) updates.set(key, value);
    }
    resolved = resolved.withValues(updates);
  }
  return resolved;
}

/**
 * One reference, read with the vault.* settings of `settings` (themselves
 * resolved first): for checking a setup (`securenode vault get`). A failure is
 * ERR_VAULT naming the reference and why, never a value.
 */
export async function resolveReference(text: string, settings: Settings, options: ResolveOptions): Promise<string> {
  const { memo = new Map<string, string>(), ...context } = options;
  const vaultKeys = settings.explicitKeys().filter((key) => key.startsWith('vault.'));
  const updates = new Map<string, SettingValue>();
  for (const key of vaultKeys) {
    const value = await resolveValue(key, settings.explicit(key)!, { ...context, settings }, memo);
    if (value !== undefined) updates.set(key, value);
  }
  const resolved = settings.withValues(updates);
  try {
    return await dereference(text, { ...context, settings: resolved });
  } catch (error) {
    const reason = error instanceof VaultReferenceError ? error.message : 'unexpected error';
    throw new SecurenodeError('ERR_VAULT', `failed to dereference '${text}': ${reason}`);
  }
}
