import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';

/**
 * The first start's banner window: between storing the elastic user's
 * generated password and showing it, a kill -9 would leave a password nobody
 * saw. A marker in the data dir spans that window; it names the stored hash
 * by its SHA-256 (no secret), so that a start that finds it can tell whether
 * the password was changed since.
 */
const markerFile = (dataDir: string): string => join(dataDir, 'elastic-password.unseen');
const fingerprint = (passwordHash: string): string => createHash('sha256').update(passwordHash).digest('hex');

/** Before the password is stored: mark it unseen. */
export async function markPasswordUnseen(dataDir: string, passwordHash: string): Promise<void> {
  await writeFileAtomic(markerFile(dataDir), `${JSON.stringify({ sha256: fingerprint(passwordHash) })}\n`, 0o600);
}

/** Once the banner was written: the password was seen. */
export async function markPasswordSeen(dataDir: string): Promise<void> {
  await rm(markerFile(dataDir), { force: true });
}

/** Whether the stored password is still one an interrupted first start never showed; a changed one clears the marker. */
export async function isPasswordUnseen(dataDir: string, passwordHash: string | undefined): Promise<boolean> {
  let marked: unknown;
  try {
    marked = (JSON.parse(await readFile(markerFile(dataDir), 'utf8')) as { sha256?: unknown }).sha256;
  } catch {
    return false;
  }
  if (passwordHash !== undefined && marked === fingerprint(passwordHash)) return true;
  await markPasswordSeen(dataDir);
  return false;
}
