import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import type { TlsFiles } from '../../src/autoconfig/tls-files.js';
import { nodeEnrollmentBody, parseNodeEnrollmentBody } from '../../src/enrollment/node-enrollment.js';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';
import { generateTlsMaterial, joiningTlsMaterial } from '../../src/pki/tls-material.js';
import { openssl } from '../helpers/openssl.js';

const [cluster, other] = await Promise.all([
  generateTlsMaterial({ nodeName: 'first', subjectAltNames: discoverSubjectAltNames() }),
  generateTlsMaterial({ nodeName: 'other', subjectAltNames: discoverSubjectAltNames() }),
]);
const tls: TlsFiles = {
  httpP12: cluster.httpP12,
  httpP12Password: cluster.passwords.http,
  transportP12: cluster.transportP12,
  transportP12Password: cluster.passwords.transport,
  httpCaPem: cluster.httpCaPem,
  httpCaFingerprint: cluster.httpCaFingerprint,
  transportCaPem: cluster.transportCaPem,
  httpCertificatePem: cluster.httpCertificatePem,
};
const body = { ...nodeEnrollmentBody(tls, { name: 'prod', uuid: 'u-1' }), nodes_addresses: ['10.0.0.1:9300'] };
const der = (certificate: X509Certificate) => certificate.raw.toString('base64');
const key = (material: typeof other, which: 'httpCa' | 'transport') => material[which].privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');

t.test('the node side hands out the CA key and the shared transport identity, read from the .p12 files', async (t) => {
  const received = parseNodeEnrollmentBody(body, cluster.httpCaFingerprint, 'a:1');
  t.equal(received.tls.httpCa.certificate.fingerprint256, cluster.httpCa.certificate.fingerprint256);
  t.equal(received.tls.transport.certificate.fingerprint256, cluster.transport.certificate.fingerprint256);
  t.same(received.nodesAddresses, ['10.0.0.1:9300']);
  t.match(received, { clusterName: 'prod', clusterUuid: 'u-1', address: 'a:1' });
});

t.test('a joining node: its own HTTP certificate, signed by the received CA, which openssl verifies strictly', async (t) => {
  const received = parseNodeEnrollmentBody(body, cluster.httpCaFingerprint, 'a:1');
  const joined = await joiningTlsMaterial({ nodeName: 'second', subjectAltNames: discoverSubjectAltNames(), received: received.tls });
  t.equal(joined.httpCaPem, cluster.httpCaPem);
  t.equal(joined.transportCaPem, cluster.transportCaPem);
  const leaf = new X509Certificate(joined.httpCertificatePem);
  t.equal(leaf.subject, 'CN=second');
  t.not(leaf.publicKey.export({ type: 'spki', format: 'pem' }), cluster.http.certificate.publicKey.export({ type: 'spki', format: 'pem' }), 'a new key');
  const dir = t.testdir();
  await writeFile(`${dir}/ca.pem`, joined.httpCaPem);
  await writeFile(`${dir}/leaf.pem`, joined.httpCertificatePem);
  t.match((await openssl(['verify', '-x509_strict', '-CAfile', `${dir}/ca.pem`, `${dir}/leaf.pem`])).stdout, ': OK');
});

t.test('what the cluster sent is checked; anything wrong exits 65 and names the field', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['not an object', null as unknown as Record<string, unknown>, /a body that is not a JSON object/],
    ['garbage certificate', { ...body, http_ca_cert: 'AAAA' }, /no valid certificate in http_ca_cert/],
    ['missing key', { ...body, transport_key: undefined }, /no valid private key in transport_key/],
    ['another HTTP CA', { ...body, http_ca_cert: der(other.httpCa.certificate), http_ca_key: key(other, 'httpCa') }, /an HTTP CA other than the one the token names/],
    ['a key of another CA', { ...body, http_ca_key: key(other, 'httpCa') }, /an HTTP CA key that does not belong to its certificate/],
    ['a transport certificate of another CA', { ...body, transport_cert: der(other.transport.certificate), transport_key: key(other, 'transport') }, /a transport certificate that its transport CA did not issue/],
    ['a transport key of another certificate', { ...body, transport_key: key(other, 'transport') }, /a transport key that does not belong to its certificate/],
    ['no addresses', { ...body, nodes_addresses: [] }, /no nodes_addresses/],
    ['a bad address', { ...body, nodes_addresses: ['nowhere'] }, /no nodes_addresses/],
    ['no cluster name', { ...body, cluster_name: '' }, /no cluster_name or cluster_uuid/],
  ];
  for (const [name, value, message] of cases) {
    t.throws(() => parseNodeEnrollmentBody(value, cluster.httpCaFingerprint, 'a:1'), { code: 'ERR_ENROLLMENT_TOKEN', message }, name);
  }
});
