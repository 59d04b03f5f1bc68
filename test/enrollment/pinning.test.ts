import t from 'tap';
import { enrollmentAddresses } from '../../src/enrollment/addresses.js';
import { pinFailure, splitAddress } from '../../src/enrollment/pinned-client.js';
import { sha256Fingerprint } from '../../src/pki/fingerprint.js';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';

const material = await generateTlsMaterial({ nodeName: 'n', subjectAltNames: [{ kind: 'ip', value: '127.0.0.1' }, { kind: 'ip', value: '192.0.2.5' }, { kind: 'ip', value: '2001:db8::1' }, { kind: 'dns', value: 'localhost' }] });
const other = await generateTlsMaterial({ nodeName: 'other', subjectAltNames: [{ kind: 'ip', value: '192.0.2.5' }] });
const fgr = material.httpCaFingerprint;
const chain = [material.http.certificate, material.httpCa.certificate];

t.test('the pin: the CA of the fingerprint, a leaf it signed, valid now, covering the address', async (t) => {
  t.equal(pinFailure(chain, fgr, '192.0.2.5'), undefined);
  t.equal(pinFailure(chain, fgr, 'localhost'), undefined);
  t.equal(pinFailure([], fgr, '192.0.2.5'), 'the server presented no certificate');
  t.equal(pinFailure(chain, 'b'.repeat(64), '192.0.2.5'), 'the server does not present the CA the token names (fingerprint mismatch)');
  t.equal(pinFailure([other.http.certificate, material.httpCa.certificate], fgr, '192.0.2.5'), "the server's certificate is not signed by the CA the token names", 'a stranger leaf next to the right CA');
  t.equal(pinFailure([material.http.certificate], sha256Fingerprint(material.http.certificate), '192.0.2.5'), 'the server does not present the CA the token names (fingerprint mismatch)', 'a leaf pinned as if it were the CA');
  t.equal(pinFailure(chain, fgr, '198.51.100.1'), "the server's certificate does not cover 198.51.100.1");
  t.equal(pinFailure(chain, fgr, '192.0.2.5', new Date(Date.now() + 3 * 365 * 86_400_000)), "the server's certificate is not valid now");
});

t.test('addresses: wildcards dropped, loopback only as a last resort, IPv4 first, covered by the certificate', async (t) => {
  const address = (value: string, family: 'IPv4' | 'IPv6') => ({ address: value, family, netmask: '', mac: '', internal: false, cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;
  const interfaces = { lo: [address('127.0.0.1', 'IPv4'), address('::1', 'IPv6')], eth0: [address('2001:db8::1', 'IPv6'), address('192.0.2.5', 'IPv4'), address('192.0.2.99', 'IPv4'), address('fe80::1', 'IPv6')] };
  t.same(enrollmentAddresses({ bindHost: '::', publishHosts: [], port: 9200, certificate: material.http.certificate, interfaces }), ['192.0.2.5:9200', '[2001:db8::1]:9200'], '192.0.2.99 is not in the certificate (#88530)');
  t.same(enrollmentAddresses({ bindHost: '0.0.0.0', publishHosts: [], port: 9200, certificate: material.http.certificate, interfaces }), ['192.0.2.5:9200'], '0.0.0.0 listens on IPv4 only: no IPv6 address is offered');
  t.same(enrollmentAddresses({ bindHost: '127.0.0.1', publishHosts: [], port: 9200, certificate: material.http.certificate, interfaces }), ['127.0.0.1:9200']);
  t.same(enrollmentAddresses({ bindHost: '127.0.0.1', publishHosts: ['localhost'], port: 9201, certificate: material.http.certificate, interfaces }), ['127.0.0.1:9201', 'localhost:9201']);
  t.same(splitAddress('[2001:db8::1]:9200'), { host: '2001:db8::1', port: 9200 });
  t.same(splitAddress('host.example:1'), { host: 'host.example', port: 1 });
  t.throws(() => splitAddress('nope'));
});
