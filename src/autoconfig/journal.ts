import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HomePaths } from '../home/layout.js';
import { isLeftover, syncDirectory, writeFileAtomic } from '../io/atomic-write.js';
import { hasConfigBlock } from './config-block.js';

/**
 * The one rollback journal of an auto-configuration: written before anything
 * else is touched, removed after the commit (the rename of securenode.yml).
 */
export interface Journal {
  readonly version: 1;
  readonly id: string;
  readonly keystoreExisted: boolean;
  readonly certsExisted: boolean;
}

/** The paths a journal's transaction uses, all derived from its id. */
export function journalPaths(paths: HomePaths, id: string) {
  return {
    journal: join(paths.configDir, '.autoconfig.journal'),
    tempCerts: join(paths.configDir, `certs.${id}.tmp`),
    certsBackup: join(paths.configDir, `certs.${id}.orig`),
    keystoreBackup: `${paths.keystoreFile}.${id}.orig`,
  };
}

const journalFile = (paths: HomePaths): string => journalPaths(paths, '').journal;

export async function writeJournal(paths: HomePaths, journal: Journal): Promise<void> {
  await writeFileAtomic(journalFile(paths), `${JSON.stringify(journal)}\n`, 0o600);
}

async function readJournal(paths: HomePaths): Promise<Journal | undefined> {
  try {
    return JSON.parse(await readFile(journalFile(paths), 'utf8')) as Journal;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await readdir(path);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOTDIR';
  }
}

/** After the commit: drop the keystore backup and the journal (a replaced certs dir stays, as .orig). */
export async function finishJournal(paths: HomePaths, journal: Journal): Promise<void> {
  const derived = journalPaths(paths, journal.id);
  await rm(derived.keystoreBackup, { force: true });
  await rm(derived.tempCerts, { recursive: true, force: true });
  await rm(derived.journal, { force: true });
  await syncDirectory(paths.configDir);
}

/** Undo every step the journal may have reached, newest first, then drop the journal. */
export async function rollBackJournal(paths: HomePaths, journal: Journal): Promise<void> {
  const derived = journalPaths(paths, journal.id);
  if (await exists(derived.certsBackup)) {
    await rm(paths.certsDir, { recursive: true, force: true });
    await rename(derived.certsBackup, paths.certsDir);
  } else if (!journal.certsExisted) {
    await rm(paths.certsDir, { recursive: true, force: true });
  }
  if (journal.keystoreExisted) {
    // The keystore is rewritten only once its backup is complete, so no backup means it was not touched.
    if (await exists(derived.keystoreBackup)) await rename(derived.keystoreBackup, paths.keystoreFile);
  } else {
    await rm(paths.keystoreFile, { force: true });
  }
  await rm(derived.tempCerts, { recursive: true, force: true });
  await rm(derived.journal, { force: true });
  await syncDirectory(paths.configDir);
}

/** What recovery found: nothing to do, a committed run to finish, or an unfinished one undone. */
export type Recovery = 'none' | 'completed' | 'rolled-back';

/**
 * Recover from a crash: an unfinished journal is finished when securenode.yml
 * already holds the block (the commit happened), and undone otherwise. Leftover
 * temporary files of interrupted atomic writes and probes are removed too.
 */
export async function recoverJournal(paths: HomePaths): Promise<Recovery> {
  await removeLeftovers(paths.configDir);
  const journal = await readJournal(paths);
  if (!journal) return 'none';
  const text = await readFile(paths.configFile, 'utf8').catch(() => '');
  if (hasConfigBlock(text)) {
    await finishJournal(paths, journal);
    return 'completed';
  }
  await rollBackJournal(paths, journal);
  return 'rolled-back';
}

async function removeLeftovers(configDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(configDir);
  } catch {
    return;
  }
  const leftovers = names.filter((name) => isLeftover(name) || name.startsWith('.autoconfig-probe-'));
  await Promise.all(leftovers.map((name) => rm(join(configDir, name), { recursive: true, force: true })));
}
