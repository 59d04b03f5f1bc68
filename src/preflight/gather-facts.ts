import { constants } from 'node:fs';
import { access, lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { HomePaths } from '../home/layout.js';
import { isLockFile } from '../node/data-dir.js';
import type { Keystore } from '../keystore/keystore.js';
import { tlsPasswordSettings } from '../pki/tls-material.js';
import type { Settings } from '../settings/settings.js';
import type { ConfigDirProbe, FileKind, PreflightFacts } from './checks.js';

async function fileKind(path: string): Promise<FileKind> {
  try {
    return (await lstat(path)).isFile() ? 'regular' : 'other';
  } catch {
    return 'missing';
  }
}

async function isReadable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** A data dir holding only the node's lock is still empty: the lock is taken before preflight runs (and another process may be about to). */
async function isNonEmptyDirectory(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).some((name) => !isLockFile(name));
  } catch {
    return false;
  }
}

/** Read-only facts for checks 1 to 10 (and 4's keystore file). */
export async function gatherFileFacts(paths: HomePaths, settings: Settings): Promise<PreflightFacts> {
  return {
    ...((await isNonEmptyDirectory(paths.dataDir)) ? { nonEmptyDataPath: paths.dataDir } : {}),
    configFile: { path: paths.configFile, kind: await fileKind(paths.configFile), readable: await isReadable(paths.configFile) },
    keystore: { path: paths.keystoreFile, kind: await fileKind(paths.keystoreFile), readable: await isReadable(paths.keystoreFile) },
    settings,
  };
}

/**
 * Check 11's probe: make (and remove) a directory in the config dir, as the
 * certificates will be, and see who owns it. The only write preflight makes.
 */
export async function probeConfigDir(configDir: string): Promise<ConfigDirProbe> {
  let probe: string;
  try {
    probe = await mkdtemp(join(configDir, '.autoconfig-probe-'));
  } catch (error) {
    return { kind: 'failed', configDir, reason: `could not create a directory in it (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  try {
    const [dir, created] = await Promise.all([stat(configDir), stat(probe)]);
    return { kind: 'created', configDir, dirOwner: dir.uid, newOwner: created.uid };
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/** Check 12's fact: which TLS password settings the keystore already holds. */
export function keystoreTlsPasswords(keystore: Keystore | undefined): string[] {
  if (!keystore) return [];
  return Object.values(tlsPasswordSettings).filter((name) => keystore.has(name));
}
