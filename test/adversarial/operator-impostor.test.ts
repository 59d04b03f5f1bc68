// Attack: something else listens where the tools look for the node (the node
// is stopped and its port taken, or --url names another server) and waits for
// an operator token. The tools trust the home's HTTP CA only (config/certs/
// http_ca.crt): a server whose certificate that CA did not sign, that is not
// valid now, or that does not cover localhost never receives a request. The
// check is the tool's own for a certificate the CA signed itself (no root
// store to load); a chain through an intermediate is OpenSSL's to build.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { issueCertificate, type IssuedCertificate, type SubjectAltName } from '../../src/pki/certificate.js';
import { generateKeyPairFor } from '../../src/pki/keys.js';
import { firstStartedHome, runCliAsNodeUser } from '../helpers/node-process.js';

const day = 86_400_000;
const localhost: SubjectAltName[] = [{ kind: 'dns', value: 'localhost' }, { kind: 'ip', value: '127.0.0.1' }];

/** An HTTPS server on loopback presenting `chain` (its leaf first), recording the Authorization header of every request it gets. */
async function server(t: { teardown(fn: () => unknown): void }, leaf: IssuedCertificate, chain: readonly IssuedCertificate[] = []) {
  const seen: string[] = [];
  const listening = createServer({ key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: [leaf, ...chain].map((entry) => entry.certificate.toString()).join('') }, (request, response) => {
    seen.push(String(request.headers.authorization));
    response.setHeader('content-type', 'application/json');
    response.end('{}');
  });
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  t.teardown(() => listening.close());
  return { url: `https://localhost:${(listening.address() as { port: number }).port}`, seen };
}

t.test('the tools send their operator token only to a server the home HTTP CA vouches for', async (t) => {
  const { home } = await firstStartedHome(t);
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const keys = await Promise.all([0, 1, 2, 3, 4, 5].map(() => generateKeyPairFor({ type: 'ec' })));
  const [caKeys, attackerKeys, strangerKeys, intermediateKeys, leafKeys, otherKeys] = keys as [typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0]];
  const notBefore = new Date(Date.now() - day);
  // The home's CA is one this test holds the key of; the tools trust what http_ca.crt holds.
  const ca = issueCertificate({ commonName: 'securenode HTTP CA', profile: 'ca', ...caKeys, validityDays: 30, notBefore });
  await writeFile(caFile, ca.certificate.toString());
  const leafOf = (issuer: IssuedCertificate, options: { altNames?: SubjectAltName[]; notBefore?: Date; validityDays?: number } = {}) =>
    issueCertificate({ commonName: 'node', profile: 'server', ...leafKeys, validityDays: options.validityDays ?? 5, notBefore: options.notBefore ?? notBefore, subjectAltNames: options.altNames ?? localhost, issuer });
  const reset = (url: string) => runCliAsNodeUser(['reset-password', '-u', 'elastic', '-b', '-s', '--url', url, '--home', home]);
  const refusal = (url: string, reason: string) => `ERROR: Failed to reset password for the [elastic] user: the server at ${url} is not this home's node: ${reason}; nothing was sent to it\n`;

  // The control: the same server with a certificate the CA signed gets the request, so each refusal below is the certificate's.
  const genuine = await server(t, leafOf(ca));
  const accepted = await reset(genuine.url);
  t.equal(accepted.exitCode, 0, accepted.stderr);
  t.match(accepted.stdout, /^[A-Za-z0-9*\-_=+]{20}\n$/);
  t.match(genuine.seen, [/^Operator [A-Za-z0-9._-]+$/], 'one request, with an operator token');

  // The CA's certificate is public: a forger copies its name and key identifier, and signs with a key of its own.
  const forged = await server(t, leafOf({ ...ca, privateKey: attackerKeys.privateKey }));
  t.same(await reset(forged.url), { exitCode: 75, stdout: '', stderr: refusal(forged.url, `the server's certificate is not signed by the HTTP CA in ${caFile}`) });
  t.same(forged.seen, [], 'the forger got nothing');

  const expired = await server(t, leafOf(ca, { notBefore: new Date(Date.now() - 10 * day), validityDays: 2 }));
  t.same(await reset(expired.url), { exitCode: 75, stdout: '', stderr: refusal(expired.url, "the server's certificate is not valid now") });
  const early = await server(t, leafOf(ca, { notBefore: new Date(Date.now() + 2 * day) }));
  t.same(await reset(early.url), { exitCode: 75, stdout: '', stderr: refusal(early.url, "the server's certificate is not valid now") });
  const elsewhere = await server(t, leafOf(ca, { altNames: [{ kind: 'dns', value: 'node.example' }, { kind: 'ip', value: '192.0.2.5' }] }));
  t.same(await reset(elsewhere.url), { exitCode: 75, stdout: '', stderr: refusal(elsewhere.url, "the server's certificate does not cover localhost") });
  t.same([...expired.seen, ...early.seen, ...elsewhere.seen], [], 'nothing reached a server whose certificate is not valid now or not for localhost');

  // Another CA altogether (here presenting the home's CA beside its leaf): OpenSSL refuses it.
  const stranger = issueCertificate({ commonName: 'stranger CA', profile: 'ca', ...strangerKeys, validityDays: 30, notBefore });
  const strange = await server(t, leafOf(stranger), [ca]);
  const refused = await reset(strange.url);
  t.equal(refused.exitCode, 75);
  t.match(refused.stderr, new RegExp(`^ERROR: Failed to reset password for the \\[elastic\\] user: could not reach the node at ${strange.url} \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)\\n$`));
  t.same(strange.seen, [], 'the stranger got nothing');

  // An operator's own chain through an intermediate of the home's CA: OpenSSL builds it, and the node is trusted.
  const intermediate = issueCertificate({ commonName: 'securenode HTTP intermediate', profile: 'ca', ...intermediateKeys, validityDays: 20, notBefore, issuer: ca });
  const chained = await server(t, leafOf(intermediate), [intermediate]);
  const through = await reset(chained.url);
  t.equal(through.exitCode, 0, through.stderr);
  t.match(chained.seen, [/^Operator /], 'a chain through an intermediate of the home CA is trusted');
  // ... and one through an intermediate of another CA is not, though it bears the same name.
  const impostorIntermediate = issueCertificate({ commonName: 'securenode HTTP intermediate', profile: 'ca', ...otherKeys, validityDays: 20, notBefore, issuer: stranger });
  const falseChain = await server(t, leafOf(impostorIntermediate), [impostorIntermediate]);
  const broken = await reset(falseChain.url);
  t.equal(broken.exitCode, 75);
  t.match(broken.stderr, /could not reach the node at https:\/\/localhost:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)\n$/);
  t.same(falseChain.seen, [], 'the false chain got nothing');

  // A rotation: http_ca.crt holds the old CA and the new; a node already on the new one is trusted.
  const nextCa = issueCertificate({ commonName: 'securenode HTTP CA 2', profile: 'ca', ...otherKeys, validityDays: 30, notBefore });
  await writeFile(caFile, ca.certificate.toString() + nextCa.certificate.toString());
  const rotated = await server(t, leafOf(nextCa));
  const afterRotation = await reset(rotated.url);
  t.equal(afterRotation.exitCode, 0, afterRotation.stderr);
  t.equal(rotated.seen.length, 1);

  await writeFile(caFile, 'no certificate\n');
  t.same(await reset(genuine.url), { exitCode: 75, stdout: '', stderr: `ERROR: Failed to reset password for the [elastic] user: ${caFile} holds no certificate; it is the HTTP CA the tools trust\n` });
  t.equal(genuine.seen.length, 1, 'nothing more was sent');
});
