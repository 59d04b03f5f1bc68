import { constants } from 'node:fs';
import { lstat, open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from '../io/atomic-write.js';
import type { StoreOp } from './store.js';

/** One committed change in the file store's log: its number, and its changes in the store's own terms. */
export interface LogEntry {
  readonly seq: number;
  readonly ops: readonly StoreOp[];
}

/** What reading a log found: the number of its last change, and where its last whole line ends. */
export interface LogRead {
  readonly lastSeq: number;
  /** Bytes up to the end of the last whole line: a torn line after it (a crash while appending) is cut off before the next append. */
  readonly goodBytes: number;
  readonly totalBytes: number;
}

/**
 * The log is read in pieces of this many bytes, each line handed over as it is parsed. Read whole (its text, its lines,
 * then every entry parsed before the first was taken), 12.8 MB of log (51,000 changes) raised a node's RSS at rest by
 * 68 MB at 100,000 users, and it stayed there: the heap V8 grew for it was never given back.
 */
const logPieceBytes = 1024 * 1024;

const newline = 0x0a;

/**
 * Read the log beside the base file, each line one committed change, and hand
 * each change after the base's `seq` to `take` in order. A last line without
 * its newline was never acknowledged (the append had not returned) and is
 * ignored; any other line that is not an entry, or a gap in the numbers,
 * means changes were lost, and is refused (`damaged` says why). Node's line
 * readers (readline, `FileHandle.readLines`) say neither where a line ends in
 * bytes nor whether the last one had its newline, which is what a torn line is.
 */
export async function readLog(path: string, baseSeq: number, damaged: (reason: string) => Error, take: (entry: LogEntry) => void, pieceBytes = logPieceBytes): Promise<LogRead> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lastSeq: baseSeq, goodBytes: 0, totalBytes: 0 };
    throw error;
  }
  let expected = baseSeq + 1;
  let line = 0;
  let goodBytes = 0;
  let totalBytes = 0;
  // The start of a line that the next piece ends (copied: the piece's buffer is read into again).
  let partial: Buffer[] = [];
  const takeLine = (bytes: Buffer): void => {
    line++;
    let entry: LogEntry;
    try {
      entry = JSON.parse(bytes.toString('utf8')) as LogEntry;
    } catch {
      throw damaged(`line ${line} of the log is not JSON`);
    }
    if (!Number.isSafeInteger(entry?.seq) || !Array.isArray(entry.ops)) throw damaged(`line ${line} of the log is not a change`);
    // Changes already in the base (a crash after compacting, before the log was cut) are skipped.
    if (entry.seq <= baseSeq) return;
    if (entry.seq !== expected) throw damaged(`the log jumps from change ${expected - 1} to ${entry.seq} at line ${line}`);
    take(entry);
    expected++;
  };
  try {
    const buffer = Buffer.allocUnsafe(pieceBytes);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, pieceBytes, null);
      if (bytesRead === 0) break;
      const piece = buffer.subarray(0, bytesRead);
      let start = 0;
      for (let end = piece.indexOf(newline); end !== -1; end = piece.indexOf(newline, start)) {
        takeLine(partial.length === 0 ? piece.subarray(start, end) : Buffer.concat([...partial, piece.subarray(start, end)]));
        partial = [];
        goodBytes = totalBytes + end + 1;
        start = end + 1;
      }
      if (start < bytesRead) partial.push(Buffer.from(piece.subarray(start)));
      totalBytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { lastSeq: expected - 1, goodBytes, totalBytes };
}

/**
 * The log's end, where changes are appended: opened at a change and kept open
 * while changes keep coming, so that a change costs one write, not also a
 * lookup, an open and a close (8 clients on one node, 1,000 users: 370-515
 * changes a second before, 590-1,200 after; CPU per change 1.4-2.2 ms before,
 * 0.7-1.4 after). It is opened with O_DSYNC, so that a write returns once its
 * lines are on the disk: one trip to the thread pool instead of a write and
 * then an fsync (the holder of a cluster's file store, 100,000 users, clients
 * on the other node, unheld, 9 rounds of 3 s alternating: 0.171 ms of CPU for
 * each change it took before, 0.158 after). A new
 * log file gets `mode`, and under root the owner of the base file, so that the
 * node's user can append to it. Cutting the log (`cutLog`, by path) keeps the
 * file: later appends go to its new end (O_APPEND). The file is let go
 * `idleMs` (2 s) after the last change, and by `close`, so that a store nobody
 * closes holds no descriptor for long and none is left for the garbage
 * collector to close.
 */
export class LogAppender {
  readonly #path: string;
  readonly #mode: number;
  readonly #ownerOf: string;
  #handle: FileHandle | undefined;
  #idle: NodeJS.Timeout | undefined;
  #busy = false;
  readonly #idleMs: number;

  constructor(path: string, mode: number, ownerOf: string, idleMs = 2_000) {
    this.#path = path;
    this.#mode = mode;
    this.#ownerOf = ownerOf;
    this.#idleMs = idleMs;
  }

  /** Append entries durably, a line each, in one write (O_DSYNC); the bytes appended. After a failure the file is opened again at the next append. */
  async append(entries: readonly LogEntry[]): Promise<number> {
    this.#busy = true;
    try {
      this.#handle ??= await this.#open();
      const lines = Buffer.from(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      // Durable when written (O_DSYNC): one trip to the thread pool, not a write and then an fsync. A short write (a
      // disk that fills meanwhile) goes on from where it stopped, or fails, and its part is then a torn line.
      for (let written = 0; written < lines.length; ) written += (await this.#handle.write(lines, written)).bytesWritten;
      return lines.length;
    } catch (error) {
      await this.close();
      throw error;
    } finally {
      this.#busy = false;
      if (this.#handle) (this.#idle ??= setTimeout(() => this.#closeIdle(), this.#idleMs).unref()).refresh();
    }
  }

  /** Let the file go (the store closes); a later append opens it again. */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  #closeIdle(): void {
    this.#idle = undefined;
    // An append under way (a disk slower than the wait) arms the wait again when it ends.
    if (!this.#busy) void this.close();
  }

  async #open(): Promise<FileHandle> {
    const created = !(await lstat(this.#path).then(() => true, () => false));
    const handle = await open(this.#path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, this.#mode);
    try {
      if (created) {
        await handle.chmod(this.#mode);
        if (process.geteuid?.() === 0) {
          const owner = await stat(this.#ownerOf).catch(() => stat(dirname(this.#path)));
          if (owner.uid !== 0) await handle.chown(owner.uid, owner.gid);
        }
        await syncDirectory(dirname(this.#path));
      }
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }
}

/** The log's bytes from `start` up to `end`: the lines a fold keeps. */
export async function readLogBytes(path: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.alloc(end - start);
    for (let read = 0; read < bytes.length; ) {
      const { bytesRead } = await handle.read(bytes, read, bytes.length - read, start + read);
      if (bytesRead === 0) throw new Error(`the log ${path} ends before byte ${end}`);
      read += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

/** Cut the log back to `bytes` (a torn last line), or empty it after compacting. */
export async function cutLog(path: string, bytes: number): Promise<void> {
  await truncate(path, bytes).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
