import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Principal } from './authenticator.js';

/** What a route answers: its JSON body, and the headers to send it with (content-type and content-length, as fastify sends them). */
export interface Answer {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A JSON body as the node's routes send it. */
export function jsonAnswer(body: string): Answer {
  return { headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) }, body };
}

/**
 * A route's answer through fastify: the same headers and body as before routing (fastify adds the same
 * content-length after the content-type; setting only the type keeps reply.headers' loop off the routed path).
 */
export function sendAnswer(reply: FastifyReply, answer: Answer): void {
  void reply.type(answer.headers['content-type']!).send(answer.body);
}

/**
 * A GET route's answer to a caller it admits, the same for every request of that caller: the route's handler sends it
 * too, so that the answer given before routing and the routed one are the same bytes.
 */
export type EarlyAnswer = (principal: Principal) => Answer;

/** How a route decides whether a caller may have its answer: the route's own authorization, as its hook runs it. */
export type Permits = (principal: Principal, method: string, path: string) => boolean;

/**
 * Answers given before fastify routes a request, for the few read-only GET routes that clients and load balancers
 * poll (GET /, GET /_security/_authenticate): fastify's per-request work (its request and reply objects, the router,
 * the hook runner, reply.send) costs more than the node's own checks and the answer together (about 5,000 of 90,000
 * instructions a request, measured with callgrind on keep-alive GET /).
 *
 * Only the plainest case is answered here, and only with what the routed path decides too: a GET of exactly a
 * registered path (no query, no escape), one Authorization header with a Basic credential the node has already
 * checked and cached (`cachedCaller`, the authentication hook's own first step), and the route's own authorization
 * (`Permits`) allowing it. Anything else, a refusal included, goes to fastify, which decides, audits and answers as
 * before; a closing node answers nothing here (fastify answers 503).
 */
export class EarlyAnswers {
  readonly #routes = new Map<string, { readonly answer: EarlyAnswer; readonly permits: Permits }>();
  #open = true;

  constructor(private readonly caller: (request: IncomingMessage) => Principal | undefined) {}

  /** A route's answer before routing; `path` is its pattern, which must be a literal path. */
  add(path: string, answer: EarlyAnswer, permits: Permits): void {
    if (!/^\/[\w./-]*$/.test(path) || /\/\.{1,2}(\/|$)/.test(path)) throw new Error(`an early answer needs a literal path, not ${path}`);
    this.#routes.set(path, { answer, permits });
  }

  /** From now on every request goes to fastify: the node is closing. */
  close(): void {
    this.#open = false;
  }

  /** Answers `request` and says true, or leaves it to the router and says false. */
  answer(request: IncomingMessage, response: ServerResponse): boolean {
    if (request.method !== 'GET' || !this.#open) return false;
    const url = request.url!;
    const route = this.#routes.get(url);
    if (route === undefined) return false;
    const principal = this.caller(request);
    if (principal === undefined || !route.permits(principal, 'GET', url)) return false;
    const { headers, body } = route.answer(principal);
    response.writeHead(200, headers);
    response.end(body);
    return true;
  }
}
