import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { connectionError, describeConnection, unansweredCommit, unavailableError, type PostgresConnection } from './postgres-connection.js';
import { ChangeListener, channel, KeptAnnouncements } from './postgres-listen.js';
import { claimDatabase } from './postgres-claim.js';
import type { PostgresStoreOptions } from './postgres-options.js';
export type { PostgresStoreOptions } from './postgres-options.js';
import { isConnectionFailure, newPool, RenewingPool } from './postgres-pool.js';
import { freshRuns } from './fresh-runs.js';
import { logChanges, readSince, readStore, writtenSince, type StoreRead } from './postgres-rows.js';
import { writeChanges } from './postgres-writes.js';
import { meetsWrites } from './change-reads.js';
import { batchMax, groupWaiting, Turns, turnWaitMs, workOutEarly, type Early, type Planned, type Waiting } from './group-commit.js';
import { SecurityStore, type Mutation } from './store.js';

/** A node whose LISTEN connection dropped a notification still sees every change within this. */
const pollMs = 5_000;

/**
 * The security store in a shared PostgreSQL database (SPEC 7): every node
 * reads and writes the database directly. Each change is one transaction that
 * bumps the store's generation and announces it with NOTIFY; every node
 * LISTENs and reloads, so a changed password stops working everywhere within
 * a second. Reads come from memory, so logins keep working while the database
 * is away; changes are then refused (503).
 */
export class PostgresStore extends SecurityStore {
  /** The key that hashes API key and service token secrets: the cluster's, kept in the database, since the keys are shared. */
  readonly tokenHashKey: Buffer;
  readonly #logger: Logger | undefined;
  readonly #pools: RenewingPool;
  #generation: string | undefined;
  readonly #loads = freshRuns(() => this.#load());
  /** Generations this node is committing: their notifications are its own. */
  readonly #committing = new Set<string>();
  /** This node's changes, in turns (see commit). */
  readonly #turns = new Turns((waiting) => this.#commitTurn(waiting), () => this.#turnsEnded(), turnWaitMs, batchMax);
  /** What other nodes announced while this node's turns committed: read when they end, unless taken by then. */
  readonly #kept = new KeptAnnouncements();
  readonly #listener: ChangeListener;
  #timer: NodeJS.Timeout | undefined;

