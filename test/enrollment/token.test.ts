import fc from 'fast-check';
import t from 'tap';
import { decodeEnrollmentToken, encodeEnrollmentToken } from '../../src/enrollment/token.js';

const token = { ver: '0.1.0', adr: ['192.0.2.5:9200', '[2001:db8::1]:9200'], fgr: 'a'.repeat(64), key: 'id1:secret1' };

t.test('compact JSON in field order, URL-safe base64 with padding; decoding accepts both alphabets and no ver', async (t) => {
  const encoded = encodeEnrollmentToken(token);
  t.equal(Buffer.from(encoded, 'base64').toString(), '{"ver":"0.1.0","adr":["192.0.2.5:9200","[2001:db8::1]:9200"],"fgr":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","key":"id1:secret1"}');
  t.notMatch(encoded, /[+/]/);
  t.same(decodeEnrollmentToken(encoded), token);
  const standard = Buffer.from(JSON.stringify(token)).toString('base64');
  t.same(decodeEnrollmentToken(standard), token);
  const { ver: _ver, ...noVersion } = token;
  t.same(decodeEnrollmentToken(encodeEnrollmentToken(noVersion)), noVersion);
  t.equal(encodeEnrollmentToken(noVersion).length % 4, 0, 'padded');
});

t.test('anything malformed is "invalid enrollment token" (65)', async (t) => {
  const bad = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');
  const cases = [
    '', 'not base64!', bad('not json'), bad([1]), bad(null),
    bad({ ...token, extra: 1 }), bad({ ...token, ver: 1 }), bad({ ...token, adr: [] }), bad({ ...token, adr: ['nohost'] }),
    bad({ ...token, fgr: 'A'.repeat(64) }), bad({ ...token, fgr: 'a'.repeat(63) }), bad({ ...token, key: 'nocolon' }), bad({ ...token, key: undefined }),
  ];
  for (const text of cases) t.throws(() => decodeEnrollmentToken(text), { code: 'ERR_ENROLLMENT_TOKEN', message: 'invalid enrollment token: copy it again, whole, from the node that created it' }, text.slice(0, 30));
});

t.test('property: random text never crashes the decoder', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((text) => Buffer.from(text).toString('base64'))), (text) => {
      try {
        decodeEnrollmentToken(text);
        return true;
      } catch (error) {
        return (error as { code?: string }).code === 'ERR_ENROLLMENT_TOKEN';
      }
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random tokens');
});
