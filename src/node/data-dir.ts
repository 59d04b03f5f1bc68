import { randomUUID } from 'node:crypto';
import { link, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { makeDirectory, removeLeftovers, writeFileAtomic } from '../io/atomic-write.js';

/** The lock file's name; preflight does not count it as node data. */
export const lockFileName = 'node.lock';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootId: Promise<string | undefined> | undefined;

/**
 * What tells a process from a later one given the same pid: the boot, and the process's start time in clock ticks
 * since then (Linux's /proc); undefined where neither can be read. A lock names its holder by pid and this, so that a
 * dead holder's pid, handed to another process since (common after a restart, where pids start over), is not taken
 * for the holder: the node would say forever that the home is busy.
 */
async function processStart(pid: number): Promise<string | undefined> {
  bootId ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((text) => text.trim(), () => undefined);
  const boot = await bootId;
  const stat = boot && (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined));
  // The fields after the command's name, which may itself hold spaces and parentheses; the start time is the 22nd field.
  const start = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return start && /^\d+$/.test(start) ? `${boot}:${start}` : undefined;
}

/** Whether a lock's holder is alive: its pid is, and it is the process that wrote the lock (when the lock says which). */
async function holderAlive(pid: number, recorded: string | undefined): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (recorded === undefined) return true;
  const start = await processStart(pid);
  // Unreadable (another user's process where /proc hides it): alive, as the pid alone says.
  return start === undefined || start === recorded;
}

/**
 * Take the home's lock, so that one node at a time uses it: a file that
 * appears with the pid of the process that holds it (written beside it, then
 * linked into place, which fails when a lock is there). A lock left by a
 * process that is gone (a crash, kill -9) is taken over. Created empty and
 * then written, a lock was seen empty by a second process in between, taken
 * for one whose holder had died, removed and taken again: two `certs rotate-ca`
 * run at once both started a rotation, each printing a CA of its own.
 * Returns the function that releases it.
 */
export async function acquireLock(dataDir: string, lock: { readonly name: string; readonly busy: (holder: number) => string } = { name: lockFileName, busy: (holder) => `another securenode process (pid ${holder}) is using the data dir ${dataDir}; stop it first, or give this node its own --home` }): Promise<() => Promise<void>> {
  await makeDirectory(dataDir, 0o750);
  const path = join(dataDir, lock.name);
  const next = lockNext(path);
  await rm(next, { force: true });
  // Not synced: after a crash the lock is a dead process's, whatever it holds.
  const start = await processStart(process.pid);
  await writeFile(next, `${process.pid}${start ? ` ${start}` : ''}\n`, { mode: 0o600, flag: 'wx' });
  try {
    // A stale lock, broken; then the lock itself, or its new holder; once more for a breaker that finished meanwhile.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(next, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const held = await readLock(path);
        if (!(await isStale(held))) throw new SecurenodeError('ERR_NODE_LOCKED', lock.busy(held.pid!));
        await breakStale(path, next, lock.busy);
        continue;
      }
      const release = () => rm(path, { force: true });
      await removeDeadBreakers(path).catch(async (error: unknown) => {
        await release();
        throw error;
      });
      return release;
    }
  } finally {
    await rm(next, { force: true });
  }
  throw new SecurenodeError('ERR_NODE_LOCKED', `could not take the lock ${path}; another process keeps creating it`);
}

/** Whether a lock as read names no live process but this one (its holder is gone: a crash, kill -9). */
const isStale = async (held: { pid?: number; start?: string }): Promise<boolean> => held.pid === undefined || held.pid === process.pid || !(await holderAlive(held.pid, held.start));

/** Breakers' locks beside the lock: `<lock>.0`, `<lock>.00`, ... (no process has pid 0, and preflight counts them as the lock's). */
const breakerSlots = 4;
const breakerLocks = (path: string): string[] => Array.from({ length: breakerSlots }, (_, index) => `${path}.${'0'.repeat(index + 1)}`);

/**
 * Remove a lock whose holder is gone, one process at a time: under a breaker's lock of its own beside it (linked from
 * this process's next lock), the lock is read again and removed only while a file is there that still names no live
 * process. Checked by its inode instead, two processes that both found it stale each removed it: the second removed the
 * lock the first had just taken (a new file may get the inode the removed one had), and both held it.
 *
 * A breaker killed while breaking (kill -9 within these few calls) leaves its lock. That one is never removed here: two
 * processes that both read it as dead would both remove it, and the second might remove the lock the first had just
 * taken in its place, so that both break at once. Every process passes over a dead breaker's lock to the next one, in
 * the same order, so one at a time still breaks; the process that then holds the lock removes what dead breakers left.
 */
async function breakStale(path: string, next: string, busy: (holder: number) => string): Promise<void> {
  for (const breaker of breakerLocks(path)) {
    try {
      await link(next, breaker);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const other = await readLock(breaker);
      // Gone meanwhile: its breaker has just broken the lock; take it, or find its new holder, from the start.
      if (other.ino === undefined) return;
      if (!(await isStale(other))) throw new SecurenodeError('ERR_NODE_LOCKED', busy(other.pid!));
      continue;
    }
    try {
      // While this process breaks, no other removes the lock; a stale one stays until removed here, a live one is kept.
      const held = await readLock(path);
      if (held.ino !== undefined && (await isStale(held))) await rm(path, { force: true });
    } finally {
      await rm(breaker, { force: true });
    }
    return;
  }
  throw new SecurenodeError('ERR_NODE_LOCKED', `the lock ${path} names no live process, and ${breakerSlots} processes were killed while breaking it; when no securenode process uses this home, remove ${path} and ${path}.0*`);
}

