import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import t from 'tap';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';
import { certificateProfiles, generateTlsMaterial, type TlsMaterial } from '../../src/pki/tls-material.js';
import { openssl } from '../helpers/openssl.js';

const started = Date.now();
const material: TlsMaterial = await generateTlsMaterial({
  nodeName: 'node_1',
  subjectAltNames: discoverSubjectAltNames({ publishHosts: ['node1.example.test', '198.51.100.7'] }),
});
const generatedAt = Date.now();

t.test('the chain verifies with Node X509Certificate', async (t) => {
  const { httpCa, http, transportCa, transport } = material;
  t.equal(http.certificate.checkIssued(httpCa.certificate), true);
  t.equal(http.certificate.verify(httpCa.certificate.publicKey), true);
  t.equal(transport.certificate.checkIssued(transportCa.certificate), true);
  t.equal(transport.certificate.verify(transportCa.certificate.publicKey), true);
  t.equal(httpCa.certificate.verify(httpCa.certificate.publicKey), true, 'CA is self-signed');
  t.equal(http.certificate.checkIssued(transportCa.certificate), false, 'the HTTP cert is not from the transport CA');
  t.equal(http.certificate.verify(transportCa.certificate.publicKey), false);
  t.equal(http.certificate.checkHost('localhost'), 'localhost');
  t.equal(http.certificate.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal(http.certificate.checkHost('node1.example.test'), 'node1.example.test', 'publish host name');
  t.equal(http.certificate.checkIP('198.51.100.7'), '198.51.100.7', 'publish host address');
  t.equal(http.certificate.checkHost('elsewhere.example.test'), undefined);
  t.equal(http.certificate.checkIP('203.0.113.1'), undefined);
  t.equal(transport.certificate.subjectAltName, undefined, 'transport uses verification_mode certificate: no SANs');
});

t.test('subjects, CA flags, key sizes, validity and serials follow the SPEC 4 table', async (t) => {
  const { httpCa, http, transportCa, transport } = material;
  t.equal(httpCa.certificate.subject, 'CN=securenode auto-configuration HTTP CA');
  t.equal(transportCa.certificate.subject, 'CN=securenode auto-configuration transport CA');
  t.equal(http.certificate.subject, 'CN=node_1');
  t.equal(http.certificate.issuer, httpCa.certificate.subject);
  t.equal(transport.certificate.issuer, transportCa.certificate.subject);
  t.equal(httpCa.certificate.ca, true);
  t.equal(transportCa.certificate.ca, true);
  t.equal(http.certificate.ca, false);
  t.equal(transport.certificate.ca, false);
  t.equal(httpCa.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 4096);
  t.equal(transportCa.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 4096);
  t.equal(http.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.equal(transport.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  const days = (cert: X509Certificate) => Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000);
  t.equal(days(httpCa.certificate), 1095);
  t.equal(days(http.certificate), 730);
  t.equal(days(transportCa.certificate), 99 * 365);
  t.equal(days(transport.certificate), 99 * 365);
  t.ok(Date.parse(http.certificate.validFrom) <= generatedAt && Date.parse(http.certificate.validFrom) >= started - 1000);
  for (const { certificate } of [httpCa, http, transportCa, transport]) {
    t.ok(certificate.serialNumber.length <= 40 && /^[0-7]/.test(certificate.serialNumber), `serial ${certificate.serialNumber} is positive and at most 20 bytes`);
  }
  t.equal(certificateProfiles.httpValidityDays, 730);
});

t.test('openssl agrees: chain, extensions, AKI = issuing CA SKI, SHA-256 signatures', async (t) => {
  const dir = t.testdir();
  await writeFile(`${dir}/http_ca.crt`, material.httpCaPem);
  await writeFile(`${dir}/http.crt`, material.http.certificate.toString());
  await writeFile(`${dir}/transport_ca.crt`, material.transportCa.certificate.toString());
  await writeFile(`${dir}/transport.crt`, material.transport.certificate.toString());
  const verify = await openssl(['verify', '-x509_strict', '-CAfile', `${dir}/http_ca.crt`, `${dir}/http.crt`]);
  t.equal(verify.stdout, `${dir}/http.crt: OK`);
  t.equal(verify.exitCode, 0);
  const transportVerify = await openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', `${dir}/transport_ca.crt`, `${dir}/transport.crt`]);
  t.equal(transportVerify.stdout, `${dir}/transport.crt: OK`);
  const crossed = await openssl(['verify', '-CAfile', `${dir}/transport_ca.crt`, `${dir}/http.crt`]);
  t.not(crossed.exitCode, 0, 'the HTTP cert does not verify against the transport CA');

  const text = async (file: string) => (await openssl(['x509', '-noout', '-text', '-in', `${dir}/${file}`])).stdout;
  const ski = (dump: string) => /Subject Key Identifier: *\n *([0-9A-F:]+)/.exec(dump)?.[1];
  const aki = (dump: string) => /Authority Key Identifier: *\n *(?:keyid:)?([0-9A-F:]+)/.exec(dump)?.[1];
  const caText = await text('http_ca.crt');
  const leafText = await text('http.crt');
  const transportText = await text('transport.crt');
  t.ok(ski(caText));
  t.equal(aki(leafText), ski(caText), 'leaf AKI is the CA SKI (not the leaf key hash)');
  t.equal(aki(caText), ski(caText), 'self-signed CA: AKI is its own SKI');
  t.not(ski(leafText), ski(caText));
  t.equal(aki(transportText), ski(await text('transport_ca.crt')));
  t.match(caText, /Basic Constraints: critical\s+CA:TRUE/);
  t.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  t.notMatch(leafText, /Basic Constraints/, 'BasicConstraints on CAs only');
  t.match(leafText, /Extended Key Usage: *\n *TLS Web Server Authentication\n/);
  t.match(transportText, /Extended Key Usage: *\n *TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(leafText, /DNS:localhost/);
  t.match(leafText, /IP Address:127\.0\.0\.1/);
  t.equal([...caText.matchAll(/Signature Algorithm: sha256WithRSAEncryption/g)].length, 2);
  t.equal([...leafText.matchAll(/Signature Algorithm: sha256WithRSAEncryption/g)].length, 2);
});

t.test('the fingerprint equals openssl -fingerprint -sha256, without colons, in lower case', async (t) => {
  const dir = t.testdir({ 'http_ca.crt': material.httpCaPem });
  const { stdout } = await openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', `${dir}/http_ca.crt`]);
  t.equal(material.httpCaFingerprint, stdout.replace(/^sha256 Fingerprint=/i, '').replace(/:/g, '').toLowerCase());
  t.match(material.httpCaFingerprint, /^[0-9a-f]{64}$/);
});

t.test('both .p12 files open with OpenSSL 3 without -legacy, with the expected entries', async (t) => {
  const dir = t.testdir();
  await writeFile(`${dir}/http.p12`, material.httpP12);
  await writeFile(`${dir}/transport.p12`, material.transportP12);
  await writeFile(`${dir}/http.pw`, material.passwords.http);
  await writeFile(`${dir}/transport.pw`, material.passwords.transport);
  t.not(material.passwords.http, material.passwords.transport);
  const info = await openssl(['pkcs12', '-info', '-noout', '-in', `${dir}/http.p12`, '-passin', `file:${dir}/http.pw`]);
  t.equal(info.exitCode, 0, info.stderr);
  t.equal(info.stderr.split('\n').filter((line) => line.startsWith('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256')).length, 2);
  t.match(info.stderr, /^MAC: sha256, Iteration 2048$/m);
  const wrong = await openssl(['pkcs12', '-info', '-noout', '-in', `${dir}/http.p12`, '-passin', 'pass:wrong']);
  t.not(wrong.exitCode, 0, 'a wrong password fails the MAC');

  const certs = await openssl(['pkcs12', '-nokeys', '-in', `${dir}/http.p12`, '-passin', `file:${dir}/http.pw`]);
  t.match(certs.stdout, /friendlyName: http\n/);
  t.match(certs.stdout, /friendlyName: http_ca\n/);
  const keys = await openssl(['pkcs12', '-nocerts', '-noenc', '-in', `${dir}/http.p12`, '-passin', `file:${dir}/http.pw`]);
  t.equal([...keys.stdout.matchAll(/-----BEGIN PRIVATE KEY-----/g)].length, 2, 'two key entries: http and http_ca');

  const transport = await openssl(['pkcs12', '-nokeys', '-in', `${dir}/transport.p12`, '-passin', `file:${dir}/transport.pw`]);
  t.equal(transport.exitCode, 0, transport.stderr);
  t.match(transport.stdout, /friendlyName: transport\n/);
  t.match(transport.stdout, /friendlyName: transport_ca\n/);
  // OpenSSL 3.0 cannot print the attribute's OID value; 3.2 and later name it.
  t.match(transport.stdout, /friendlyName: transport_ca\n *2\.16\.840\.1\.113894\.746875\.1\.1: (Any Extended Key Usage|<Unsupported tag 6>)\n/, 'transport_ca is marked as a trusted entry for Java');
  const transportKeys = await openssl(['pkcs12', '-nocerts', '-noenc', '-in', `${dir}/transport.p12`, '-passin', `file:${dir}/transport.pw`]);
  t.equal([...transportKeys.stdout.matchAll(/-----BEGIN PRIVATE KEY-----/g)].length, 1);
});

t.test('Node serves TLS from http.p12 and a client trusting only http_ca.crt connects to localhost', async (t) => {
  const server = createServer({ pfx: material.httpP12, passphrase: material.passwords.http, minVersion: 'TLSv1.2' }, (_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const peer = await new Promise<{ chain: string[]; authorized: boolean }>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: material.httpCaPem }, () => {
      const leaf = socket.getPeerCertificate(true);
      const chain = [String(leaf.subject.CN), String(leaf.issuerCertificate?.subject.CN)];
      resolve({ chain, authorized: socket.authorized });
      socket.end();
    });
    socket.on('error', reject);
  });
  t.same(peer, { chain: ['node_1', 'securenode auto-configuration HTTP CA'], authorized: true }, 'the server key is the http entry and the CA is sent as its chain');
});

t.test('leafKeySize chooses the leaves, never the CAs, and is checked', async (t) => {
  await t.rejects(generateTlsMaterial({ nodeName: 'n', subjectAltNames: [], leafKeySize: 1024 }), TypeError);
});
