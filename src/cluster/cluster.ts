import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { splitAddress } from '../enrollment/pinned-client.js';
import { Connection, TransportError } from './connection.js';

/** A node as the cluster knows it. */
export interface NodeDescriptor {
  readonly id: string;
  readonly name: string;
  readonly transport_address: string;
  readonly http_address: string;
  /** The node that created the cluster holds the file store; the others use it through transport. */
  readonly holds_store: boolean;
}

/** A request from another node of the cluster, with that node. */
export type ClusterHandler = (body: unknown, from: NodeDescriptor) => Promise<unknown> | unknown;

export interface ClusterOptions {
  readonly tls: TlsFiles;
  readonly clusterName: string;
  readonly clusterUuid: string;
  /** Where this node keeps its security store (security.store.type): every node of a cluster must keep it in the same kind of place. */
  readonly storeType?: string;
  /** This node; known once it listens. */
  readonly self: () => NodeDescriptor;
  /** discovery.seed_hosts: transport addresses to try first. */
  readonly seeds: readonly string[];
  readonly logger: Logger;
  /** Requests other nodes may make, by method. */
  readonly handlers?: Record<string, ClusterHandler>;
  /** Events other nodes may send, by method. */
  readonly events?: Record<string, (body: unknown, from: NodeDescriptor) => void>;
  /** Called when a node is connected (again). */
  readonly onConnected?: (node: NodeDescriptor) => void;
  readonly pingIntervalMs?: number;
  readonly timeoutMs?: number;
}

interface Member {
  readonly descriptor: NodeDescriptor;
  readonly connection: Connection;
}

/** A node's state in GET /_cluster/health. */
export interface MemberState {
  readonly id: string;
  readonly name: string;
  readonly transport_address: string;
  readonly state: 'connected' | 'disconnected';
}

/**
 * The cluster as this node sees it. Every node dials every node it learns of
 * (discovery.seed_hosts, then the peers each handshake and ping names), over
 * mutual TLS with the transport CA and no host name check (verification_mode:
 * certificate). The dialer's first request is the handshake, which must name
 * the same cluster.name and cluster uuid, or the connection is refused. Each
 * connection is pinged every second; one that does not answer in time is
 * closed, its node reported disconnected and dialed again.
 */