  private constructor(pools: RenewingPool, tokenHashKey: Buffer, options: PostgresStoreOptions) {
    super();
    this.#pools = pools;
    this.tokenHashKey = tokenHashKey;
    this.#logger = options.logger;
    // The payload is the generation a change made: one this node has taken already (its own change, most often) needs no read.
    const heard = (announced: bigint | undefined) => {
      if (announced !== undefined && ((this.#generation !== undefined && announced <= BigInt(this.#generation)) || this.#committing.has(String(announced)))) return;
      // While this node's own changes commit, another node's change is read after them: a change of this node made
      // behind reads what it missed as it commits, so the read is not made twice (once here, once there).
      if (this.#turns.running) return this.#kept.keep(announced);
      void this.reload().catch(() => {});
    };
    this.#listener = new ChangeListener(pools, heard, () => this.reload(), options.logger, pollMs);
  }

  /** Where the store lives, with the credentials in use now. */
  override describe(): string {
    return describeConnection(this.#pools.connection);
  }

  override get sharedTokenHashKey(): Buffer {
    return this.tokenHashKey;
  }

  get connection(): PostgresConnection {
    return this.#pools.connection;
  }

  /** Connect, bring the schema up to date, check the cluster, load the store and start listening. */
  static async open(connection: PostgresConnection, options: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = newPool(connection);
    try {
      const tokenHashKey = await claimDatabase(pool, connection, options);
      const store = new PostgresStore(new RenewingPool(connection, pool, options), tokenHashKey, options);
      try {
        // Listening first: a change committed after the first read's snapshot is announced to this node, and read
        // after it (heard during a load, a reload follows it); listening after it, the change waited for the poll.
        await store.#listener.listen();
        await store.reload();
      } catch (error) {
        await store.close().catch(() => {});
        throw error;
      }
      store.#timer = setInterval(() => void store.reload().catch(() => {}), pollMs).unref();
      return store;
    } catch (error) {
      await pool.end().catch(() => {});
      throw connectionError(error, connection);
    }
  }

  /** Load what changed since the last load; loads run one at a time, and a request made during one gets the next. */
  reload(): Promise<void> {
    return this.#loads.run();
  }

  async #load(): Promise<void> {
    const client = await this.#pools.client();
    let failed: Error | undefined;
    try {
      const read = await readStore(client, this.#generation);
      if (read) this.#take(read);
    } catch (error) {
      failed = error as Error;
      throw error;
    } finally {
      client.release(failed);
    }
  }

  /** A reload that starts after this call (one already running may have read too early), and whether it took a newer generation. */
  override async catchUp(): Promise<boolean> {
    const before = this.#generation;
    try {
      await this.reload();
    } catch (error) {
      this.#logger?.warn({ event: 'store_reload_failed', error: (error as Error).message }, 'reloading the security store after a refused credential failed; the store as loaded decides');
      return false;
    }
    return this.#generation !== before;
  }

  /**
   * Changes commit in transactions. Bumping the generation row first takes its lock, which orders the writers of
   * every node. A mutation is worked out before, from this node's store; a node that is behind then reads, under the
   * lock, which entries the changes it missed wrote (the change log alone): if none is one the mutation read or
   * writes, its change stands, and what it missed is read after the commit. Otherwise, and when the mutation refused
   * or had nothing to do, the node reads what it missed inside the transaction and works the mutation out again from
   * the latest committed store, so no change is built on a stale one.
   *
   * This node's transactions run one at a time: they would wait on the generation's lock anyway, each holding a
   * connection and a backend; here they wait without, and the round trips of the one holding the lock do not queue
   * behind theirs. The changes made meanwhile go together in the next (a group commit), the lock held once for all
   * of them rather than once each (Turns; a turn waits at most turnWaitMs for the one before it).
   */
  protected commit<T>(mutation: Mutation<T>): Promise<T> {
    return this.#turns.add(mutation);
  }

  /** No turn of this node commits any more: an announcement heard meanwhile of a change not taken by then is read now. */
  #turnsEnded(): void {
    if (this.#kept.takeNewerThan(this.#generation)) void this.reload().catch(() => {});
  }

  /**
   * The changes that waited for one turn: those worked out from this node's store without meeting each other's writes
   * go in one transaction; the others (a refusal, a change with nothing to do, one that reads or writes what an earlier
   * one writes, a change after a role change) each in one of their own after it, worked out again.
   */
  async #commitTurn(waiting: readonly Waiting[]): Promise<void> {
    const { together, alone } = groupWaiting(waiting, (mutation) => this.#workOut(mutation));
    if (together.length > 0) {
      try {
        const answered = await this.#transaction(together);
        if (answered === undefined) alone.unshift(...together);
        else answered.forEach((result, index) => together[index]!.resolve(result));
      } catch (error) {
        for (const change of together) change.reject(error);
      }
    }
    // One after another, each waiting at most turnWaitMs for the one before it, as the turns do.
    for (const change of alone) {
      const done = this.#transaction([{ ...change, early: this.#workOut(change.mutation) }]).then((answered) => change.resolve(answered![0]), change.reject);
      await Promise.race([done, delay(turnWaitMs, undefined, { ref: false })]);
    }
  }

  /**
   * One transaction for `changes`, each under a generation of its own (one lock, one log statement, one notification):
   * each change's answer. A change alone is worked out again under the lock when it has to be (see commit); several
   * worked out together stand only all at once: when something that landed since meets one of them, or the database
   * refuses a write (one change's), the transaction is rolled back and the answer is undefined, for each to go alone.
   */
  async #transaction(changes: readonly Planned[]): Promise<unknown[] | undefined> {
    let client: pg.PoolClient;
    try {
      client = await this.#pools.client();
    } catch (error) {
      throw unavailableError(error);
    }
    let failed: Error | undefined;
    let outcomes: ReturnType<Mutation<unknown>>[];
    let top: bigint;
    let previous: string;
    /** The generation this node was at when the changes were worked out, when what it missed since is to be read after the commit. */
    let behind: string | undefined;
    let committed = false;
    /** The COMMIT was sent: without its answer, the changes may have been made. */
    let commitSent = false;
    try {
      // One round trip for both (a simple query; the count is a number this code makes, never text from outside).
      const [, bumped] = (await client.query(`BEGIN; UPDATE securenode_meta SET generation = generation + ${Number(changes.length)} RETURNING generation, changes_since`)) as unknown as pg.QueryResult<{ generation: string; changes_since: string }>[];
      const { rows } = bumped!;
      top = BigInt(rows[0]!.generation);
      previous = String(top - BigInt(changes.length));
      const known = changes[0]!.early?.known;
      const current = changes.every((change) => change.early !== undefined) && this.#generation === known;
      // Behind: the changes stand if what was missed touched nothing they read or write; a change alone else reads what
      // was missed under the generation's lock, so that its mutation works from the latest store.
      const written = current && known !== previous ? await writtenSince(client, known!, previous, String(rows[0]!.changes_since)) : undefined;
      if (current && (known === previous || (written && !changes.some(({ early }) => meetsWrites(early!.reads, early!.outcome.ops, written))))) {
        outcomes = changes.map(({ early }) => early!.outcome);
        if (known !== previous) behind = known;
      } else if (changes.length > 1) {
        await client.query('ROLLBACK');
        return undefined;
      } else {
        if (this.#generation !== previous) {
          const missed = await readSince(client, this.#generation, previous);
          if (missed) this.#take(missed);
        }
        // A refusal from the mutation is not a failure of the database: it rolls back and goes to the caller as it is.
        try {
          outcomes = [changes[0]!.mutation(this.snapshot())];
        } catch (refusal) {
          await client.query('ROLLBACK');
          return Promise.reject(refusal);
        }
        if (outcomes[0]!.ops.length === 0) {
          await client.query('ROLLBACK');
          return [outcomes[0]!.result];
        }
      }
      const touched = await writeChanges(client, outcomes.map((outcome) => outcome.ops));
      const logged = touched.map((rows, index) => ({ generation: String(BigInt(previous) + BigInt(index + 1)), touched: rows }));
      await logChanges(client, logged, channel);
      // Its notification can arrive before the COMMIT's answer: this node's own generation needs no read.
      this.#committing.add(String(top));
      commitSent = true;
      await client.query('COMMIT');
      committed = true;
      if (behind !== undefined) {
        // Committed: what landed before it, read now that the lock is let go, is taken first. A read that fails is left to a
        // reload, which brings these changes too.
        const missed = await readStore(client, behind, previous).catch((error: Error) => void (failed = error));
        if (missed) this.#take(missed);
      }
    } catch (error) {
      failed = error as Error;
      // Not committed (or not known to be): another node's change may take this generation, and its notification must be heard.
      this.#committing.clear();
      // A connection that failed (or timed out) is closed below, which ends its transaction: no ROLLBACK to wait for on it.
      if (isConnectionFailure(error)) throw commitSent && !committed ? unansweredCommit(error) : unavailableError(error);
      await client.query('ROLLBACK').catch(() => {});
      // Rolled back: the changes go alone. Never once committed: they would be made twice.
      if (changes.length > 1 && !committed) return undefined;
      throw error;
    } finally {
      // A client that failed is closed rather than handed out again.
      client.release(failed);
    }
    // Committed: each change taken here as it was written, without reading it back (unless a reload has taken it
    // already), once everything before it is here; else a reload brings them.
    for (const [index, outcome] of outcomes.entries()) {
      const generation = String(BigInt(previous) + BigInt(index + 1));
      if (this.#generation !== String(BigInt(generation) - 1n) && BigInt(this.#generation ?? '0') < BigInt(generation)) {
        void this.reload().catch(() => {});
        break;
      }
      this.#take({ generation, changes: [...outcome.ops] });
    }
    this.#committing.delete(String(top));
    return outcomes.map((outcome) => outcome.result);
  }

  /** A mutation worked out from this node's store as it is (see workOutEarly); refusals and changes with nothing to do are decided again under the lock. */
  #workOut<T>(mutation: Mutation<T>): Early<T> | undefined {
    return workOutEarly(this.snapshot(), this.#generation, mutation);
  }

  /**
   * Take a read, unless this store is there already (a reload and a change can
   * read at once). Changes read after a generation this store had are good on
   * any later one it has since taken: each is a row as it is at the read's
   * generation.
   */
  #take(read: StoreRead): void {
    if (this.#generation !== undefined && BigInt(read.generation) <= BigInt(this.#generation)) return;
    this.#generation = read.generation;
    if ('data' in read) this.install(read.data);
    else this.take(read.changes);
  }

  /** Stop listening and close every connection. */
  override async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#listener.close();
    await this.#loads.settled();
    await this.#pools.end();
  }
}
