// Property tests (fast-check) of everything that reads outside input: random and
// mutated inputs never crash, never print a stack, and always fail with a
// documented code and a one-line message.
import fc from 'fast-check';
import t from 'tap';
import { isSecurenodeError } from '../../src/errors.js';
import { openEnvelope, sealEnvelope } from '../../src/keystore/envelope.js';
import { parseConfigText } from '../../src/settings/config-file.js';
import { mergeSettings } from '../../src/settings/load.js';
import { parseVaultReference, VaultReferenceError } from '../../src/settings/vault/reference.js';

const oneLine = (message: string) => !message.includes('\n') && !/\bat .+:\d+:\d+\)?$/m.test(message);

t.test('securenode.yml: any text parses or fails with a config code and one line', async (t) => {
  const yamlish = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.array(fc.oneof(fc.constantFrom('http.port: 9200', 'http:', '  port: 1', '- a', 'a: [b', '\t', 'x: "y', 'node.name: n', '{', 'a: 1', 'a: 2', '&x a', '*x', '? a', ': b'), fc.string({ maxLength: 20 })), { maxLength: 8 }).map((lines) => lines.join('\n')),
  );
  fc.assert(
    fc.property(yamlish, (text) => {
      try {
        const settings = parseConfigText(text, 'f.yml');
        try {
          mergeSettings('f.yml', settings, {}, []);
        } catch (error) {
          return isSecurenodeError(error) && error.exitCode === 78 && oneLine(error.message);
        }
        return true;
      } catch (error) {
        return isSecurenodeError(error) && ['ERR_CONFIG_SYNTAX', 'ERR_CONFIG_DUPLICATE_KEY'].includes(error.code) && error.exitCode === 78 && oneLine(error.message);
      }
    }),
    { numRuns: 500 },
  );
  t.pass('500 random files');
});

t.test('settings from the environment and -E: any key and value are accepted or refused with 64 or 78', async (t) => {
  const key = fc.oneof(fc.constantFrom('http.port', 'node.roles', 'security.enabled', 'security.authc.cache.ttl', 'cluster.name', 'discovery.seed_hosts'), fc.string({ maxLength: 30 }));
  fc.assert(
    fc.property(key, fc.string({ maxLength: 40 }), (name, value) => {
      try {
        mergeSettings('f.yml', [], { [`SECURENODE_${name.replace(/\./g, '_').toUpperCase()}`]: value }, [`${name}=${value}`, name]);
        return true;
      } catch (error) {
        return isSecurenodeError(error) && [64, 78].includes(error.exitCode) && oneLine(error.message);
      }
    }),
    { numRuns: 500 },
  );
  t.pass('500 random overrides');
});

t.test('vault references: any text inside {vault://...} parses or fails with one of the documented reasons', async (t) => {
  const reasons = /^(reference url is missing host|reference url is missing path|reference url has empty path|reference url has invalid path|reference url has invalid version|not a vault reference: .*)$/;
  const inner = fc.oneof(fc.string({ maxLength: 60 }), fc.array(fc.constantFrom('env', 'hcv', '/', '//', 'a', '%', '%zz', '%41', '?', '&', '=', '#', '#2', '#x', 'key'), { maxLength: 12 }).map((parts) => parts.join('')));
  fc.assert(
    fc.property(inner, fc.boolean(), (text, wrapped) => {
      const reference = wrapped ? `{vault://${text}}` : text;
      try {
        const parsed = parseVaultReference(reference);
        return parsed.backend.length > 0 && parsed.resource.length > 0 && (parsed.version === undefined || Number.isInteger(parsed.version));
      } catch (error) {
        return error instanceof VaultReferenceError && reasons.test(error.message);
      }
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random references');
});

t.test('keystore reader: mutated envelopes fail with 65, never crash, never open with changed content', async (t) => {
  const kdf = { name: 'scrypt', N: 2 ** 14, r: 8, p: 1 } as const;
  const sealed = JSON.stringify(await sealEnvelope(Buffer.from('{"entries":{"a":{"type":"string","value":"c2VjcmV0"}}}'), 'pw', kdf));
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: sealed.length - 1 }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat({ max: sealed.length - 1 }), to: fc.string({ minLength: 1, maxLength: 1 }) }),
    fc.record({ kind: fc.constant('random' as const), text: fc.string({ maxLength: 300 }) }),
  );
  await fc.assert(
    fc.asyncProperty(mutation, async (change) => {
      const text =
        change.kind === 'truncate' ? sealed.slice(0, change.at) : change.kind === 'flip' ? sealed.slice(0, change.at) + change.to + sealed.slice(change.at + 1) : change.text;
      try {
        const plaintext = await openEnvelope(text, 'pw', '/k');
        return plaintext.toString() === '{"entries":{"a":{"type":"string","value":"c2VjcmV0"}}}';
      } catch (error) {
        return isSecurenodeError(error) && error.exitCode === 65 && oneLine(error.message);
      }
    }),
    { numRuns: 150 },
  );
  t.pass('150 mutated keystores');
});
