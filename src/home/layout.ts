import { basename, dirname, resolve } from 'node:path';

/** The paths of a securenode home (SPEC 1). */
export interface HomePaths {
  readonly home: string;
  readonly configDir: string;
  readonly configFile: string;
  readonly keystoreFile: string;
  readonly certsDir: string;
  readonly dataDir: string;
  readonly logsDir: string;
}

/** The home directory: --home, else $SECURENODE_HOME, else ./securenode-home. */
export function resolveHome(option: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, option ?? env.SECURENODE_HOME ?? 'securenode-home');
}

/** The layout of a home; path.data and path.logs, when set, are relative to the home. */
export function homePaths(home: string, overrides: { data?: string; logs?: string } = {}): HomePaths {
  const configDir = resolve(home, 'config');
  return {
    home,
    configDir,
    configFile: resolve(configDir, 'securenode.yml'),
    keystoreFile: resolve(configDir, 'securenode.keystore'),
    certsDir: resolve(configDir, 'certs'),
    dataDir: resolve(home, overrides.data ?? 'data'),
    logsDir: resolve(home, overrides.logs ?? 'logs'),
  };
}

/** The home that a file in its config dir (the keystore, securenode.yml) belongs to; none for a file elsewhere. */
export function homeOfConfigFile(path: string): string | undefined {
  const configDir = dirname(resolve(path));
  return basename(configDir) === 'config' ? dirname(configDir) : undefined;
}
