import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { noteWrites, storeShapeError, writtenShapeError } from './store-schema.js';
import type { Written } from './change-reads.js';
import { cutLog, LogAppender, readLog, type LogEntry, type LogRead } from './store-log.js';
import { applyAll, applyInPlace } from './store-ops.js';
import { batchMax, groupWaiting, Turns, turnWaitMs, workOutEarly, type Waiting } from './group-commit.js';
import { SecurityStore, type Mutation, type StoreData, type StoreOp } from './store.js';

export { applyStoreOp, SecurityStore, type Mutation, type StoreData, type StoredRole, type StoredUser, type StoreOp } from './store.js';

/** Below this size the base file is rewritten whole on each change (one readable file); above it, changes go to the log. */
const rewriteBelow = 64 * 1024;

/**
 * The embedded security store: one JSON file in the data dir, mode 0600,
 * written atomically, and beside it, once the store passes 64 KiB, a log of
 * changes (`security.log`, one line per change, durable when written), so that a change
 * costs its own size and not the store's. The log is folded into the base
 * when it grows past the base's size. On a node that joined a cluster, the
 * store is a replica of the one the cluster's first node holds: `useRemote`
 * sends every change there, and `install` and `take` take what comes back.
 */
export class FileStore extends SecurityStore {
  readonly path: string;
  readonly logPath: string;
  #remote: (<T>(mutation: Mutation<T>) => Promise<T>) | undefined;
  #catchUp: (() => Promise<boolean>) | undefined;
  /** The number of the last change written, the base file's size, the log's size (its whole lines), and whether a torn line follows. */
  #seq: number;
  #baseBytes: number;
  #logBytes: number;
  #torn: boolean;
  readonly #rewriteBelow: number;
  readonly #log: LogAppender;
  /** The changes made while one is written go together in the next write (see commit); a turn that starts early (a disk slower than turnWaitMs) still waits its turn to write. */
  readonly #turns = new Turns((waiting) => this.exclusive(() => this.#commitTurn(waiting)), () => {}, turnWaitMs, batchMax);

  private constructor(path: string, data: StoreData, log: { seq: number; baseBytes: number; logBytes: number; torn: boolean }, rewriteBelowBytes: number, logIdleMs?: number) {
    super();
    this.path = path;
    this.logPath = join(dirname(path), 'security.log');
    this.#log = new LogAppender(this.logPath, 0o600, path, logIdleMs);
    this.install(data);
    this.#seq = log.seq;
    this.#baseBytes = log.baseBytes;
    this.#logBytes = log.logBytes;
    this.#torn = log.torn;
    this.#rewriteBelow = rewriteBelowBytes;
  }

