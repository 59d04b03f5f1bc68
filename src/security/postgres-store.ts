import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { SecurenodeError } from '../errors.js';
import { connectionError, describeConnection, type PostgresConnection } from './postgres-connection.js';
import { ChangeListener, channel } from './postgres-listen.js';
import { checkout, isConnectionFailure, newPool, RenewingPool } from './postgres-pool.js';
import { migrate } from './postgres-schema.js';
import { freshRuns } from './fresh-runs.js';
import { logChange, readSince, readStore, writeChange, writtenSince, type StoreRead, type Touched } from './postgres-rows.js';
import { meetsWrites, workOutNoting, type ReadSet } from './change-reads.js';
import { SecurityStore, type Mutation } from './store.js';

/** A node whose LISTEN connection dropped a notification still sees every change within this. */
const pollMs = 5_000;
/** How long a change waits for this node's change before it (a database that does not answer holds that one up to its timeout). */
const turnWaitMs = 1_000;

/** What PostgresStore.open needs besides the connection. */
export interface PostgresStoreOptions {
  /** The node's cluster: the first node to open the database claims it for its cluster; a node of another is refused. */
  readonly clusterUuid: string;
  /** Whether this may claim a database no node has claimed yet (a node starting), or only use a claimed one (a tool). */
  readonly claim: boolean;
  readonly logger?: Logger;
  /**
   * Reads the connection's settings again, their vault references included:
   * called when the server refuses the credentials (a password rotated in the
   * secret store), as Kong's kong.vault.try, and every `renewEveryMs`.
   */
  readonly refresh?: () => Promise<PostgresConnection>;
  /** Read the credentials again this often (the references' ttl); a failed read keeps the credentials in use. */
  readonly renewEveryMs?: number;
  /** After a failed read, try the next only this much later (the references' neg_ttl), however often the server refuses meanwhile. */
  readonly retryAfterMs?: number;
}

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
  /** This node's last change, done or not: the next waits for it (at most turnWaitMs). */
  #turn: Promise<unknown> = Promise.resolve();
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
      const client = await checkout(pool);
      let owner: { cluster_uuid: string; token_hash_key: string } | undefined;
      try {
        await migrate(client);
        if (options.claim) {
          await client.query('INSERT INTO securenode_meta (cluster_uuid, token_hash_key) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING', [options.clusterUuid, randomBytes(32).toString('base64')]);
        }
        owner = (await client.query<{ cluster_uuid: string; token_hash_key: string }>('SELECT cluster_uuid, token_hash_key FROM securenode_meta')).rows[0];
      } finally {
        client.release();
      }
      const where = describeConnection(connection);
      if (!owner) throw new SecurenodeError('ERR_STORE_CONFIG', `no node has started with the ${where} yet; start a node first`);
      if (owner.cluster_uuid !== options.clusterUuid) {
        throw new SecurenodeError(
          'ERR_STORE_CONFIG',
          `the ${where} holds the security store of another cluster (uuid ${owner.cluster_uuid}), not of this node's (uuid ${options.clusterUuid}); give each cluster its own database, or add a node to that cluster by starting a new home with a node enrollment token from it`,
        );
      }
      const store = new PostgresStore(new RenewingPool(connection, pool, options), Buffer.from(owner.token_hash_key, 'base64'), options);
      try {
        await store.reload();
        await store.#listener.listen();
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
   * One transaction per change. Bumping the generation row first takes its
   * lock, which orders the writers of every node. The mutation is worked out
   * before, from this node's store; a node that is behind then reads, under the
   * lock, which entries the changes it missed wrote (the change log alone): if
   * none is one the mutation read or writes, its change stands, and what it
   * missed is read after the commit. Otherwise, and when the mutation refused or
   * had nothing to do, the node reads what it missed inside the transaction and
   * works the mutation out again from the latest committed store, so no change
   * is built on a stale one.
   */
  protected commit<T>(mutation: Mutation<T>): Promise<T> {
    // This node's changes one at a time: they would wait on the generation's lock anyway, each holding a connection and
    // a backend; here they wait without, and the round trips of the one holding the lock do not queue behind theirs.
    // Order is the lock's business, not this queue's: a change waits at most turnWaitMs for the one before it, so that
    // against a database that does not answer, changes made at once fail as soon as one alone would, not one by one.
    const run = Promise.race([this.#turn, delay(turnWaitMs, undefined, { ref: false })]).then(() => this.#transaction(mutation));
    this.#turn = run.catch(() => {});
    return run;
  }

  async #transaction<T>(mutation: Mutation<T>): Promise<T> {
    const early = this.#workOut(mutation);
    let client: pg.PoolClient;
    try {
      client = await this.#pools.client();
    } catch (error) {
      throw this.#unavailable(error);
    }
    let failed: Error | undefined;
    let outcome: ReturnType<Mutation<T>> | undefined;
    let generation: string;
    let previous: string;
    /** The generation this node was at when the change was worked out, when what it missed since is to be read after the commit. */
    let behind: string | undefined;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ generation: string; changes_since: string }>('UPDATE securenode_meta SET generation = generation + 1 RETURNING generation, changes_since');
      generation = String(rows[0]!.generation);
      previous = String(BigInt(generation) - 1n);
      const current = early !== undefined && this.#generation === early.known;
      if (this.#generation === previous) {
        if (current) outcome = early.outcome;
      } else {
        // Behind: the change stands if what was missed touched nothing it read or writes; else read what was missed under
        // the generation's lock, so that the mutation works from the latest store.
        const written = current ? await writtenSince(client, early.known, previous, String(rows[0]!.changes_since)) : undefined;
        if (written && !meetsWrites(early!.reads, early!.outcome.ops, written)) {
          outcome = early!.outcome;
          behind = early!.known;
        } else {
          const missed = await readSince(client, this.#generation, previous);
          if (missed) this.#take(missed);
        }
      }
      // A refusal from the mutation is not a failure of the database: it rolls back and goes to the caller as it is.
      try {
        outcome ??= mutation(this.snapshot());
      } catch (refusal) {
        await client.query('ROLLBACK');
        return Promise.reject(refusal);
      }
      if (outcome.ops.length === 0) {
        await client.query('ROLLBACK');
        return outcome.result;
      }
      const touched: Touched[] = [];
      for (const change of outcome.ops) touched.push(...(await writeChange(client, change)));
      await logChange(client, generation, touched, channel);
      // Its notification can arrive before the COMMIT's answer: this node's own generation needs no read.
      this.#committing.add(generation);
      await client.query('COMMIT');
      if (behind !== undefined) {
        // Committed: what landed before it, read now that the lock is let go, is taken first. A read that fails is left to a
        // reload, which brings this change too.
        const missed = await readStore(client, behind, previous).catch((error: Error) => void (failed = error));
        if (missed) this.#take(missed);
      }
    } catch (error) {
      failed = error as Error;
      // Not committed (or not known to be): another node's change may take this generation, and its notification must be heard.
      this.#committing.clear();
      // A connection that failed (or timed out) is closed below, which ends its transaction: no ROLLBACK to wait for on it.
      if (!isConnectionFailure(error)) await client.query('ROLLBACK').catch(() => {});
      throw isConnectionFailure(error) ? this.#unavailable(error) : error;
    } finally {
      // A client that failed is closed rather than handed out again.
      client.release(failed);
    }
    // Committed: taken here as it was written, without reading it back (unless a reload has taken it already), once
    // everything before it is here; else a reload brings both.
    if (this.#generation === previous || BigInt(this.#generation ?? '0') >= BigInt(generation)) this.#take({ generation, changes: [...outcome.ops] });
    else void this.reload().catch(() => {});
    this.#committing.delete(generation);
    return outcome.result;
  }

  /** A mutation worked out from this node's store as it is, noting what it read; undefined when it refuses or changes nothing (both are decided again under the lock). */
  #workOut<T>(mutation: Mutation<T>): { readonly known: string; readonly outcome: ReturnType<Mutation<T>>; readonly reads: ReadSet } | undefined {
    const known = this.#generation;
    if (known === undefined) return undefined;
    try {
      const { outcome, reads } = workOutNoting(this.snapshot(), mutation);
      return outcome.ops.length === 0 ? undefined : { known, outcome, reads };
    } catch {
      return undefined;
    }
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

  #unavailable(error: unknown): SecurenodeError {
    const reason = (error as Error).message || String(error);
    return new SecurenodeError('ERR_STORE_UNAVAILABLE', `the security database cannot be reached (${reason}); changes are refused until it is back (logins keep working)`, { cause: error });
  }
}
