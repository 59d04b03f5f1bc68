import { readFile } from 'node:fs/promises';
import { homePaths } from '../../src/home/layout.js';
import { writeFileAtomic } from '../../src/io/atomic-write.js';

/** Add users u1..uN, every one with the same `hash`, to the file store of the stopped node at `home`. */
export async function fillFileStore(home: string, users: number, hash: string): Promise<void> {
  const path = `${homePaths(home).dataDir}/security.json`;
  const store = JSON.parse(await readFile(path, 'utf8')) as { users: Record<string, unknown> };
  for (let index = 1; index <= users; index++) store.users[`u${index}`] = { username: `u${index}`, id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, passwordHash: hash, roles: ['read-only'], enabled: true };
  await writeFileAtomic(path, JSON.stringify(store), 0o600);
}
