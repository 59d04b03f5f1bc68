import { lstat, open, readFile, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from '../io/atomic-write.js';
import type { StoreOp } from './store.js';

/** One committed change in the file store's log: its number, and its changes in the store's own terms. */
export interface LogEntry {
  readonly seq: number;
  readonly ops: readonly StoreOp[];
}

/** What a log holds after the base's `seq`, and where its last whole line ends. */
export interface LogRead {
  readonly entries: readonly LogEntry[];
  /** Bytes up to the end of the last whole line: a torn line after it (a crash while appending) is cut off before the next append. */
  readonly goodBytes: number;
  readonly totalBytes: number;
}

/**
 * Read the log beside the base file: each line is one committed change. A
 * last line without its newline was never acknowledged (the append had not
 * returned) and is ignored; any other line that is not an entry, or a gap in
 * the numbers, means changes were lost, and is refused (`damaged` says why).
 */
export async function readLog(path: string, baseSeq: number, damaged: (reason: string) => Error): Promise<LogRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], goodBytes: 0, totalBytes: 0 };
    throw error;
  }
  const end = text.lastIndexOf('\n') + 1;
  const entries: LogEntry[] = [];
  let expected = baseSeq + 1;
  let line = 0;
  for (const raw of text.slice(0, end).split('\n').slice(0, -1)) {
    line++;
    let entry: LogEntry;
    try {
      entry = JSON.parse(raw) as LogEntry;
    } catch {
      throw damaged(`line ${line} of the log is not JSON`);
    }
    if (!Number.isSafeInteger(entry?.seq) || !Array.isArray(entry.ops)) throw damaged(`line ${line} of the log is not a change`);
    // Changes already in the base (a crash after compacting, before the log was cut) are skipped.
    if (entry.seq <= baseSeq) continue;
    if (entry.seq !== expected) throw damaged(`the log jumps from change ${expected - 1} to ${entry.seq} at line ${line}`);
    entries.push(entry);
    expected++;
  }
  return { entries, goodBytes: Buffer.byteLength(text.slice(0, end)), totalBytes: Buffer.byteLength(text) };
}

/**
 * Append one entry durably: written with its newline in one call, then
 * fsynced before the change is taken. A new log file gets `mode`, and under
 * root the owner of the base file, so that the node's user can append to it.
 */
export async function appendLog(path: string, entry: LogEntry, mode: number, ownerOf: string): Promise<number> {
  const created = !(await lstat(path).then(() => true, () => false));
  const handle = await open(path, 'a', mode);
  try {
    if (created) {
      await handle.chmod(mode);
      if (process.geteuid?.() === 0) {
        const owner = await stat(ownerOf).catch(() => stat(dirname(path)));
        if (owner.uid !== 0) await handle.chown(owner.uid, owner.gid);
      }
    }
    const line = `${JSON.stringify(entry)}\n`;
    await handle.appendFile(line);
    await handle.sync();
    return Buffer.byteLength(line);
  } finally {
    await handle.close();
    if (created) await syncDirectory(dirname(path));
  }
}

/** Cut the log back to `bytes` (a torn last line), or empty it after compacting. */
export async function cutLog(path: string, bytes: number): Promise<void> {
  await truncate(path, bytes).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
