import fc from 'fast-check';
import type { StoreOp } from '../../src/security/store.js';

// Changes to the security store as fast-check generates them: a few names, so that changes meet one another (the same
// user put twice, deleted, put again), among them names a plain object treats specially and names an array literal
// must quote (a database's arrays of names: 'NULL' is no null, a quote or a brace no end).

const names = fc.constantFrom('ada', 'bea', 'cy', '__proto__', 'constructor', 'NULL', 'a"b\\c,{d}');
const sessionIds = fc.constantFrom('s1', 's2', '__proto__');
const roleNames = fc.constantFrom('ops', 'audit', '__proto__');
/** Text a database column takes (anything but NUL, which PostgreSQL refuses in text), with what an array literal quotes. */
const text = fc
  .string({ maxLength: 12, unit: fc.oneof(fc.constantFrom('"', '\\', ',', '{', '}', ' ', 'NULL'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })) })
  .filter((value) => !value.includes('\u0000'));
/** A time as the store keeps it, from year 1 to 9999 (a database reads it back as milliseconds, to the millisecond). */
/** The roles a user or an API key holds: names of roles made here, or any text (a list the database keeps as an array and reads back as JSON). */
const roleList = fc.uniqueArray(fc.oneof(roleNames, text), { maxLength: 3 });
const millis = fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }));

/** One change of any kind the store takes. */
export const storeOp: fc.Arbitrary<StoreOp> = fc.oneof(
  fc.record({ op: fc.constant('putUser' as const), user: fc.record({ username: names, id: fc.uuid(), passwordHash: text, roles: roleList, enabled: fc.boolean(), fullName: text, email: text, metadata: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean())) }, { requiredKeys: ['username', 'id', 'passwordHash', 'roles', 'enabled'] }) }),
  fc.record({ op: fc.constant('deleteUser' as const), username: names }),
  fc.record({ op: fc.constant('putRole' as const), role: fc.record({ name: roleNames, id: fc.uuid(), description: text, endpoints: fc.array(fc.record({ endpoint: fc.constantFrom('/*', '/_security/user/*'), actions: fc.constant(['read' as const]), negative: fc.boolean() }), { maxLength: 2 }), entities: fc.constant([]) }, { requiredKeys: ['name', 'id', 'endpoints', 'entities'] }) }),
  fc.record({ op: fc.constant('deleteRole' as const), name: roleNames }),
  fc.record({ op: fc.constant('putApiKeys' as const), keys: fc.uniqueArray(fc.record({ id: fc.constantFrom('k1', 'k2', 'k3'), name: text, secretHash: text, creator: names, ownerId: fc.uuid(), roles: roleList, scope: fc.constantFrom('all' as const, 'enroll_node' as const), created: millis, expires: millis, invalidated: fc.boolean() }, { requiredKeys: ['id', 'name', 'secretHash', 'creator', 'scope', 'created', 'invalidated'] }), { selector: (key) => key.id, maxLength: 2 }) }),
  fc.record({ op: fc.constant('putServiceToken' as const), token: fc.record({ name: fc.constantFrom('t1', 't2'), secretHash: text, created: millis }) }),
  fc.record({ op: fc.constant('putSession' as const), session: fc.record({ id: sessionIds, secretHash: text, username: names, userId: fc.uuid(), credential: text, csrf: text, created: millis, lastSeen: millis }) }),
  fc.record({ op: fc.constant('deleteSessions' as const), ids: fc.uniqueArray(sessionIds, { maxLength: 2 }) }),
);
