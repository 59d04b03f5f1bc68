import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import t from 'tap';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';
import { certificateProfiles, generateTlsMaterial, type TlsMaterial } from '../../src/pki/tls-material.js';
import { readPkcs12Certificates, readPkcs12Key } from '../../src/pki/read-pkcs12.js';
import { pooledKeyPair } from '../helpers/key-pool.js';
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
  for (const { certificate } of [httpCa, transportCa, http, transport]) {
    t.same([certificate.publicKey.asymmetricKeyType, certificate.publicKey.asymmetricKeyDetails?.namedCurve], ['ec', 'prime256v1'], `${certificate.subject}: ECDSA P-256 by default`);
  }
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
  t.equal([...caText.matchAll(/Signature Algorithm: ecdsa-with-SHA256/g)].length, 2);
  t.equal([...leafText.matchAll(/Signature Algorithm: ecdsa-with-SHA256/g)].length, 2);
  t.match(leafText, /Key Usage: critical\s+Digital Signature\n/, 'an EC leaf signs; keyEncipherment is for RSA keys');
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
  t.equal([...transportKeys.stdout.matchAll(/-----BEGIN PRIVATE KEY-----/g)].length, 2, 'two key entries: transport, and the transport CA key that renewals sign with');
  t.match(transport.stdout, /friendlyName: transport_ca_key\n/);
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

t.test('key_type rsa: 4096-bit CAs, leafKeySize leaves, SHA-256 with RSA; openssl agrees; Node serves it', async (t) => {
  const rsa = await generateTlsMaterial({ nodeName: 'node_1', subjectAltNames: discoverSubjectAltNames({}), keyType: 'rsa', leafKeySize: 3072, generateKeyPair: pooledKeyPair });
  t.same([rsa.httpCa, rsa.transportCa, rsa.http, rsa.transport].map(({ certificate }) => certificate.publicKey.asymmetricKeyDetails?.modulusLength), [4096, 4096, 3072, 3072]);
  const dir = t.testdir({ 'http_ca.crt': rsa.httpCaPem, 'http.crt': rsa.http.certificate.toString() });
  t.equal((await openssl(['verify', '-x509_strict', '-CAfile', `${dir}/http_ca.crt`, `${dir}/http.crt`])).stdout, `${dir}/http.crt: OK`);
  const leafText = (await openssl(['x509', '-noout', '-text', '-in', `${dir}/http.crt`])).stdout;
  t.equal([...leafText.matchAll(/Signature Algorithm: sha256WithRSAEncryption/g)].length, 2);
  t.match(leafText, /Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
  const server = createServer({ pfx: rsa.httpP12, passphrase: rsa.passwords.http }, (_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const authorized = await new Promise<boolean>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, servername: 'localhost', ca: rsa.httpCaPem }, () => {
      resolve(socket.authorized);
      socket.end();
    });
    socket.on('error', reject);
  });
  t.equal(authorized, true);
  await t.rejects(generateTlsMaterial({ nodeName: 'n', subjectAltNames: [], keyType: 'rsa', leafKeySize: 1024 }), TypeError, 'leafKeySize is checked');
});

