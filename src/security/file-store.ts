import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { storeShapeError } from './store-schema.js';
import { applyStoreOp, SecurityStore, type Mutation, type StoreData } from './store.js';

export { applyStoreOp, SecurityStore, type Mutation, type StoreData, type StoredRole, type StoredUser, type StoreOp } from './store.js';

/**
 * The embedded security store: one JSON file in the data dir, mode 0600,
 * written atomically. On a node that joined a cluster, the store is a replica
 * of the one the cluster's first node holds: `useRemote` sends every change
 * there, and `install` takes what comes back.
 */
export class FileStore extends SecurityStore {
  readonly path: string;
  #remote: (<T>(mutation: Mutation<T>) => Promise<T>) | undefined;
  #catchUp: (() => Promise<boolean>) | undefined;

  private constructor(path: string, data: StoreData) {
    super();
    this.path = path;
    this.install(data);
  }

  /** Open the store of a data dir; a missing file is an empty store. */
  static async open(dataDir: string): Promise<FileStore> {
    const path = join(dataDir, 'security.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new FileStore(path, { version: 1, users: {} });
      throw new SecurenodeError('ERR_IO', `cannot read the security store ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new SecurenodeError('ERR_STORE_CORRUPT', `the security store ${path} is damaged (not JSON); restore it from a backup`);
    }
    // A store of the wrong shape is refused here, not served: a half-understood store could let the wrong caller in.
    const wrong = storeShapeError(data);
    if (wrong) throw new SecurenodeError('ERR_STORE_CORRUPT', `the security store ${path} is damaged (${wrong}); restore it from a backup`);
    return new FileStore(path, data as StoreData);
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

  /** One change at a time: each is worked out from the store the previous one left, written, then taken. */
  protected commit<T>(mutation: Mutation<T>): Promise<T> {
    if (this.#remote) return this.#remote(mutation);
    return this.exclusive(async () => {
      const { ops, result } = mutation(this.snapshot());
      if (ops.length === 0) return result;
      const next = ops.reduce(applyStoreOp, this.snapshot());
      await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, 0o600);
      this.take(ops, true);
      return result;
    });
  }
}
