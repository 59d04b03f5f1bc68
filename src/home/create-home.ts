import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SecurenodeError } from '../errors.js';
import { makeDirectory, syncDirectory, writeFileAtomic } from '../io/atomic-write.js';
import type { HomePaths } from './layout.js';

/** The package's templates/ folder (dist/src/home/ is three levels below the package root). */
export function templatePath(name: string): string {
  return fileURLToPath(new URL(`../../../templates/${name}`, import.meta.url));
}

/** What ensureHome found. */
export type HomeState = { kind: 'created' } | { kind: 'existing' };

/**
 * Make sure a home has its config dir and securenode.yml. A missing config dir
 * is created from templates/ (like unpacking a fresh tarball), and so is an
 * empty one (a mounted volume); a config dir that holds other files but no
 * securenode.yml is a configuration error, never silently re-created (the
 * config dir is created whole, so only an operator can leave it so).
 */
export async function ensureHome(paths: HomePaths): Promise<HomeState> {
  if (await exists(paths.configDir)) {
    // An empty config dir is what a mounted volume gives, and a mount point cannot be removed: it is filled like a new one.
    if (await isEmptyConfigDir(paths)) return fillConfigDir(paths);
    if (!(await exists(paths.configFile))) {
      throw new SecurenodeError(
        'ERR_CONFIG_MISSING',
        `the config dir ${paths.configDir} exists but holds no securenode.yml; restore it, or remove the config dir to have a new one created from the template`,
      );
    }
    return { kind: 'existing' };
  }
  try {
    // The config dir appears whole or not at all: it is built beside its place and renamed there,
    // so a crash (kill -9) never leaves a config dir without securenode.yml. A staging dir left by
    // such a crash is ours, and is built afresh.
    const staging = join(dirname(paths.configDir), '.config.creating');
    await rm(staging, { recursive: true, force: true });
    await makeDirectory(staging, 0o750);
    await writeFileAtomic(join(staging, basename(paths.configFile)), await readFile(templatePath('securenode.yml')), 0o640);
    await rename(staging, paths.configDir);
    await syncDirectory(dirname(paths.configDir));
    await makeDirectory(paths.dataDir, 0o750);
    await makeDirectory(paths.logsDir, 0o750);
  } catch (error) {
    throw new SecurenodeError('ERR_CANT_CREATE', `cannot create the home ${paths.home}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  return { kind: 'created' };
}

/** Whether a config dir holds nothing but what an interrupted write of securenode.yml may leave. */
async function isEmptyConfigDir(paths: HomePaths): Promise<boolean> {
  const leftover = new RegExp(`^\\.${basename(paths.configFile).replace('.', '\\.')}\\.[0-9a-f]+\\.tmp$`);
  return (await readdir(paths.configDir)).every((name) => leftover.test(name));
}

/** Fill an existing, empty config dir (a mount point) from the template; securenode.yml is written last and atomically. */
async function fillConfigDir(paths: HomePaths): Promise<HomeState> {
  try {
    await writeFileAtomic(paths.configFile, await readFile(templatePath('securenode.yml')), 0o640);
    await makeDirectory(paths.dataDir, 0o750);
    await makeDirectory(paths.logsDir, 0o750);
  } catch (error) {
    throw new SecurenodeError('ERR_CANT_CREATE', `cannot fill the empty config dir ${paths.configDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
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
