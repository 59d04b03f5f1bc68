import { findSetting, type RouteRecord, type SettingValue } from './schema.js';

/** Where a setting's value came from; later sources win (SPEC 2). */
export type SettingOrigin = 'file' | 'environment' | 'command line';

/** Validated settings: explicit values with their origin, and declared defaults. */
export class Settings {
  readonly #values: ReadonlyMap<string, SettingValue>;
  readonly #origins: ReadonlyMap<string, SettingOrigin>;

  constructor(values: ReadonlyMap<string, SettingValue>, origins: ReadonlyMap<string, SettingOrigin>) {
    this.#values = values;
    this.#origins = origins;
  }

  /** Whether the key was given explicitly, by any source. */
  isSet(key: string): boolean {
    return this.#values.has(key);
  }

  /** Whether any key under `prefix.` was given explicitly. */
  isAnySetUnder(prefix: string): boolean {
    return [...this.#values.keys()].some((key) => key.startsWith(`${prefix}.`));
  }

  /** The keys given explicitly, sorted. */
  explicitKeys(): string[] {
    return [...this.#values.keys()].sort();
  }

  /** Where an explicit value came from. */
  origin(key: string): SettingOrigin | undefined {
    return this.#origins.get(key);
  }

  /** The same settings with some explicit values replaced (resolved vault references), origins kept. */
  withValues(updates: ReadonlyMap<string, SettingValue>): Settings {
    return new Settings(new Map([...this.#values, ...updates]), this.#origins);
  }

  /** The explicit value only, without the default. */
  explicit(key: string): SettingValue | undefined {
    return this.#values.get(key);
  }

  /** The explicit value, else the declared default, else undefined. */
  get(key: string): SettingValue | undefined {
    const definition = findSetting(key);
    if (!definition) throw new TypeError(`unknown setting '${key}'`);
    const value = this.#values.get(key);
    if (value !== undefined) return value;
    return typeof definition.default === 'function' ? definition.default() : definition.default;
  }

  /** A string setting's value. */
  string(key: string): string | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : String(value);
  }

  /** A whole-number setting's value. */
  number(key: string): number | undefined {
    const value = this.get(key);
    return typeof value === 'number' ? value : undefined;
  }

  /** A boolean setting's value. */
  bool(key: string): boolean | undefined {
    const value = this.get(key);
    return typeof value === 'boolean' ? value : undefined;
  }

  /** A list setting's value (empty when unset). */
  list(key: string): string[] {
    const value = this.get(key);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : [];
  }

  /** A list of records' value, such as gateway.routes (empty when unset). */
  records(key: string): RouteRecord[] {
    const value = this.get(key);
    return Array.isArray(value) && value.every((item) => typeof item === 'object') ? (value as RouteRecord[]) : [];
  }
}
