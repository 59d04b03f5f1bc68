import type { TLSSocket } from 'node:tls';

/** One message on the transport: a request, its response, or an event that needs none. */
export type Message =
  | { readonly type: 'request'; readonly id: number; readonly method: string; readonly body: unknown }
  | { readonly type: 'response'; readonly id: number; readonly body?: unknown; readonly error?: string }
  | { readonly type: 'event'; readonly method: string; readonly body: unknown };

/** Frames larger than this close the connection: the store goes in pages of 1 MiB, so nothing the cluster sends comes near it. */
export const maxFrameBytes = 16 * 1024 * 1024;

/** Answers the requests that arrive on a connection; a throw is sent back as the error. */
export type RequestHandler = (method: string, body: unknown, connection: Connection) => Promise<unknown> | unknown;
export type EventHandler = (method: string, body: unknown, connection: Connection) => void;

/**
 * A body already serialized: sent as it is, not serialized again inside its
 * message (a page of the store is built entry by entry to bound its size, and
 * serializing it a second time would escape every quote of a megabyte).
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/** `fields` serialized with one more field, `name`, whose value is already serialized. */
export function withJsonText(fields: object, name: string, value: JsonText): JsonText {
  const text = JSON.stringify(fields);
  return new JsonText(`${text.slice(0, -1)}${text === '{}' ? '' : ','}${JSON.stringify(name)}:${value.text}}`);
}

/** A message as it goes on the wire: JSON, with a `JsonText` body spliced in as it is. */
export function encodeMessage(message: Message): string {
  if (!(message.body instanceof JsonText)) return JSON.stringify(message);
  const { body, ...rest } = message;
  return withJsonText(rest, 'body', body).text;
}

/**
 * A remote failure or a timeout, with the method it concerned; `unanswered` when the request was sent and no answer
 * came (a timeout, the connection closed meanwhile): the other node may have acted on it.
 */
export class TransportError extends Error {
  readonly unanswered: boolean;

  constructor(message: string, unanswered = false) {
    super(message);
    this.unanswered = unanswered;
  }
}

/**
 * A small framed RPC over one mutual-TLS socket: each frame is a 4-byte
 * big-endian length and a JSON message. Requests carry ids and time out;
 * responses may come in any order. A malformed or oversized frame closes the
 * connection, and every request still waiting fails.
 */
export class Connection {
  readonly socket: TLSSocket;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (body: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  /** What arrived and is not yet a whole frame: chunks, joined only once a frame is complete (joining each chunk costs the square of a frame). */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #closed = false;
  readonly #closeListeners: (() => void)[] = [];
  onRequest: RequestHandler = (method) => {
    throw new TransportError(`unknown method ${method}`);
  };
  onEvent: EventHandler = () => {};

  constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#closeListeners.push(listener);
  }

  request(method: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(new TransportError(`${method}: the connection is closed`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TransportError(`${method}: no answer within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send({ type: 'request', id, method, body });
    });
  }

  event(method: string, body: unknown): void {
    if (!this.#closed) this.#send({ type: 'event', method, body });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new TransportError('the connection closed', true));
      this.#pending.delete(id);
    }
    for (const listener of this.#closeListeners.splice(0)) listener();
  }

  #send(message: Message): void {
    // One buffer for the length and the message, written in place: a page of the store is not copied twice.
    const text = encodeMessage(message);
    const length = Buffer.byteLength(text, 'utf8');
    const frame = Buffer.allocUnsafe(4 + length);
    frame.writeUInt32BE(length, 0);
    frame.write(text, 4, 'utf8');
    this.socket.write(frame);
  }

  #receive(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= 4) {
      if (this.#chunks[0]!.length < 4) this.#chunks = [Buffer.concat(this.#chunks)];
      const length = this.#chunks[0]!.readUInt32BE(0);
      if (length > maxFrameBytes) return this.close();
      if (this.#buffered < 4 + length) return;
      const text = this.#take(length);
      let message: Message;
      try {
        message = JSON.parse(text) as Message;
      } catch {
        return this.close();
      }
      this.#dispatch(message);
    }
  }

  /** Take the frame of `length` bytes that follows the header at the start of the first chunk, as text; what follows stays buffered. */
  #take(length: number): string {
    // A frame in several chunks is decoded chunk by chunk, never copied into one buffer first: a page of the store is a
    // megabyte in ~64 chunks, and a character may be split between two.
    const decoder = this.#chunks[0]!.length >= 4 + length ? undefined : new TextDecoder();
    let text = '';
    let left = length;
    for (let offset = 4; ; offset = 0) {
      const chunk = this.#chunks[0]!;
      const end = Math.min(chunk.length, offset + left);
      text += decoder ? decoder.decode(chunk.subarray(offset, end), { stream: true }) : chunk.toString('utf8', offset, end);
      left -= end - offset;
      if (end < chunk.length) this.#chunks[0] = chunk.subarray(end);
      else this.#chunks.shift();
      if (left === 0) break;
    }
    this.#buffered -= 4 + length;
    return decoder ? text + decoder.decode() : text;
  }

  #dispatch(message: Message): void {
    if (message.type === 'response') {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error !== undefined) pending.reject(new TransportError(message.error));
      else pending.resolve(message.body);
    } else if (message.type === 'request') {
      Promise.resolve()
        .then(() => this.onRequest(message.method, message.body, this))
        .then(
          (body) => !this.#closed && this.#send({ type: 'response', id: message.id, body }),
          (error: Error) => !this.#closed && this.#send({ type: 'response', id: message.id, error: error.message }),
        );
    } else if (message.type === 'event') {
      this.onEvent(message.method, message.body, this);
    } else {
      this.close();
    }
  }
}
