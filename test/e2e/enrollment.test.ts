import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:https';
import t from 'tap';
import { parse } from 'yaml';
import { decodeEnrollmentToken, encodeEnrollmentToken } from '../../src/enrollment/token.js';
import { homePaths } from '../../src/home/layout.js';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';
import { curl, statusOf } from '../helpers/curl.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

const password = 'enroll-tests-pass-1';

async function runningNode(t: { teardown(fn: () => unknown): void }, args: string[] = []) {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password }, args });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  return { dir, home, node, port, ca: `${homePaths(home).certsDir}/http_ca.crt` };
}

t.test('a client enrolls, and its service token authenticates; the files are 0600', async (t) => {
  const { dir, home, port, ca } = await runningNode(t);
  const created = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
  t.equal(created.exitCode, 0, created.stderr);
  t.match(created.stdout, /^[A-Za-z0-9_-]+={0,2}\n$/, 'the token and nothing else');
  const token = decodeEnrollmentToken(created.stdout.trim());
  t.ok(token.adr.every((address) => !address.startsWith('127.') && !address.startsWith('[::1]')), 'loopback dropped when other addresses exist');
  const out = `${dir}/client`;
  const enrolled = await runCliAsNodeUser(['enroll', '--enrollment-token', created.stdout.trim(), '--out', out]);
  t.equal(enrolled.exitCode, 0, enrolled.stderr);
  t.match(enrolled.stdout, `Wrote ${out}/ca.crt and ${out}/client.yml (mode 0600)`);
  t.equal((await stat(`${out}/client.yml`)).mode & 0o777, 0o600);
  t.equal((await stat(`${out}/ca.crt`)).mode & 0o777, 0o600);
  t.equal(await readFile(`${out}/ca.crt`, 'utf8'), await readFile(ca, 'utf8'));
  const client = parse(await readFile(`${out}/client.yml`, 'utf8')) as { hosts: string[]; ca: string; service_token: string };
  t.same(client.hosts, token.adr.map((address) => `https://${address}`));
  const me = await curl(port, client.ca, ['-H', `Authorization: Bearer ${client.service_token}`], '/_security/_authenticate');
  t.equal(statusOf(me), '200');
  t.match(JSON.parse(me.stdout.split('\n')[0]!), { username: 'service/client', authentication_type: 'service_token' });
  const again = await runCliAsNodeUser(['enroll', '--enrollment-token', created.stdout.trim(), '--out', out]);
  t.equal(again.exitCode, 73, 'an existing client.yml is never overwritten');
});

