import Fastify from 'fastify';
import pino from 'pino';
import t from 'tap';
import { noAudit } from '../../src/logging/audit.js';
import { registerAuthentication } from '../../src/node/authentication.js';
import { Authenticator } from '../../src/node/authenticator.js';
import { FileStore } from '../../src/security/file-store.js';
import { LoginThrottle } from '../../src/security/login-throttle.js';
import { hashPassword, verifyPassword } from '../../src/security/password.js';

t.test('a user taken while the refusal is being worked out (a notification during the slow hash) is checked again, not refused', async (t) => {
  const store = await FileStore.open(t.testdir());
  const hash = await hashPassword('ada-password-1');
  let calls = 0;
  // The first check is the dummy hash of an unknown user; while it runs, another node's change arrives.
  const verify = async (phc: string, password: string) => {
    if (calls++ === 0) store.install({ version: 1, users: { ada: { username: 'ada', id: 'i', passwordHash: hash, roles: [], enabled: true } } });
    return verifyPassword(phc, password);
  };
  const app = Fastify();
  registerAuthentication(app, { store, authenticator: new Authenticator(store, 60_000, verify), throttle: new LoginThrottle(), audit: noAudit, logger: pino({ level: 'silent' }) });
  app.get('/whoami', (request) => ({ username: request.principal?.user.username }));
  t.teardown(() => app.close());
  const answer = await app.inject({ url: '/whoami', headers: { authorization: `Basic ${Buffer.from('ada:ada-password-1').toString('base64')}` } });
  t.equal(answer.statusCode, 200, answer.body);
  t.same(answer.json(), { username: 'ada' });
  t.equal(calls, 2, 'the dummy hash, then the real one');
  // A wrong password with nothing new costs one hash, not two.
  calls = 1;
  const wrong = await app.inject({ url: '/whoami', headers: { authorization: `Basic ${Buffer.from('ada:not-the-password').toString('base64')}` } });
  t.equal(wrong.statusCode, 401);
  t.equal(calls, 2, 'one hash for a refusal when the store did not change');
});
