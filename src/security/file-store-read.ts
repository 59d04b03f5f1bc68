import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { noteWrites, storeShapeError, writtenShapeError } from './store-schema.js';
import type { Written } from './change-reads.js';
import { readLog, type LogEntry, type LogRead } from './store-log.js';
import { KeyOrders } from './key-order.js';
import { applyInPlace, type StoreRecord } from './store-ops.js';
import type { StoreData } from './store.js';

// Reading the embedded store from a data dir (FileStore.open): the base file, and the log of changes after it, each
// refused when damaged or of the wrong shape, never served half understood.

/** What a data dir holds: the base's path, the store with its log taken, the log as read, the base's size, and each record's key order. */
export interface StoreFiles {
  readonly path: string;
  readonly data: StoreData;
  readonly log: LogRead;
  readonly baseBytes: number;
  readonly keyOrders: KeyOrders;
}

/** Read the store of a data dir: the base file and the changes logged after it; a missing file is an empty store. */
export async function readStoreFiles(dataDir: string): Promise<StoreFiles> {
  const path = join(dataDir, 'security.json');
  // A program that opens the store beside a running node may read the base before a fold replaces it and the log
  // after: a log that no longer follows on (a refusal) or that lost lines the new base holds (changes missed). The
  // base is the same file before and after a read that saw both as they were; otherwise it is read again.
  for (let attempt = 1; ; attempt++) {
    const before = await identity(path);
    const read = await readOnce(dataDir, path).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (attempt < 5 && (await identity(path)) !== before) continue;
    if ('error' in read) throw read.error;
    return { path, ...read.value };
  }
}

/** The base and the changes logged after it, read once. */
async function readOnce(dataDir: string, path: string): Promise<Omit<StoreFiles, 'path'>> {
  const damaged = (reason: string) => new SecurenodeError('ERR_STORE_CORRUPT', `the security store ${path} is damaged (${reason}); restore it from a backup`);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecurenodeError('ERR_IO', `cannot read the security store ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  let parsed: unknown = { version: 1, users: {} };
  if (text !== undefined) {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw damaged('not JSON');
    }
  }
  // A store of the wrong shape is refused here, not served: a half-understood store could let the wrong caller in.
  // Its check lists each record's keys, which give the key order from the base on (KeyOrders, kept through the log).
  const listed = new Map<StoreRecord, readonly string[]>();
  const wrong = text === undefined ? undefined : storeShapeError(parsed, (record, keys) => listed.set(record, keys));
  if (wrong) throw damaged(wrong);
  const { seq = 0, ...data } = parsed as StoreData & { seq?: number };
  const keyOrders = new KeyOrders(data, listed);
  // Each change in the log is taken as it is read; what they wrote is checked once after the last (writtenShapeError).
  const written = new Map<string, Written>();
  const take = (entry: LogEntry): void => {
    try {
      for (const change of entry.ops) {
        noteWrites(written, change);
        applyInPlace(data, change);
        keyOrders.took(data, change);
      }
    } catch {
      throw damaged(`change ${entry.seq} in the log is not one this securenode can apply`);
    }
  };
  let log: LogRead;
  try {
    log = await readLog(join(dataDir, 'security.log'), seq, (reason) => damaged(reason), take);
  } catch (error) {
    if (error instanceof SecurenodeError) throw error;
    throw new SecurenodeError('ERR_IO', `cannot read the security store's log in ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  // The changes are checked as the base is: a log line of the wrong shape is refused, not served.
  const after = log.lastSeq > seq ? writtenShapeError(data, written.values()) : undefined;
  if (after) throw damaged(`after its log: ${after}`);
  return { data, log, baseBytes: text === undefined ? 0 : Buffer.byteLength(text), keyOrders };
}

/** Which file is at `path` (a rename puts another there), or '' when none is. */
async function identity(path: string): Promise<string> {
  const info = await lstat(path, { bigint: true }).catch(() => undefined);
  return info ? `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : '';
}