t.test('the enrollment key opens nothing but its enroll endpoint; an expired one is refused', async (t) => {
  const { dir, home, port, ca } = await runningNode(t);
  const { stdout } = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
  const apiKey = `ApiKey ${Buffer.from(decodeEnrollmentToken(stdout.trim()).key).toString('base64')}`;
  for (const path of ['/', '/_security/api_key', '/_security/_authenticate', '/_security/enroll/node']) {
    t.equal(statusOf(await curl(port, ca, ['-H', `Authorization: ${apiKey}`], path)), '403', `${path} is closed to the enrollment key`);
  }
  const short = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--ttl', '1s', '--home', home]);
  const expiresAt = Date.now() + 1000;
  while (Date.now() <= expiresAt + 50) await new Promise((resolve) => setTimeout(resolve, 50));
  const expired = await runCliAsNodeUser(['enroll', '--enrollment-token', short.stdout.trim(), '--out', `${dir}/late`]);
  t.equal(expired.exitCode, 69);
  t.match(expired.stderr, /refused the enrollment: Invalid credentials \(the token may have expired or been used up;/);
  await t.rejects(stat(`${dir}/late`), { code: 'ENOENT' }, 'nothing written');
});

t.test('a token whose fgr was altered enrolls nothing; a server with another CA never sees the key', async (t) => {
  const { dir, home } = await runningNode(t);
  const { stdout } = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
  const token = decodeEnrollmentToken(stdout.trim());
  const altered = encodeEnrollmentToken({ ...token, fgr: `${token.fgr.slice(0, -1)}${token.fgr.endsWith('0') ? '1' : '0'}` });
  const refused = await runCliAsNodeUser(['enroll', '--enrollment-token', altered, '--out', `${dir}/altered`]);
  t.equal(refused.exitCode, 69);
  t.match(refused.stderr, /^ERROR: could not communicate with the node on any of the addresses from the enrollment token; all of \[.*\] were attempted: .*fingerprint mismatch/);
  await t.rejects(stat(`${dir}/altered`), { code: 'ENOENT' });

  // An impostor with a certificate from another CA, for 127.0.0.1: it must never receive a request.
  const impostor = await generateTlsMaterial({ nodeName: 'impostor', subjectAltNames: discoverSubjectAltNames() });
  const seen: string[] = [];
  const server = createServer({ pfx: impostor.httpP12, passphrase: impostor.passwords.http }, (request, response) => {
    seen.push(String(request.headers.authorization));
    response.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const decoy = encodeEnrollmentToken({ ...token, adr: [`127.0.0.1:${port}`] });
  const result = await runCliAsNodeUser(['enroll', '--enrollment-token', decoy, '--out', `${dir}/decoy`]);
  t.equal(result.exitCode, 69);
  t.same(seen, [], 'the API key never reached the impostor');
});

t.test('API keys: create, use, invalidate at once; exit codes of the tools', async (t) => {
  const { home, port, ca } = await runningNode(t);
  const made = await curl(port, ca, ['-u', `elastic:${password}`, '-X', 'POST', '-H', 'content-type: application/json', '-d', '{"name":"ci-key","expiration":"1h"}'], '/_security/api_key');
  t.equal(statusOf(made), '200');
  const key = JSON.parse(made.stdout.split('\n')[0]!) as { id: string; encoded: string };
  t.equal(statusOf(await curl(port, ca, ['-H', `Authorization: ApiKey ${key.encoded}`], '/_security/_authenticate')), '200');
  const listed = JSON.parse((await curl(port, ca, ['-u', `elastic:${password}`], '/_security/api_key')).stdout.split('\n')[0]!) as { api_keys: { id: string }[] };
  t.ok(listed.api_keys.some((entry) => entry.id === key.id));
  t.notMatch(JSON.stringify(listed), /api_key"|secret/, 'no secret in the listing');
  const removed = await curl(port, ca, ['-u', `elastic:${password}`, '-X', 'DELETE', '-H', 'content-type: application/json', '-d', JSON.stringify({ ids: [key.id] })], '/_security/api_key');
  t.match(JSON.parse(removed.stdout.split('\n')[0]!), { invalidated_api_keys: [key.id] });
  t.equal(statusOf(await curl(port, ca, ['-H', `Authorization: ApiKey ${key.encoded}`], '/_security/_authenticate')), '401', 'invalidated at once');

  t.same(await runCliAsNodeUser(['enroll', '--enrollment-token', 'not-a-token']), { exitCode: 65, stdout: '', stderr: 'ERROR: invalid enrollment token: copy it again, whole, from the node that created it\n' });
  t.same(await runCliAsNodeUser(['create-enrollment-token', '-s', 'kibana', '--home', home]), { exitCode: 64, stdout: '', stderr: 'ERROR: Invalid scope [kibana]: the scope of this enrollment token can only be one of [node, client]\n' });
  t.same(await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home, '-E', 'security.enrollment.enabled=false']), {
    exitCode: 78,
    stdout: '',
    stderr: 'ERROR: [security.enrollment.enabled] must be set to `true` to create an enrollment token\n',
  });
});

t.test('with enrollment disabled the endpoint answers 403 with the reason', async (t) => {
  const { port, ca } = await runningNode(t, ['-E', 'security.enrollment.enabled=false']);
  for (const path of ['/_security/enroll/client', '/_security/enroll/node']) {
    const answer = await curl(port, ca, ['-u', `elastic:${password}`], path);
    t.equal(answer.stdout, '{"error":"Enrollment mode is not enabled. Set [security.enrollment.enabled] to true, in order to use this API."}\n403', path);
  }
});
