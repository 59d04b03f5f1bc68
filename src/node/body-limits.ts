import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import jsonc from 'jsonc-parser';

/** The largest request body the node reads (1 MiB): a role of 1,000 long endpoint rows fits. */
export const maxBodyBytes = 1024 * 1024;
/** How deep a body may nest, arrays and objects alike; a user's metadata gets what the body leaves (Elasticsearch's parser stops at 1,000; nothing here needs more than a few). */
export const maxBodyDepth = 20;
/** A user's metadata as JSON text, at most. */
export const maxMetadataBytes = 16 * 1024;

/** A body refused before any route sees it: a 400 with the reason, never echoing a value. */
function invalid(reason: string): Error & { statusCode: number } {
  return Object.assign(new Error(`invalid body: ${reason}`), { statusCode: 400 });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The first thing wrong with a JSON text that JSON.parse would let through:
 * nesting deeper than `maxBodyDepth` (a 6,000-deep body blew the stack), or a
 * key given twice in one object (JSON.parse keeps the last silently;
 * Elasticsearch refuses it). Tokens come from jsonc-parser's scanner, which
 * does not recurse, so any depth is safe to scan; the rest of JSON's syntax
 * (comments included) is JSON.parse's to refuse.
 */
export function jsonShapeError(text: string): string | undefined {
  const scanner = jsonc.createScanner(text, true);
  // Per open container: the keys seen so far (an object), or null (an array).
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let token = scanner.scan(); token !== jsonc.SyntaxKind.EOF; token = scanner.scan()) {
    switch (token) {
      case jsonc.SyntaxKind.OpenBraceToken:
      case jsonc.SyntaxKind.OpenBracketToken:
        open.push(token === jsonc.SyntaxKind.OpenBraceToken ? new Set() : null);
        if (open.length > maxBodyDepth) return `nested deeper than ${maxBodyDepth} levels`;
        keyNext = token === jsonc.SyntaxKind.OpenBraceToken;
        break;
      case jsonc.SyntaxKind.CloseBraceToken:
      case jsonc.SyntaxKind.CloseBracketToken:
        open.pop();
        keyNext = false;
        break;
      case jsonc.SyntaxKind.CommaToken:
        keyNext = open.at(-1) instanceof Set;
        break;
      case jsonc.SyntaxKind.StringLiteral: {
        const keys = open.at(-1);
        if (keyNext && keys) {
          const key = scanner.getTokenValue();
          if (keys.has(key)) return `duplicate key '${key.slice(0, 64)}'`;
          keys.add(key);
        }
        keyNext = false;
        break;
      }
      default:
        keyNext = false;
    }
  }
  return undefined;
}

/**
 * The node's JSON body parser: UTF-8 that does not decode is refused (the
 * default parser turned it into U+FFFD), as are duplicate keys and deep
 * nesting; an empty body with a JSON content type is no body.
 */
export function registerJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  // Elasticsearch's clients send their own media type (compatible-with=8 or 9): the same JSON.
  app.addContentTypeParser(['application/json', 'application/vnd.elasticsearch+json'], { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return done(invalid('not valid UTF-8'), undefined);
    }
    const shape = jsonShapeError(text);
    if (shape) return done(invalid(shape), undefined);
    try {
      return done(null, JSON.parse(text));
    } catch {
      return done(invalid('not valid JSON'), undefined);
    }
  });
}

let ajv: Ajv | undefined;

/** Validators not compiled yet, for `warmValidators`. */
const cold = new Set<() => void>();

/**
 * Route validators for fastify, each compiled on its first request rather than
 * all at the node's start (tens of milliseconds of its first start), or by
 * `warmValidators` soon after the start, whichever comes first. Bodies are
 * checked as they are: no extra field silently dropped, no type silently
 * coerced; otherwise fastify's own Ajv options.
 */
export const lazyValidator: FastifySchemaCompiler<unknown> = ({ schema }) => {
  let compiled: ValidateFunction | undefined;
  const compile = (): ValidateFunction => {
    ajv ??= new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, addUsedSchema: false, allErrors: false });
    compiled ??= ajv.compile(schema as object);
    cold.delete(compile);
    return compiled;
  };
  cold.add(compile);
  const validate = (data: unknown): boolean => {
    const check = compiled ?? compile();
    const valid = check(data);
    validate.errors = check.errors;
    return valid;
  };
  validate.errors = undefined as ValidateFunction['errors'];
  return validate;
};

/** How many route validators are not compiled yet (0 once `warmValidators` is through). */
export const coldValidators = (): number => cold.size;

/**
 * Compile the validators no request has needed yet, one per turn of the event
 * loop, so that no request pays for it later: a node's first change compiled
 * Ajv's code generator cold and held its event loop ~100 ms (measured inside
 * the second node of a cluster while changes landed). The first compile still
 * takes tens of milliseconds at once, soon after the start, before traffic in
 * practice; each other one, a millisecond or two.
 */
export async function warmValidators(): Promise<void> {
  for (const compile of [...cold]) {
    await new Promise((resolve) => setImmediate(resolve));
    compile();
  }
}
