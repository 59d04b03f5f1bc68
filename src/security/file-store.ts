import { dirname, join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readStoreFiles } from './file-store-read.js';
import { cutLog, LogAppender, readLogBytes } from './store-log.js';
import { KeyOrders } from './key-order.js';
import { StoreAt } from './store-text.js';
import { applyAll } from './store-ops.js';
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
 * when it grows past the base's size, while changes go on (see #fold). On a node that joined a cluster, the
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
  /** A fold under way, and the store as it was when it began (until it is written). */
  #folding: Promise<void> | undefined;
  #foldAt: StoreAt | undefined;
  /** Each record's keys in order, for a fold; a replica, which never folds, keeps none. */
  #keyOrders: KeyOrders | undefined;
  readonly #afterFoldStep: ((step: FoldStep) => unknown) | undefined;
  /** The changes made while one is written go together in the next write (see commit); a turn that starts early (a disk slower than turnWaitMs) still waits its turn to write. */
  readonly #turns = new Turns((waiting) => this.exclusive(() => this.#commitTurn(waiting)), () => {}, turnWaitMs, batchMax);

  private constructor(path: string, data: StoreData, keyOrders: KeyOrders, log: { seq: number; baseBytes: number; logBytes: number; torn: boolean }, options: FileStoreOptions) {
    super();
    this.path = path;
    this.logPath = join(dirname(path), 'security.log');
    this.#log = new LogAppender(this.logPath, 0o600, path, options.logIdleMs);
    this.install(data, keyOrders);
    this.#seq = log.seq;
    this.#baseBytes = log.baseBytes;
    this.#logBytes = log.logBytes;
    this.#torn = log.torn;
    this.#rewriteBelow = options.rewriteBelow ?? rewriteBelow;
    this.#afterFoldStep = options.afterFoldStep;
  }

  /** Open the store of a data dir: the base file and the changes logged after it; a missing file is an empty store. */
  static async open(dataDir: string, options: FileStoreOptions = {}): Promise<FileStore> {
    const { path, data, log, baseBytes, keyOrders } = await readStoreFiles(dataDir);
    return new FileStore(path, data, keyOrders, { seq: log.lastSeq, baseBytes, logBytes: log.goodBytes, torn: log.totalBytes > log.goodBytes }, options);
  }

  /** Close the log once the changes and the fold under way are written; a change after this opens it again. */
  override async close(): Promise<void> {
    await this.exclusive(() => this.#log.close());
    while (this.#folding) await this.#folding;
  }

  /** Take the whole store, and list its keys' order once (about 25 ms at 100,000 users), rather than at each fold; `keyOrders` when it comes with them (read from the files). */
  override install(data: StoreData, keyOrders?: KeyOrders): void {
    this.#keyOrders = this.#remote ? undefined : (keyOrders ?? new KeyOrders(data));
    super.install(data);
  }

  protected override took(data: StoreData, change: StoreOp): void {
    this.#keyOrders?.took(data, change);
  }

  /** Send every change to `remote` instead of writing here: this node does not hold the store. */
  useRemote(remote: <T>(mutation: Mutation<T>) => Promise<T>, catchUp: () => Promise<boolean>): void {
    this.#remote = remote;
    this.#catchUp = catchUp;
    this.#keyOrders = undefined;
  }

  /** A replica asks the holder whether it has missed a change; the holder's own file is always current. */
  override catchUp(): Promise<boolean> {
    return this.#catchUp?.() ?? Promise.resolve(false);
  }

  /** Take changes the holder made (a replica), in place. */
  takeRemote(ops: readonly StoreOp[]): void {
    this.#foldAt?.keep(ops);
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
      const data = applyAll(this.snapshot(), changes.flat());
      this.#baseBytes = await this.#writeBase([`${JSON.stringify({ ...data, seq: last }, null, 2)}\n`]).catch((error: unknown) => refused('file', this.path, error));
      if (this.#torn) {
        await cutLog(this.logPath, 0).catch((error: unknown) => refused('log', this.logPath, error));
        this.#torn = false;
      }
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
    for (const ops of changes) {
      this.#foldAt?.keep(ops);
      this.take(ops, true);
    }
    // The log folded into the base once it outgrows it: each byte is rewritten at most about twice.
    if (!this.#folding && this.#logBytes > Math.max(this.#baseBytes, this.#rewriteBelow)) this.#fold(last);
  }

  /**
   * Fold the log into the base without holding changes up. The store as it is at change `seq` (StoreAt) is written out
   * as the new base while changes go on to the log; then, between two changes, the log is replaced by its lines after
   * `seq`. Written inside the turn, the fold of a store of 100,000 users held every change made meanwhile for up to
   * 530 ms. A kill at any point leaves a base and a log that together hold every change acknowledged: the old base and
   * the whole log, the new base and the whole log (its lines up to `seq` are skipped when read), or the new base and
   * the lines after. A fold that fails leaves them as they were, and is tried again at a later change.
   */
  #fold(seq: number): void {
    const at = new StoreAt(this.snapshot(), seq, (name) => (this.#keyOrders ??= new KeyOrders(this.snapshot())).keys(name));
    // The log's lines after `seq` start here.
    const after = this.#logBytes;
    this.#foldAt = at;
    const fold = async (): Promise<void> => {
      try {
        await this.#afterFoldStep?.('kept');
        this.#baseBytes = await this.#writeBase(at.text());
      } finally {
        this.#foldAt = undefined;
      }
      await this.#afterFoldStep?.('based');
      await this.exclusive(async () => {
        // The descriptor is let go first: an append to it after the rename would go to the file replaced.
        await this.#log.close();
        if (this.#logBytes === after) await cutLog(this.logPath, 0);
        else await writeFileAtomic(this.logPath, await readLogBytes(this.logPath, after, this.#logBytes), 0o600);
        this.#logBytes -= after;
        this.#torn = false;
      });
      await this.#afterFoldStep?.('cut');
    };
    this.#folding = fold()
      .catch(() => {})
      .finally(() => (this.#folding = undefined));
  }

  /** Write the base atomically from its text in pieces: its size in bytes. */
  async #writeBase(pieces: Iterable<string>): Promise<number> {
    let bytes = 0;
    const counted = function* () {
      for (const piece of pieces) {
        bytes += Buffer.byteLength(piece);
        yield piece;
      }
    };
    await writeFileAtomic(this.path, counted(), 0o600);
    return bytes;
  }
}

/** The steps of a fold, for tests that kill a process at each. */
export type FoldStep = 'kept' | 'based' | 'cut';

export interface FileStoreOptions {
  /** Below this size (64 KiB) the base file is rewritten whole on each change. */
  readonly rewriteBelow?: number;
  /** The log is let go this long after the last change (2 s). */
  readonly logIdleMs?: number;
  /** Called after each step of a fold, and awaited: tests stop or kill the process there. */
  readonly afterFoldStep?: (step: FoldStep) => unknown;
}

/** A change the disk did not take: which file and why (a full disk, a size limit, an I/O error), never the change. */
function refused(which: 'file' | 'log', path: string, error: unknown): never {
  if (error instanceof SecurenodeError) throw error;
  throw new SecurenodeError('ERR_IO', `cannot write the security store's ${which} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; the change was not made`, { cause: error });
}
