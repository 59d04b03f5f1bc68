// Renewing the HTTP leaf from the HTTP CA that http.p12 holds, for both key
// types: the same CA (openssl verifies the new leaf against the old CA file),
// a new key of the old kind, the names kept (and added), never past the CA.
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { describeCertificate, isDueForRenewal, renewHttpP12 } from '../../src/pki/renewal.js';
import { readPkcs12Certificates } from '../../src/pki/read-pkcs12.js';
import { pooledKeyPair } from '../helpers/key-pool.js';
import { openssl } from '../helpers/openssl.js';

const day = 86_400_000;

for (const keyType of ['ec', 'rsa'] as const) {
  t.test(`${keyType}: a renewed leaf is signed by the same CA, with a new key of the same kind and the old names`, async (t) => {
    const material = await generateTlsMaterial({ nodeName: 'node-1', subjectAltNames: [{ kind: 'dns', value: 'localhost' }, { kind: 'ip', value: '127.0.0.1' }], keyType, generateKeyPair: pooledKeyPair });
    const source = 'http.p12';
    const renewal = await renewHttpP12(material.httpP12, material.passwords.http, source, { addSubjectAltNames: [{ kind: 'dns', value: 'node-1.example' }, { kind: 'ip', value: '127.0.0.1' }] });
    const leaf = new X509Certificate(renewal.certificatePem);
    t.ok(leaf.checkIssued(material.httpCa.certificate) && leaf.verify(material.httpCa.certificate.publicKey), 'signed by the HTTP CA');
    t.not(renewal.renewed.serial, renewal.previous.serial, 'a new serial');
    t.not(leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), material.http.certificate.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), 'a new key');
    t.equal(leaf.publicKey.asymmetricKeyType, keyType, 'of the same kind');
    t.same(renewal.renewed.subjectAltNames, ['DNS:localhost', 'IP Address:127.0.0.1', 'DNS:node-1.example'], 'the old names, the added one once');
    t.equal(renewal.renewed.subject, 'CN=node-1');
    t.ok(renewal.renewed.daysLeft >= 729, 'a full two years');
    // The new http.p12 opens with the old password and holds the new leaf and the same CA.
    const entries = readPkcs12Certificates(renewal.p12, material.passwords.http, source);
    t.equal(entries.find((entry) => entry.alias === 'http')?.pem, renewal.certificatePem);
    t.equal(entries.find((entry) => entry.alias === 'http_ca')?.pem, material.httpCaPem);
    const dir = t.testdir();
    await writeFile(`${dir}/ca.crt`, material.httpCaPem);
    await writeFile(`${dir}/leaf.crt`, renewal.certificatePem);
    const verified = await openssl(['verify', '-CAfile', `${dir}/ca.crt`, '-purpose', 'sslserver', `${dir}/leaf.crt`]);
    t.equal(verified.stdout.trim(), `${dir}/leaf.crt: OK`, 'openssl verifies it against the CA file clients already have');
    const p12 = await openssl(['pkcs12', '-in', '-', '-nokeys', '-passin', `pass:${material.passwords.http}`], renewal.p12);
    t.equal(p12.exitCode, 0, 'OpenSSL 3 opens the new http.p12');
  });
}

t.test('a leaf is due with less than a third of its life left, and a renewal never outlives its CA', async (t) => {
  const material = await generateTlsMaterial({ nodeName: 'n', subjectAltNames: [], generateKeyPair: pooledKeyPair });
  const now = Date.now();
  const young = await renewHttpP12(material.httpP12, material.passwords.http, 'http.p12', { notBefore: new Date(now - 10 * day), validityDays: 30 });
  const old = await renewHttpP12(material.httpP12, material.passwords.http, 'http.p12', { notBefore: new Date(now - 21 * day), validityDays: 30 });
  t.equal(isDueForRenewal(young.certificatePem, now), false, '20 of 30 days left');
  t.equal(isDueForRenewal(old.certificatePem, now), true, '9 of 30 days left');
  t.equal(describeCertificate('http', old.certificatePem, now).daysLeft, 8);
  const long = await renewHttpP12(material.httpP12, material.passwords.http, 'http.p12', { validityDays: 5000 });
  t.ok(new Date(long.renewed.notAfter).getTime() <= new Date(material.httpCa.certificate.validTo).getTime(), 'capped at the CA');
  await t.rejects(renewHttpP12(material.httpP12, 'not-the-password', 'http.p12'), { code: 'ERR_TLS_MATERIAL' }, 'a wrong password is refused');
});
