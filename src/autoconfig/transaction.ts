import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { HomePaths } from '../home/layout.js';
import { makeDirectory, syncDirectory, writeFileAtomic } from '../io/atomic-write.js';
import type { Keystore } from '../keystore/keystore.js';
import { finishJournal, journalPaths, rollBackJournal, writeJournal, type Journal } from './journal.js';

/** A file of the certs dir. */
export interface CertsFile {
  readonly name: string;
  readonly data: string | Uint8Array;
  readonly mode: number;
}

/** Everything one auto-configuration writes. */
export interface ConfigurationChange {
  readonly certs: readonly CertsFile[];
  readonly keystore: Keystore;
  readonly keystorePassword: string;
  readonly keystoreMode: number;
  /** The whole new securenode.yml (the user's text with the block appended). */
  readonly configText: string;
}

/** The steps, in order; tests stop a run after any of them. */
export const transactionSteps = ['journal', 'certs-built', 'keystore-backed-up', 'keystore-written', 'certs-moved', 'config-written'] as const;
export type TransactionStep = (typeof transactionSteps)[number];

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Apply a configuration change as one transaction (SPEC 4): journal, certs built
 * in a temporary dir, keystore backed up then written, certs moved in,
 * securenode.yml written last. A failure undoes every step; a crash leaves the
 * journal for recoverJournal at the next start.
 */
export async function applyConfiguration(
  paths: HomePaths,
  change: ConfigurationChange,
  afterStep: (step: TransactionStep) => Promise<void> = async () => {},
): Promise<void> {
  const journal: Journal = {
    version: 1,
    id: String(Date.now()),
    keystoreExisted: await pathExists(paths.keystoreFile),
    certsExisted: await pathExists(paths.certsDir),
  };
  const derived = journalPaths(paths, journal.id);
  const configMode = (await stat(paths.configFile)).mode & 0o777;
  await writeJournal(paths, journal);
  try {
    await afterStep('journal');
    await makeDirectory(derived.tempCerts, 0o750);
    for (const file of change.certs) await writeFileAtomic(join(derived.tempCerts, file.name), file.data, file.mode);
    await afterStep('certs-built');
    if (journal.keystoreExisted) await writeFileAtomic(derived.keystoreBackup, await readFile(paths.keystoreFile), 0o600);
    await afterStep('keystore-backed-up');
    await change.keystore.save(paths.keystoreFile, change.keystorePassword, change.keystoreMode);
    await afterStep('keystore-written');
    if (journal.certsExisted) await rename(paths.certsDir, derived.certsBackup);
    await rename(derived.tempCerts, paths.certsDir);
    await syncDirectory(paths.configDir);
    await afterStep('certs-moved');
    await writeFileAtomic(paths.configFile, change.configText, configMode);
    await afterStep('config-written');
  } catch (error) {
    if (!(await committed(paths, change.configText))) {
      await rollBackJournal(paths, journal);
      throw error;
    }
  }
  await finishJournal(paths, journal);
}

async function committed(paths: HomePaths, configText: string): Promise<boolean> {
  return (await readFile(paths.configFile, 'utf8').catch(() => '')) === configText;
}