t.test('the .p12 files are read back, keys and certificates, whatever the key type; a wrong password is refused', async (t) => {
  const rsa = await generateTlsMaterial({ nodeName: 'n', subjectAltNames: [], keyType: 'rsa', generateKeyPair: pooledKeyPair });
  for (const set of [material, rsa]) {
    const certificates = readPkcs12Certificates(set.httpP12, set.passwords.http, 'http.p12');
    t.same(certificates.map((entry) => entry.alias), ['http', 'http_ca']);
    t.equal(certificates[1]!.pem, set.httpCaPem);
    const key = readPkcs12Key(set.httpP12, set.passwords.http, 'http.p12', 'http_ca');
    t.same(key.export({ type: 'pkcs8', format: 'der' }), set.httpCa.privateKey.export({ type: 'pkcs8', format: 'der' }), `the ${key.asymmetricKeyType} CA key comes back as it went in`);
    t.throws(() => readPkcs12Certificates(set.httpP12, 'wrong', 'http.p12'), { code: 'ERR_TLS_MATERIAL', message: 'cannot open http.p12: the file is damaged or its password in the keystore is wrong' });
    t.throws(() => readPkcs12Key(set.httpP12, set.passwords.http, 'http.p12', 'nope'), { message: 'http.p12 holds no key entry "nope"; restore the file auto-configuration wrote' });
  }
  // A file as `openssl pkcs12 -export` writes it (its certificates encrypted): read by forge, as before, for an RSA key.
  const dir = t.testdir({ 'key.pem': rsa.http.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'cert.pem': rsa.http.certificate.toString(), pw: 'export-pass' });
  await openssl(['pkcs12', '-export', '-inkey', `${dir}/key.pem`, '-in', `${dir}/cert.pem`, '-name', 'http', '-out', `${dir}/x.p12`, '-passout', `file:${dir}/pw`]);
  const exported = await readFile(`${dir}/x.p12`);
  t.same(readPkcs12Certificates(exported, 'export-pass', 'x.p12').map((entry) => entry.alias), ['http']);
  t.equal(readPkcs12Key(exported, 'export-pass', 'x.p12', 'http').asymmetricKeyType, 'rsa');
  // Damaged: any cut of the file is refused, never a crash.
  for (const length of [0, 10, rsa.httpP12.length >> 1, rsa.httpP12.length - 1]) {
    t.throws(() => readPkcs12Certificates(rsa.httpP12.subarray(0, length), rsa.passwords.http, 'http.p12'), { code: 'ERR_TLS_MATERIAL' }, `cut at ${length}`);
  }
});

t.test("Python's cryptography opens both .p12 files of both key types, keys and chains", async (t) => {
  const rsa = await generateTlsMaterial({ nodeName: 'node_1', subjectAltNames: [], keyType: 'rsa', generateKeyPair: pooledKeyPair });
  const script = [
    'import sys',
    'from cryptography.hazmat.primitives.asymmetric import ec, rsa',
    'from cryptography.hazmat.primitives.serialization import pkcs12',
    'data = open(sys.argv[1], "rb").read()',
    'key, cert, extra = pkcs12.load_key_and_certificates(data, sys.argv[2].encode())',
    'kind = "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa" if isinstance(key, rsa.RSAPrivateKey) else "other"',
    'print(kind, cert.subject.rfc4514_string(), [c.subject.rfc4514_string() for c in extra])',
  ].join('\n');
  for (const [set, kind] of [[material, 'ec'], [rsa, 'rsa']] as const) {
    const dir = t.testdir({ 'http.p12': set.httpP12, 'transport.p12': set.transportP12 });
    const http = await execa('python3', ['-c', script, `${dir}/http.p12`, set.passwords.http], { reject: false });
    t.equal(http.stdout, `${kind} CN=node_1 ['CN=securenode auto-configuration HTTP CA']`, http.stderr);
    const transport = await execa('python3', ['-c', script, `${dir}/transport.p12`, set.passwords.transport], { reject: false });
    // The transport CA twice: the trusted entry, and the certificate of the entry that keeps its key (for renewals).
    t.equal(transport.stdout, `${kind} CN=node_1 ['CN=securenode auto-configuration transport CA', 'CN=securenode auto-configuration transport CA']`, transport.stderr);
  }
});

t.test('attacker: a .p12 whose MAC asks for a billion iterations is refused at once, not computed', { timeout: 30_000 }, async (t) => {
  const pfx = forge.asn1.fromDer(material.httpP12.toString('binary'));
  const macData = (pfx.value as forge.asn1.Asn1[])[2]!;
  (macData.value as forge.asn1.Asn1[])[2] = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.INTEGER, false, forge.asn1.integerToDer(2 ** 30).getBytes());
  const tampered = Buffer.from(forge.asn1.toDer(pfx).getBytes(), 'binary');
  t.throws(() => readPkcs12Certificates(tampered, material.passwords.http, 'http.p12'), { code: 'ERR_TLS_MATERIAL', message: 'cannot open http.p12: the file is damaged or its password in the keystore is wrong' });
});
