import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Whether anything (a symbolic link included, dangling or not) is at `path`. */
export function pathExists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

/**
 * The owner a file written by root keeps: a tool run as root (sudo, a
 * container's shell) on a home that belongs to the node's user must leave the
 * file that user's, or the node can no longer read it. The replaced file's
 * owner (lstat: a planted link lends no owner), else the directory's.
 */
async function ownerToKeep(path: string, dir: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.geteuid?.() !== 0) return undefined;
  const info = await lstat(path).catch(() => stat(dir));
  return info.uid === 0 ? undefined : { uid: info.uid, gid: info.gid };
}

/**
 * Write a file so that a reader (or a crash) only ever sees the old or the new
 * content: write a temporary file beside it, fsync, set the mode, rename, fsync
 * the directory. The mode is set with chmod, so the umask never decides it.
 * `data` may come in pieces, written one after another, so that a large file
 * is never one string in memory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<string>, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const owner = await ownerToKeep(path, dir);
  const handle = await open(temp, 'wx', mode);
  try {
    if (owner) await handle.chown(owner.uid, owner.gid);
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else await writePieces(handle, data);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/**
 * A large file's pieces go to the disk as they are written, each 4 MiB or so: flushed once at the end, the 29 MB base of
 * a store of 100,000 users held the disk for the log's appends (durable when written) as the write ended, and a
 * change made then waited 30-50 ms; flushed as it went, 17 ms at most (by hand, two runs each).
 */
const flushEveryChars = 4 * 1024 * 1024;

async function writePieces(handle: FileHandle, pieces: Iterable<string>): Promise<void> {
  let unflushed = 0;
  for (const piece of pieces) {
    await handle.writeFile(piece);
    unflushed += piece.length;
    if (unflushed >= flushEveryChars) {
      unflushed = 0;
      await handle.datasync();
    }
  }
}

/** Whether a file name is one of writeFileAtomic's temporary files (`.NAME.<12 hex digits>.tmp`, of `file` when given). */
export function isLeftover(name: string, file?: string): boolean {
  return /^\..+\.[0-9a-f]{12}\.tmp$/.test(name) && (file === undefined || name.slice(1, -'.0123456789ab.tmp'.length) === file);
}

/**
 * Remove what writes killed midway left in `dir` (of `file` only, when given):
 * a copy of the file as it was being written, secrets and all. Only where no
 * other process writes meanwhile, under the lock that ensures it.
 */
export async function removeLeftovers(dir: string, file?: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => isLeftover(name, file)).map((name) => rm(join(dir, name), { force: true })));
}

/** Flush a directory's entries (a rename is durable only once its directory is). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Create a directory (and its parents) and give it exactly this mode. */
export async function makeDirectory(path: string, mode: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await chmod(path, mode);
}

/**
 * Create a new file, never over an existing one (O_EXCL), with exactly this mode,
 * and flush it: for files that must not clobber what an operator already has.
 */
export async function writeNewFile(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
