import { createRequire } from 'node:module';
import t from 'tap';
import { coldValidators, lazyValidator, warmValidators } from '../../src/node/body-limits.js';
import { routeSchemas } from '../../src/node/route-schemas.js';

// The node's own schemas are compiled at build time; a schema that is not (a plugin's route) is compiled with Ajv,
// which is loaded then and not with the module: a node whose routes are all its own never loads it.

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => /\/node_modules\/ajv\/dist\/ajv\.js$/.test(path));
const compilerArgs = (schema: object) => ({ schema, method: 'PUT', url: '/plugin', httpPart: 'body' }) as Parameters<typeof lazyValidator>[0];

t.test("the node's own schemas need no Ajv: validators compiled at build time, none cold", (t) => {
  const validate = lazyValidator(compilerArgs(routeSchemas.roleBody));
  t.equal(coldValidators(), 0);
  t.equal(validate({ endpoints: [], entities: [], extra: 1 }), false, 'an unknown field is refused');
  t.same(loaded(), [], 'Ajv is not loaded');
  t.end();
});

t.test("a plugin's schema is compiled with Ajv, loaded at the first need, with the node's options", async (t) => {
  const validate = lazyValidator(compilerArgs({ type: 'object', properties: { size: { type: 'integer', default: 3 } }, additionalProperties: false }));
  t.equal(coldValidators(), 1, 'left to compile');
  t.same(loaded(), [], 'and Ajv still not loaded');
  await warmValidators();
  t.equal(coldValidators(), 0);
  t.equal(loaded().length, 1, 'compiled ahead of its first request, Ajv loaded for it');
  const body: Record<string, unknown> = {};
  t.equal(validate(body), true);
  t.same(body, { size: 3 }, 'defaults filled in (useDefaults)');
  t.equal(validate({ size: '3' }), false, 'no type coerced (coerceTypes false)');
  t.equal(validate({ size: 1, other: 1 }), false, 'no extra field dropped silently (removeAdditional false)');
  t.end();
});
