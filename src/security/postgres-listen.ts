import pg from 'pg';
import type { Logger } from 'pino';
import { clientConfig } from './postgres-connection.js';
import { isRefusedCredentials, type RenewingPool } from './postgres-pool.js';

/** The channel every change is announced on; the payload is the new generation, never data. */
export const channel = 'securenode_store';
const relistenMs = 1_000;

/**
 * The connection a PostgreSQL node LISTENs on, of its own: each notification's
 * generation (undefined when the payload is not one) goes to `heard`. When the
 * connection drops it listens again every second, renewing refused credentials,
 * and calls `missed` once it hears again: notifications were lost meanwhile.
 */
export class ChangeListener {
  #client: pg.Client | undefined;
  #closed = false;

  constructor(
    private readonly pools: RenewingPool,
    private readonly heard: (generation: bigint | undefined) => void,
    private readonly missed: () => Promise<void>,
    private readonly logger: Logger | undefined,
    /** How often the node reloads anyway, for the warning when the connection drops. */
    private readonly pollMs: number,
  ) {}

  async listen(): Promise<void> {
    const client = new pg.Client(clientConfig(this.pools.connection));
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    client.on('notification', (message) => this.heard(/^\d+$/.test(message.payload ?? '') ? BigInt(message.payload!) : undefined));
    client.on('end', () => {
      if (this.#closed) return;
      this.logger?.warn({ event: 'store_listen_lost' }, `lost the connection that hears changes to the security store; listening again every ${relistenMs / 1000} s, and reloading every ${this.pollMs / 1000} s meanwhile`);
      setTimeout(() => void this.#relisten(), relistenMs).unref();
    });
    this.#client = client;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#client?.end().catch(() => {});
  }

  async #relisten(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.listen();
    } catch (error) {
      if (isRefusedCredentials(error)) await this.pools.renew('refused');
      setTimeout(() => void this.#relisten(), relistenMs).unref();
      return;
    }
    this.logger?.info({ event: 'store_listen_restored' }, 'hearing changes to the security store again');
    await this.missed().catch(() => {});
  }
}

/**
 * Announcements a node keeps while it is busy committing its own changes (which read what they missed), to read
 * after them only what they did not bring. One without a generation is always read.
 */
export class KeptAnnouncements {
  #latest: bigint | undefined;
  #unknown = false;

  keep(announced: bigint | undefined): void {
    if (announced === undefined) this.#unknown = true;
    else if (this.#latest === undefined || announced > this.#latest) this.#latest = announced;
  }

  /** Whether anything kept is newer than `generation` (the node's, undefined before its first load); forgets what it kept. */
  takeNewerThan(generation: string | undefined): boolean {
    const newer = this.#unknown || (this.#latest !== undefined && (generation === undefined || this.#latest > BigInt(generation)));
    this.#latest = undefined;
    this.#unknown = false;
    return newer;
  }
}
