import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SecurenodeError } from '../errors.js';
import { makeDirectory, writeFileAtomic } from '../io/atomic-write.js';
import type { HomePaths } from './layout.js';

/** The package's templates/ folder (dist/src/home/ is three levels below the package root). */
export function templatePath(name: string): string {
  return fileURLToPath(new URL(`../../../templates/${name}`, import.meta.url));
}

/** What ensureHome found. */
export type HomeState = { kind: 'created' } | { kind: 'existing' };

/**
 * Make sure a home has its config dir and securenode.yml. A missing config dir
 * is created from templates/ (like unpacking a fresh tarball); a config dir
 * without securenode.yml is a configuration error, never silently re-created.
 */
export async function ensureHome(paths: HomePaths): Promise<HomeState> {
  if (await exists(paths.configDir)) {
    if (!(await exists(paths.configFile))) {
      throw new SecurenodeError(
        'ERR_CONFIG_MISSING',
        `the config dir ${paths.configDir} exists but holds no securenode.yml; restore it, or remove the config dir to have a new one created from the template`,
      );
    }
    return { kind: 'existing' };
  }
  try {
    await makeDirectory(paths.configDir, 0o750);
    const template = await readFile(templatePath('securenode.yml'));
    await writeFileAtomic(paths.configFile, template, 0o640);
    await makeDirectory(paths.dataDir, 0o750);
    await makeDirectory(paths.logsDir, 0o750);
  } catch (error) {
    throw new SecurenodeError('ERR_CANT_CREATE', `cannot create the home ${paths.home}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  return { kind: 'created' };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
