// The validators `npm run build` compiles ahead (scripts/validators.mjs) must
// decide every body, parameter and store file exactly as Ajv compiling the same
// schema at run time with the node's options: an attacker's body that one
// accepts and the other refuses would be a hole made by the build.
import fc from 'fast-check';
import { Ajv } from 'ajv';
import t from 'tap';
import { validators } from '../../src/node/compiled-validators.js';
import { routeSchemas, validatorOptions } from '../../src/node/route-schemas.js';
import { storeSchema } from '../../src/security/store-shape.js';

const schemas: Record<string, object> = { ...routeSchemas, store: storeSchema };

/** The property names a schema speaks of, at any depth: generated objects use them, so that values reach the inner checks. */
function namesIn(schema: unknown, into = new Set<string>()): Set<string> {
  if (schema && typeof schema === 'object') {
    const properties = (schema as { properties?: Record<string, unknown> }).properties;
    if (properties) for (const name of Object.keys(properties)) into.add(name);
    for (const value of Object.values(schema)) namesIn(value, into);
  }
  return into;
}

/** A value each schema accepts: generated edits of it reach the checks below the required fields. */
const examples: Record<string, unknown> = {
  nameParams: { name: 'ada' },
  userBody: { password: 'ada-password-123', roles: ['reader'], full_name: 'Ada', email: null, enabled: true, metadata: {} },
  passwordBody: { password: 'ada-password-123' },
  roleBody: { description: 'd', endpoints: [{ endpoint: '/reports', actions: ['read'], negative: false }], entities: [{ entity_id: 'ada', entity_type: 'user', actions: ['*'] }] },
  apiKeyBody: { name: 'key', expiration: '1d', role_descriptors: { enroll: { cluster: ['enroll_client'] } } },
  tokenParams: { name: 'ada', id: 'abc_DEF-1' },
  tokenBody: { name: 'token', expiration: '1h' },
  enrollmentTokenBody: { scope: 'client', ttl: '30m' },
  auditQuery: { user: 'ada', event: 'authentication_failed', size: '10' },
  store: {
    version: 1,
    seq: 3,
    users: { ada: { username: 'ada', passwordHash: 'h', roles: ['r'], enabled: true } },
    roles: { r: { id: 'i', name: 'r', endpoints: [{ endpoint: '/', actions: ['read'], negative: false }], entities: [] } },
    apiKeys: { k: { id: 'k', name: 'n', secretHash: 's', creator: 'ada', scope: 'all', created: 1, invalidated: false } },
  },
};

/** `example` with each edit applied: a field set to a value or removed, at the top or one level down. */
function edited(example: unknown, edits: readonly (readonly [boolean, string, unknown, boolean])[]): unknown {
  const copy = structuredClone(example) as Record<string, unknown>;
  for (const [deep, name, value, remove] of edits) {
    const inner = Object.values(copy).find((item) => item && typeof item === 'object') as Record<string, unknown> | unknown[] | undefined;
    const target = (deep && inner ? (Array.isArray(inner) ? inner[0] : Object.values(inner)[0] ?? inner) : copy) as Record<string, unknown> | undefined;
    if (!target || typeof target !== 'object') continue;
    if (remove) delete target[name];
    else target[name] = value;
  }
  return copy;
}

t.test('each compiled validator decides as Ajv at run time does, on generated values shaped like its schema', async (t) => {
  const runtime = new Ajv(validatorOptions);
  t.same(Object.keys(validators).sort(), Object.keys(schemas).sort(), 'one compiled validator per schema');
  for (const [name, schema] of Object.entries(schemas)) {
    const compiled = validators[name as keyof typeof validators];
    const reference = runtime.compile(schema);
    const names = [...namesIn(schema), 'extra', '__proto__', 'constructor'];
    const leaf = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 300 }), fc.constantFrom('read', 'create', 'client', 'node', 'user', '*', 'x'.repeat(1025), 'elastic', '_internal', 'a/b'));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.constantFrom(...names), tie('value'), { maxKeys: 6 })),
    }));
    const shaped = fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 8 });
    const example = examples[name];
    t.ok(compiled(structuredClone(example)), `${name}: its example is valid`);
    const edits = fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...names), value, fc.boolean()), { minLength: 1, maxLength: 3 }).map((list) => edited(example, list));
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(shaped, value, edits, edits), (data) => {
        const expected = reference(structuredClone(data));
        const actual = compiled(structuredClone(data));
        if (actual) accepted++;
        return actual === expected && (actual || compiled.errors?.[0]?.instancePath === reference.errors?.[0]?.instancePath);
      }),
      { numRuns: 600 },
    );
    t.pass(`${name}: the same verdict and the same first error's place on 600 values (${accepted} accepted)`);
  }
});
