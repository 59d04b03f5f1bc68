import fc from 'fast-check';
import t from 'tap';
import { encodeMessage } from '../../src/cluster/connection.js';
import { emptyStore, StorePages, takePage } from '../../src/cluster/store-pages.js';
import { applyInPlace } from '../../src/security/store-ops.js';
import type { StoreData, StoreOp } from '../../src/security/store.js';

/** What a replica receives: the answer encoded as the transport encodes it, and parsed. */
const wire = (body: unknown): unknown => (JSON.parse(encodeMessage({ type: 'response', id: 7, body })) as { body: unknown }).body;

// Keys an attacker or an odd name gives: the prototype's names, quotes, backslashes, separators, characters beyond the BMP.
const key = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', '"', '\\', '],[', '{}', '', '\u2028'), fc.string({ maxLength: 12, unit: 'grapheme' }));
const user = (username: string) => fc.record({ username: fc.constant(username), id: fc.uuid(), passwordHash: fc.string({ maxLength: 40 }), roles: fc.array(key, { maxLength: 3 }), enabled: fc.boolean() });
const store = fc
  .record({
    users: fc.uniqueArray(key, { maxLength: 40 }).chain((names) => fc.tuple(...names.map(user))),
    roles: fc.option(fc.uniqueArray(key, { maxLength: 5 }), { nil: undefined }),
    sessions: fc.option(fc.uniqueArray(key, { maxLength: 5 }), { nil: undefined }),
  })
  .map(({ users, roles, sessions }) => {
    const data = { version: 1, users: {} } as StoreData;
    for (const entry of users) applyInPlace(data, { op: 'putUser', user: entry });
    if (roles) data.roles = {};
    for (const name of roles ?? []) applyInPlace(data, { op: 'putRole', role: { id: `r-${name}`, name, endpoints: [{ endpoint: `/${name}`, actions: ['read'], negative: false }], entities: [] } });
    if (sessions) data.sessions = {};
    for (const id of sessions ?? []) applyInPlace(data, { op: 'putSession', session: { id, secretHash: 'h', username: 'x', userId: 'u', credential: 'c', csrf: 't', created: 1, lastSeen: 2 } });
    return data;
  });
const change: fc.Arbitrary<StoreOp> = fc.oneof(
  key.chain((name) => user(name)).map((entry) => ({ op: 'putUser' as const, user: entry })),
  key.map((username) => ({ op: 'deleteUser' as const, username })),
  key.map((name) => ({ op: 'deleteRole' as const, name })),
);

t.test('a replica builds from the pages exactly the store as it was when they were captured, whatever its keys, the page size, and the changes made meanwhile', async (t) => {
  fc.assert(
    fc.property(store, fc.integer({ min: 1, max: 600 }), fc.array(fc.array(change, { maxLength: 3 }), { maxLength: 30 }), (data, pageChars, changes) => {
      const expected = JSON.stringify(data);
      const largestPair = Math.max(0, ...Object.values(data).flatMap((record) => (typeof record === 'object' ? Object.entries(record as object).map((pair) => JSON.stringify(pair).length) : [])));
      const pages = new StorePages(data, pageChars);
      const replica = emptyStore(wire(pages.base));
      if (!replica) return false;
      let done = false;
      let pagesSent = 0;
      for (let index = 0; !done; index++, pagesSent++) {
        const page = pages.page(index)!;
        // A page stops at the first entry that reaches its size: one entry over at most, with the record names around it.
        if (page.text.text.length > pageChars + largestPair + 200) return false;
        done = takePage(replica, wire(page.text));
        // The holder's store changes between two pages: the pages keep the store as it was.
        for (const op of changes[index] ?? []) applyInPlace(data, op);
      }
      // Every page holds an entry: no empty page, however small the size or whatever records are empty.
      const entries = Object.values(JSON.parse(expected) as object).reduce((sum: number, record) => sum + (typeof record === 'object' ? Object.keys(record as object).length : 0), 0);
      return JSON.stringify(replica) === expected && Object.getPrototypeOf(replica.users) === Object.prototype && pagesSent <= Math.max(1, entries);
    }),
    { numRuns: 300 },
  );
});

t.test("a page is given once, again only when it is the last one asked for (an answer lost on the way), and never after the last", async (t) => {
  const data = { version: 1, users: {} } as StoreData;
  for (let index = 0; index < 50; index++) applyInPlace(data, { op: 'putUser', user: { username: `u${index}`, id: `id${index}`, passwordHash: 'h'.repeat(50), roles: [], enabled: true } });
  const pages = new StorePages(data, 1_000);
  t.equal(pages.page(1), undefined, 'not the first: nothing');
  const first = pages.page(0)!;
  t.equal(pages.page(0), first, 'the first again: the same page');
  t.equal(pages.page(2), undefined, 'skipping one: nothing');
  const texts = [first.text.text];
  for (let index = 1; ; index++) {
    const page = pages.page(index)!;
    texts.push(page.text.text);
    if (page.done) {
      t.equal(pages.page(index + 1), undefined, 'after the last: nothing');
      t.equal(pages.page(index - 1), undefined, 'two back: nothing');
      break;
    }
  }
  t.ok(texts.length >= 7, `${texts.length} pages of about 1,000 characters for ~6,000 characters of users`);
  t.ok(texts.every((text) => text.length < 1_300), 'each near the size asked');
});

t.test('what is not a store or not a page is refused, not installed', async (t) => {
  t.equal(emptyStore(undefined), undefined);
  t.equal(emptyStore({ version: 2, users: {} }), undefined, 'another version');
  t.equal(emptyStore({ version: 1, users: null }), undefined);
  t.equal(emptyStore({ version: 1, users: {}, roles: 'x' }), undefined);
  t.same(emptyStore({ version: 1, users: {}, roles: {} }), { version: 1, users: {}, roles: {} });
  const data = { version: 1, users: {} } as StoreData;
  t.throws(() => takePage(data, { entries: {} }), { message: 'the holder sent something that is not a page of the store' });
  t.throws(() => takePage(data, { done: true }));
  t.throws(() => takePage(data, null));
  t.equal(takePage(data, { entries: { users: [['a', { username: 'a' }], 'junk', [1, {}]], other: [['b', {}]] }, done: false }), false);
  t.same(data, { version: 1, users: { a: { username: 'a' } } }, 'only pairs with a string key, only into the records a store has');
});