  /** Open the store of a data dir: the base file and the changes logged after it; a missing file is an empty store. */
  static async open(dataDir: string, options: { rewriteBelow?: number; logIdleMs?: number } = {}): Promise<FileStore> {
    const path = join(dataDir, 'security.json');
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
    const wrong = text === undefined ? undefined : storeShapeError(parsed);
    if (wrong) throw damaged(wrong);
    const { seq = 0, ...data } = parsed as StoreData & { seq?: number };
    // Each change in the log is taken as it is read; what they wrote is checked once after the last (writtenShapeError).
    const written = new Map<string, Written>();
    const take = (entry: LogEntry): void => {
      try {
        for (const change of entry.ops) {
          noteWrites(written, change);
          applyInPlace(data, change);
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
    return new FileStore(path, data, { seq: log.lastSeq, baseBytes: text === undefined ? 0 : Buffer.byteLength(text), logBytes: log.goodBytes, torn: log.totalBytes > log.goodBytes }, options.rewriteBelow ?? rewriteBelow, options.logIdleMs);
  }

  /** Close the log once the changes under way are written; a change after this opens it again. */
  override close(): Promise<void> {
    return this.exclusive(() => this.#log.close());
  }

  /** Send every change to `remote` instead of writing here: this node does not hold the store. */
  useRemote(remote: <T>(mutation: Mutation<T>) => Promise<T>, catchUp: () => Promise<boolean>): void {
    this.#remote = remote;
    this.#catchUp = catchUp;
  }

  /** A replica asks the holder whether it has missed a change; the holder's own file is always current. */
  override catchUp(): Promise<boolean> {
    return this.#catchUp?.() ?? Promise.resolve(false);
  }

  /** Take changes the holder made (a replica), in place. */
  takeRemote(ops: readonly StoreOp[]): void {
    this.take(ops);
  }

  /**
   * One write at a time, and the changes made while one is written go together in the next (a group commit): one
   * durable append for all of them, each still a line and a number of its own. Those worked out from the store as
   * it is without meeting what an earlier one writes go together; the others (a refusal, a change with nothing to do,
   * one that reads or writes what an earlier one writes, a change after a role change) each after them, worked out
   * again from the store with them taken, as one at a time would.
   */
  protected commit<T>(mutation: Mutation<T>): Promise<T> {
    if (this.#remote) return this.#remote(mutation);
    return this.#turns.add(mutation);
  }

  async #commitTurn(waiting: readonly Waiting[]): Promise<void> {
    const { together, alone } = groupWaiting(waiting, (mutation) => workOutEarly(this.snapshot(), String(this.#seq), mutation));
    if (together.length > 0) {
      try {
        await this.#write(together.map((change) => change.early!.outcome.ops));
        for (const change of together) change.resolve(change.early!.outcome.result);
      } catch (error) {
        for (const change of together) change.reject(error);
      }
    }
    for (const change of alone) {
      try {
        const { ops, result } = change.mutation(this.snapshot());
        if (ops.length > 0) await this.#write([ops]);
        change.resolve(result);
      } catch (error) {
        change.reject(error);
      }
    }
  }

  /** Write `changes` durably, numbered one after another, then take each in order; none is taken when the disk refused them. */
  async #write(changes: readonly (readonly StoreOp[])[]): Promise<void> {
    const first = this.#seq + 1;
    const last = this.#seq + changes.length;
    if (this.#baseBytes < this.#rewriteBelow && this.#logBytes === 0) {
      // Small: the whole store, one readable file, as before the log existed; one string, a quarter of the pieces' cost.
      await this.#writeBase(applyAll(this.snapshot(), changes.flat()), last, true).catch((error: unknown) => refused('file', this.path, error));
    } else {
      if (this.#torn) {
        await cutLog(this.logPath, this.#logBytes).catch((error: unknown) => refused('log', this.logPath, error));
        this.#torn = false;
      }
      try {
        this.#logBytes += await this.#log.append(changes.map((ops, index) => ({ seq: first + index, ops })));
      } catch (error) {
        // Part of the lines may be on disk (a disk that filled midway), or all of them unsynced: the log is cut back to its
        // whole lines before the next change, which would otherwise follow the fragment on the same line (a log that no
        // longer opens) or repeat its numbers.
        this.#torn = true;
        refused('log', this.logPath, error);
      }
    }
    this.#seq = last;
    for (const ops of changes) this.take(ops, true);
    // The log folded into the base once it outgrows it: each byte is rewritten at most about twice.
    // A failed fold changes nothing (the write is atomic, the log stays whole) and is tried again at the next change.
    if (this.#logBytes > Math.max(this.#baseBytes, this.#rewriteBelow)) await this.#writeBase(this.snapshot(), last).catch(() => {});
  }

  /**
   * Write the base at `seq` atomically, in pieces (a small store as one string); the log's lines up to it are then spent. Run where changes
   * are serialized, so the store does not change while its pieces are written (reads go on meanwhile).
   */
  async #writeBase(data: StoreData, seq: number, small = false): Promise<void> {
    let bytes = 0;
    const pieces = function* () {
      for (const piece of small ? [`${JSON.stringify({ ...data, seq }, null, 2)}\n`] : storeText({ ...data, seq })) {
        bytes += Buffer.byteLength(piece);
        yield piece;
      }
    };
    await writeFileAtomic(this.path, pieces(), 0o600);
    this.#baseBytes = bytes;
    if (this.#logBytes > 0 || this.#torn) {
      await cutLog(this.logPath, 0);
      this.#logBytes = 0;
      this.#torn = false;
    }
  }
}

/** A change the disk did not take: which file and why (a full disk, a size limit, an I/O error), never the change. */
function refused(which: 'file' | 'log', path: string, error: unknown): never {
  if (error instanceof SecurenodeError) throw error;
  throw new SecurenodeError('ERR_IO', `cannot write the security store's ${which} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; the change was not made`, { cause: error });
}

/** The base file goes to disk in pieces of about this many characters. */
const pieceChars = 64 * 1024;

/**
 * The base file's text, exactly `JSON.stringify(data, null, 2)` and a newline,
 * in pieces of about 64 KiB: each object at the top (a record) is written entry
 * by entry, so that the store is never one string. Folding the log of a store
 * of 100,000 users into its base as one string (29 MB) raised the RSS by 120 MB
 * and held the event loop up to 79 ms at once; in pieces, 43 MB and 34 ms.
 */
export function* storeText(data: Record<string, unknown>): Generator<string> {
  let piece = '';
  for (const fragment of fragments(data, '')) {
    piece += fragment;
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}\n`;
}

/** `JSON.stringify(value, null, 2)` at `indent`, in fragments: an object's entries one by one, its values whole below the top. */
function* fragments(value: Record<string, unknown>, indent: string): Generator<string> {
  const inner = `${indent}  `;
  let first = true;
  for (const key of Object.keys(value)) {
    const entry = value[key];
    if (entry === undefined) continue;
    yield `${first ? '{' : ','}\n${inner}${JSON.stringify(key)}: `;
    first = false;
    if (indent === '' && typeof entry === 'object' && entry !== null && !Array.isArray(entry)) yield* fragments(entry as Record<string, unknown>, inner);
    else yield JSON.stringify(entry, null, 2).replaceAll('\n', `\n${inner}`);
  }
  yield first ? '{}' : `\n${indent}}`;
}
