import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import { validators } from './compiled-validators.js';
import { routeSchemas, validatorOptions } from './route-schemas.js';
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
/**
 * Ajv, loaded the first time a schema has no validator compiled at build time (a plugin's route): a node without one
 * never loads it. Imported with the module, Ajv's 224 KB were parsed and run at every start, before the first answer.
 * Called by another name than `require`, which the bundler would take in.
 */
const loadAtRun = createRequire(import.meta.url);

/** Validators not compiled yet, for `warmValidators`. */
const cold = new Set<() => void>();

/** The validators compiled at build time, by their schema's JSON text (a route's schema is looked up as fastify hands it over). */
const precompiled = new Map<string, ValidateFunction>(Object.entries(routeSchemas).map(([name, schema]) => [JSON.stringify(schema), validators[name as keyof typeof routeSchemas]]));

/**
 * Route validators for fastify: the node's own schemas compiled at build time
 * (route-schemas.ts); any other (a plugin's route) compiled on its first
 * request, or by `warmValidators` soon after the start, whichever comes first.
 * Every schema with validatorOptions.
 */
export const lazyValidator: FastifySchemaCompiler<unknown> = ({ schema }) => {
  let compiled = precompiled.get(JSON.stringify(schema));
  const compile = (): ValidateFunction => {
    ajv ??= new (loadAtRun('ajv') as typeof import('ajv')).Ajv(validatorOptions);
    compiled ??= ajv.compile(schema as object);
    cold.delete(compile);
    return compiled;
  };
  if (!compiled) cold.add(compile);
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
 * Compile the validators no request has needed yet (a plugin's: the node's own
 * are compiled at build time), one per turn of the event loop, so that no
 * request pays for it later. The first compile loads Ajv's code generator cold:
 * tens of milliseconds at once, soon after the start.
 */
export async function warmValidators(): Promise<void> {
  for (const compile of [...cold]) {
    await new Promise((resolve) => setImmediate(resolve));
    compile();
  }
}