/** What breakers killed while breaking left, removed by the process that now holds the lock (so no breaker is at work). */
async function removeDeadBreakers(path: string): Promise<void> {
  for (const breaker of breakerLocks(path)) {
    const left = await readLock(breaker);
    if (left.ino !== undefined && left.pid !== process.pid && (await isStale(left))) await rm(breaker, { force: true });
  }
}

/** Where a process writes the lock it is about to take: beside it, named by its pid. */
const lockNext = (path: string): string => `${path}.${process.pid}`;

/** Whether a file in a data dir is its lock, or one about to be taken. */
export function isLockFile(name: string): boolean {
  return name === lockFileName || (name.startsWith(`${lockFileName}.`) && /^\d+$/.test(name.slice(lockFileName.length + 1)));
}

/** The pid a lock names (and its holder's start, when it says), and which file it is; neither when it is gone or does not name one. */
async function readLock(path: string): Promise<{ pid?: number; start?: string; ino?: number }> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return {};
  try {
    // `<pid>` (as written before the start was) or `<pid> <boot>:<start>`.
    const [pidText, start] = (await handle.readFile('utf8')).trim().split(' ');
    const pid = Number.parseInt(pidText!, 10);
    const { ino } = await handle.stat();
    if (!Number.isInteger(pid) || pid <= 0) return { ino };
    return start === undefined ? { pid, ino } : { pid, start, ino };
  } finally {
    await handle.close();
  }
}

/** The node's identity and its cluster's, kept in the data dir. */
export interface NodeIdentity {
  readonly nodeId: string;
  readonly clusterUuid: string;
  /** False on a node that joined a cluster: the node that created it holds the security store. Absent: true. */
  readonly holdsStore?: boolean;
}

/** Read the node id and cluster uuid, creating them on the first start (with the joined cluster's uuid, when there is one). */
export async function loadIdentity(dataDir: string, clusterUuid?: string): Promise<NodeIdentity> {
  const path = join(dataDir, 'node.json');
  try {
    const identity = JSON.parse(await readFile(path, 'utf8')) as NodeIdentity;
    if (typeof identity.nodeId === 'string' && typeof identity.clusterUuid === 'string') return identity;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SecurenodeError('ERR_STORE_CORRUPT', `the node identity file ${path} is damaged; restore it from a backup`);
    }
  }
  const identity: NodeIdentity = { nodeId: randomUUID(), clusterUuid: clusterUuid ?? randomUUID(), holdsStore: clusterUuid === undefined };
  await writeFileAtomic(path, `${JSON.stringify(identity)}\n`, 0o600);
  return identity;
}

/** The identity of a node that has started, or undefined (no node.json, or a damaged one). */
export async function readIdentity(dataDir: string): Promise<NodeIdentity | undefined> {
  return readFile(join(dataDir, 'node.json'), 'utf8').then((text) => JSON.parse(text) as NodeIdentity, () => undefined);
}

/** Whether the node of this data dir joined a cluster, so that the cluster's first node holds its security store. */
export async function joinedCluster(dataDir: string): Promise<boolean> {
  return (await readIdentity(dataDir))?.holdsStore === false;
}

/** Where a running node listens, for the companion tools (removed when it stops). */
export interface NodeAddress {
  readonly pid: number;
  /** Which process had the pid, as a lock names its holder (see processStart); absent where it cannot be read. */
  readonly start?: string;
  readonly httpPort: number;
}

const addressFile = (dataDir: string): string => join(dataDir, 'node.address.json');

export async function writeNodeAddress(dataDir: string, httpPort: number): Promise<void> {
  await writeFileAtomic(addressFile(dataDir), `${JSON.stringify({ pid: process.pid, start: await processStart(process.pid), httpPort })}\n`, 0o640);
}

export async function removeNodeAddress(dataDir: string): Promise<void> {
  await rm(addressFile(dataDir), { force: true });
}

/** The pid that holds the home's lock, when that process is alive; else undefined. */
export async function lockHolder(dataDir: string, name = lockFileName): Promise<number | undefined> {
  const held = await readLock(join(dataDir, name));
  return held.pid !== undefined && (await holderAlive(held.pid, held.start)) ? held.pid : undefined;
}

/**
 * The lock of the certificate files: one renewal or rotation step at a time,
 * from the tools and the node's own renewal alike, so that none writes
 * http.p12 from a copy another has just replaced (a rotation's new CA lost to
 * a renewal, two rotations each printing a CA of their own).
 */
export async function withCertsLock<T>(certsDir: string, work: () => Promise<T>): Promise<T> {
  const release = await acquireLock(certsDir, { name: '.certs.lock', busy: (holder) => `another securenode process (pid ${holder}) is changing the certificates in ${certsDir}; wait for it to finish, then run this again` });
  try {
    // What a change killed midway left (a temporary copy of a .p12, keys and all): no one else writes here while the lock is held.
    await removeLeftovers(certsDir);
    return await work();
  } finally {
    await release();
  }
}

/** The address a running node recorded, if the node that recorded it is still alive (not only its pid, given to another since). */
export async function readNodeAddress(dataDir: string): Promise<NodeAddress | undefined> {
  try {
    const address = JSON.parse(await readFile(addressFile(dataDir), 'utf8')) as NodeAddress;
    return (await holderAlive(address.pid, typeof address.start === 'string' ? address.start : undefined)) ? address : undefined;
  } catch {
    return undefined;
  }
}
