import { SecurenodeError } from '../errors.js';
import { pathExists } from '../io/atomic-write.js';
import { readConfigFile, type FileSetting } from './config-file.js';
import { coerceSetting } from './coerce.js';
import { nearest } from './nearest.js';
import { environmentName, findSetting, reservedEnvironmentNames, settingDefinitions, type SettingValue } from './schema.js';
import { Settings, type SettingOrigin } from './settings.js';

/** What settings are loaded from. */
export interface LoadSettingsOptions {
  /** Path of securenode.yml. */
  readonly configFile: string;
  /** Environment to read SECURENODE_* from; defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** `key=value` strings from repeated -E options, in order. */
  readonly overrides?: readonly string[];
}

interface RawSetting {
  readonly key: string;
  readonly value: unknown;
  readonly origin: SettingOrigin;
  /** Where to point the user: file:line, the variable, or the -E option. */
  readonly where: string;
}

const knownKeys = settingDefinitions.map((definition) => definition.key);
const environmentNames = new Map(knownKeys.map((key) => [environmentName(key), key]));

/** Load securenode.yml, then SECURENODE_* variables, then -E options, each overriding the one before. */
export async function loadSettings(options: LoadSettingsOptions): Promise<Settings> {
  const fromFile = await readConfigFile(options.configFile);
  return mergeSettings(options.configFile, fromFile, options.env ?? process.env, options.overrides ?? []);
}

/** Settings as written, before any secret is read: a home without securenode.yml (not created yet) has those of the environment and -E only. */
export async function loadSettingsIfAny(options: LoadSettingsOptions): Promise<Settings> {
  if (await pathExists(options.configFile)) return loadSettings(options);
  return mergeSettings(options.configFile, [], options.env ?? process.env, options.overrides ?? []);
}

/** Merge and validate settings already read from the file with the environment and -E options. */
export function mergeSettings(
  configFile: string,
  fromFile: readonly FileSetting[],
  env: NodeJS.ProcessEnv,
  overrides: readonly string[],
): Settings {
  const raw: RawSetting[] = [
    ...fromFile.map((setting) => ({ key: setting.key, value: setting.value, origin: 'file' as const, where: `${configFile}:${setting.line}` })),
    ...readEnvironment(env),
    ...overrides.map(parseOverride),
  ];
  const values = new Map<string, SettingValue>();
  const origins = new Map<string, SettingOrigin>();
  for (const setting of raw) {
    const definition = findSetting(setting.key);
    if (!definition) {
      const suggestion = nearest(setting.key, knownKeys);
      throw new SecurenodeError(
        'ERR_CONFIG_UNKNOWN_KEY',
        `${setting.where}: unknown setting '${setting.key}'; did you mean '${suggestion}'? (securenode --help-settings lists every setting)`,
      );
    }
    const coerced = coerceSetting(definition, setting.value);
    if (!coerced.ok) {
      throw new SecurenodeError(
        'ERR_CONFIG_INVALID_VALUE',
        `${setting.where}: invalid value ${JSON.stringify(setting.value)} for setting '${setting.key}': expected ${coerced.expected}`,
      );
    }
    values.set(setting.key, coerced.value);
    origins.set(setting.key, setting.origin);
  }
  return new Settings(values, origins);
}

function readEnvironment(env: NodeJS.ProcessEnv): RawSetting[] {
  const settings: RawSetting[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SECURENODE_') || reservedEnvironmentNames.has(name) || value === undefined) continue;
    const key = environmentNames.get(name);
    if (!key) {
      const suggestion = nearest(name, environmentNames.keys());
      throw new SecurenodeError(
        'ERR_CONFIG_UNKNOWN_KEY',
        `environment variable ${name}: unknown setting; did you mean ${suggestion}? (securenode --help-settings lists every setting)`,
      );
    }
    settings.push({ key, value, origin: 'environment', where: `environment variable ${name}` });
  }
  return settings;
}

function parseOverride(option: string): RawSetting {
  const equals = option.indexOf('=');
  if (equals <= 0) {
    throw new SecurenodeError('ERR_USAGE', `-E ${option}: expected key=value, e.g. -E http.port=9201`);
  }
  const key = option.slice(0, equals).trim();
  return { key, value: option.slice(equals + 1), origin: 'command line', where: `-E ${key}` };
}