export class Cluster {
  readonly #options: ClusterOptions;
  readonly #known = new Set<string>();
  /** The TLS context every dial shows (transport.p12's key decrypted, its chain parsed, the transport CA): made once, not at each dial (a node away is dialed each second). */
  #dialContext: { readonly p12: Buffer; readonly context: SecureContext } | undefined;
  /** Addresses that turned out to be this node, or a node already connected under another address. */
  readonly #aliases = new Map<string, string>();
  readonly #dialing = new Set<string>();
  readonly #members = new Map<string, Member>();
  /** Connections other nodes dialed, with the node once it shook hands. */
  readonly #inbound = new Map<Connection, NodeDescriptor | undefined>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ClusterOptions) {
    this.#options = options;
    for (const seed of options.seeds) this.#known.add(seed);
  }

  get #timeoutMs(): number {
    return this.#options.timeoutMs ?? 3_000;
  }

  /** Start dialing and pinging. */
  start(): void {
    const tick = (): void => {
      if (this.#closed) return;
      this.#dialKnown();
      this.#pingAll();
    };
    tick();
    this.#timer = setInterval(tick, this.#options.pingIntervalMs ?? 1_000).unref();
  }

  /**
   * Serve a socket that connected to the transport listener (already authorized
   * by mutual TLS). After close(), none: a peer's TLS handshake that ends while
   * the node closes would otherwise be served for as long as the peer keeps it,
   * and the listener's close, which waits for its last connection, with it:
   * most likely what held a node that had just joined on SIGTERM in one CI run.
   */
  accept(socket: TLSSocket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket);
    let from: NodeDescriptor | undefined;
    const deadline = setTimeout(() => from || connection.close(), this.#timeoutMs);
    this.#inbound.set(connection, undefined);
    connection.onClose(() => {
      clearTimeout(deadline);
      this.#inbound.delete(connection);
    });
    connection.onRequest = async (method, body) => {
      if (method === 'handshake') {
        from = this.#checkHandshake(body, connection);
        this.#inbound.set(connection, from);
        this.#learn([from.transport_address]);
        return { node: this.#options.self(), peers: this.#peerAddresses() };
      }
      if (!from) throw new TransportError('handshake first');
      if (method === 'ping') return { peers: this.#peerAddresses() };
      const handler = this.#options.handlers?.[method];
      if (!handler) throw new TransportError(`unknown method ${method}`);
      return handler(body, from);
    };
    connection.onEvent = (method, body) => {
      if (from) this.#options.events?.[method]?.(body, from);
    };
  }

  /** The nodes this node knows of, itself first, each with its state. */
  nodes(): MemberState[] {
    const self = this.#options.self();
    const others = [...this.#members.values()].map(({ descriptor, connection }) => ({
      id: descriptor.id,
      name: descriptor.name,
      transport_address: descriptor.transport_address,
      state: !connection.closed ? ('connected' as const) : ('disconnected' as const),
    }));
    return [{ id: self.id, name: self.name, transport_address: self.transport_address, state: 'connected' as const }, ...others];
  }

  /** A connected node that satisfies `test`, if any. */
  find(test: (node: NodeDescriptor) => boolean): NodeDescriptor | undefined {
    for (const member of this.#members.values()) if (!member.connection.closed && test(member.descriptor)) return member.descriptor;
    return undefined;
  }

  /** A request to a connected node; rejects when it is not connected or does not answer in time. */
  request(nodeId: string, method: string, body: unknown): Promise<unknown> {
    const connection = this.#members.get(nodeId)?.connection;
    if (!connection || connection.closed) return Promise.reject(new TransportError(`${method}: node ${nodeId} is not connected`));
    return connection.request(method, body, this.#timeoutMs);
  }

  /**
   * An event to every connected node but `except`: on the connection this node
   * dialed, or, until it has dialed back a node that just connected, on that
   * node's own.
   */
  broadcast(method: string, body: unknown, except?: string): void {
    const reached = new Set<string>(except === undefined ? [] : [except]);
    for (const [id, member] of this.#members) {
      if (member.connection.closed || reached.has(id)) continue;
      member.connection.event(method, body);
      reached.add(id);
    }
    for (const [connection, from] of this.#inbound) {
      if (from && !reached.has(from.id)) {
        connection.event(method, body);
        reached.add(from.id);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const member of this.#members.values()) member.connection.close();
    for (const connection of this.#inbound.keys()) connection.close();
  }

  #checkHandshake(body: unknown, connection: Connection): NodeDescriptor {
    const hello = body as { cluster_name?: unknown; cluster_uuid?: unknown; store_type?: unknown; node?: NodeDescriptor };
    const storeType = this.#options.storeType ?? 'file';
    if (hello.cluster_name === this.#options.clusterName && hello.cluster_uuid === this.#options.clusterUuid && (hello.store_type ?? 'file') !== storeType) {
      setImmediate(() => connection.close());
      throw new TransportError(`handshake refused: this node keeps the security store in '${storeType}', the peer in '${String(hello.store_type)}'; every node of a cluster needs the same security.store.* settings`);
    }
    if (hello.cluster_name !== this.#options.clusterName || hello.cluster_uuid !== this.#options.clusterUuid || typeof hello.node?.id !== 'string' || typeof hello.node.transport_address !== 'string') {
      // Answer first, then close: the other node logs why.
      setImmediate(() => connection.close());
      throw new TransportError(`handshake refused: this node is in cluster '${this.#options.clusterName}' (${this.#options.clusterUuid}); the peer named '${String(hello.cluster_name)}' (${String(hello.cluster_uuid)})`);
    }
    return hello.node;
  }

  #peerAddresses(): string[] {
    return [...this.#members.values()].filter((member) => !member.connection.closed).map((member) => member.descriptor.transport_address);
  }

  #learn(addresses: unknown): void {
    if (!Array.isArray(addresses)) return;
    const self = this.#options.self().transport_address;
    for (const address of addresses) if (typeof address === 'string' && address !== self) this.#known.add(address);
  }

  #dialKnown(): void {
    for (const address of this.#known) {
      const alias = this.#aliases.get(address);
      if (this.#dialing.has(address) || (alias !== undefined && (alias === this.#options.self().id || this.#isConnected(alias)))) continue;
      this.#dialing.add(address);
      this.#dial(address)
        .catch((error: Error) => this.#options.logger.debug({ event: 'transport_dial_failed', address, error: error.message }, 'could not reach a node'))
        .finally(() => this.#dialing.delete(address));
    }
  }

  #isConnected(nodeId: string): boolean {
    const connection = this.#members.get(nodeId)?.connection;
    return connection !== undefined && !connection.closed;
  }

  async #dial(address: string): Promise<void> {
    const { host, port } = splitAddress(address);
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const dialed = connect({
        host,
        port,
        secureContext: this.#secureContext(),
        // verification_mode: certificate: the chain must end in the transport CA; no host name check.
        checkServerIdentity: () => undefined,
        rejectUnauthorized: true,
        timeout: this.#timeoutMs,
      });
      dialed.once('secureConnect', () => resolve(dialed));
      dialed.once('error', reject);
      dialed.once('timeout', () => {
        dialed.destroy();
        reject(new TransportError(`no TLS handshake within ${this.#timeoutMs} ms`));
      });
    });
    socket.setTimeout(0);
    const connection = new Connection(socket);
    connection.onEvent = (method, body) => {
      const from = this.#aliases.get(address);
      const member = from === undefined ? undefined : this.#members.get(from);
      if (member) this.#options.events?.[method]?.(body, member.descriptor);
    };
    let answer: { node?: NodeDescriptor; peers?: unknown };
    try {
      answer = (await connection.request('handshake', { cluster_name: this.#options.clusterName, cluster_uuid: this.#options.clusterUuid, store_type: this.#options.storeType ?? 'file', node: this.#options.self() }, this.#timeoutMs)) as typeof answer;
    } catch (error) {
      connection.close();
      this.#options.logger.warn({ event: 'transport_handshake_failed', address, error: (error as Error).message }, `the node at ${address} refused the handshake or did not answer it`);
      throw error;
    }
    const node = answer.node;
    if (!node || typeof node.id !== 'string') {
      connection.close();
      throw new TransportError('a handshake answer without a node');
    }
    this.#aliases.set(address, node.id);
    if (node.id === this.#options.self().id || this.#isConnected(node.id) || this.#closed) {
      connection.close();
      return;
    }
    this.#members.set(node.id, { descriptor: node, connection });
    this.#learn(answer.peers);
    connection.onClose(() => {
      if (!this.#closed) this.#options.logger.warn({ event: 'node_disconnected', node: node.name, address }, `lost the connection to node ${node.name} (${address})`);
    });
    this.#options.logger.info({ event: 'node_connected', node: node.name, address }, `connected to node ${node.name} (${address})`);
    this.#options.onConnected?.(node);
  }

  /** The dialing context (see #dialContext), made again only when the certificate is renewed (a new transport.p12). */
  #secureContext(): SecureContext {
    const { tls } = this.#options;
    if (this.#dialContext?.p12 !== tls.transportP12) this.#dialContext = { p12: tls.transportP12, context: createSecureContext({ pfx: tls.transportP12, passphrase: tls.transportP12Password, ca: [tls.transportCaPem], minVersion: 'TLSv1.2' }) };
    return this.#dialContext.context;
  }

  #pingAll(): void {
    for (const member of this.#members.values()) {
      const connection = member.connection;
      if (connection.closed) continue;
      connection.request('ping', {}, this.#timeoutMs).then(
        (answer) => this.#learn((answer as { peers?: unknown }).peers),
        () => connection.close(),
      );
    }
  }
}
