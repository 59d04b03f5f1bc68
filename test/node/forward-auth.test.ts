import fc from 'fast-check';
import t from 'tap';
import { headerSafe, wellFormed } from '../../src/node/forward-auth.js';

t.test('an identity header value: any name gives visible ASCII that decodes back to it', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
      const value = headerSafe(name);
      return /^[\x21-\x7e]*$/.test(value) && decodeURIComponent(value) === wellFormed(name);
    }),
    { numRuns: 2_000 },
  );
  t.equal(headerSafe('ada'), 'ada');
  t.equal(headerSafe('zoë r%'), 'zo%C3%AB%20r%25');
  t.equal(headerSafe('a\r\nX-Securenode-Roles: superuser'), 'a%0D%0AX-Securenode-Roles:%20superuser', 'no header injection');
});
