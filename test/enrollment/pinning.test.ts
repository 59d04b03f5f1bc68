import fc from 'fast-check';
import t from 'tap';
import { enrollmentAddresses } from '../../src/enrollment/addresses.js';
import { leafFailure, pemCertificates, pinFailure, splitAddress } from '../../src/enrollment/pinned-client.js';
import { issueCertificate, type IssuedCertificate, type SubjectAltName } from '../../src/pki/certificate.js';
import { sha256Fingerprint } from '../../src/pki/fingerprint.js';
import { generateKeyPairFor } from '../../src/pki/keys.js';
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

t.test('a server certificate against the CAs a client trusts: only what a trusted CA signed, valid now, for the address dialled', async (t) => {
  const day = 86_400_000;
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const [caKeys, nextKeys, attackerKeys, strangerKeys, leafKeys] = await Promise.all([0, 1, 2, 3, 4].map(() => generateKeyPairFor({ type: 'ec' })));
  const ca = issueCertificate({ commonName: 'home HTTP CA', profile: 'ca', ...caKeys!, validityDays: 30, notBefore: new Date(now.getTime() - day) });
  // During a CA rotation the client trusts the next CA too.
  const next = issueCertificate({ commonName: 'home HTTP CA 2', profile: 'ca', ...nextKeys!, validityDays: 30, notBefore: new Date(now.getTime() - day) });
  const stranger = issueCertificate({ commonName: 'stranger CA', profile: 'ca', ...strangerKeys!, validityDays: 30, notBefore: new Date(now.getTime() - day) });
  // The attacker knows the CA's certificate (it is no secret): its name and key identifier, not its key.
  const forger: IssuedCertificate = { ...ca, privateKey: attackerKeys!.privateKey };
  const signers = { ca, next, forger, stranger } as const;
  const names: SubjectAltName[] = [{ kind: 'dns', value: 'localhost' }, { kind: 'dns', value: 'node.example' }, { kind: 'ip', value: '127.0.0.1' }, { kind: 'ip', value: '::1' }, { kind: 'ip', value: '192.0.2.5' }];
  const hosts = [...names.map((name) => name.value), 'other.example', '198.51.100.1', '::2', 'LOCALHOST'];
  fc.assert(
    fc.property(
      fc.constantFrom('ca', 'next', 'forger', 'stranger'),
      fc.integer({ min: -20 * 24, max: 20 * 24 }),
      fc.integer({ min: 1, max: 40 * 24 }),
      fc.subarray(names),
      fc.constantFrom(...hosts),
      (signer, startHours, hours, altNames, host) => {
        const notBefore = new Date(now.getTime() + startHours * 3_600_000);
        const leaf = issueCertificate({ commonName: 'leaf', profile: 'server', ...leafKeys!, validityDays: hours / 24, notBefore, subjectAltNames: altNames, issuer: signers[signer] }).certificate;
        const valid = startHours <= 0 && startHours + hours >= 0;
        const covered = altNames.some((name) => name.value === host.toLowerCase());
        const trusted = signer === 'ca' || signer === 'next';
        const expected = !trusted ? "the server's certificate is not signed by the home CA" : !valid ? "the server's certificate is not valid now" : !covered ? `the server's certificate does not cover ${host}` : undefined;
        return leafFailure(leaf, [ca.certificate, next.certificate], host, 'the home CA', now) === expected;
      },
    ),
    { numRuns: 150 },
  );
  const leaf = issueCertificate({ commonName: 'leaf', profile: 'server', ...leafKeys!, validityDays: 1, notBefore: now, subjectAltNames: names, issuer: ca }).certificate;
  t.equal(leafFailure(leaf, [ca.certificate], 'localhost', 'the home CA', now), undefined);
  t.equal(leafFailure(leaf, [ca.certificate], 'localhost', 'the home CA', new Date(now.getTime() + 40 * day)), "the server's certificate is not valid now");
  t.equal(leafFailure(leaf, [ca.certificate], 'localhost', 'the home CA', new Date(now.getTime() - 2 * day)), "the server's certificate is not valid now");
  const lapsedCa = issueCertificate({ commonName: 'lapsed CA', profile: 'ca', ...caKeys!, validityDays: 1, notBefore: new Date(now.getTime() - 2 * day) });
  const late = issueCertificate({ commonName: 'leaf', profile: 'server', ...leafKeys!, validityDays: 5, notBefore: new Date(now.getTime() - day), subjectAltNames: names, issuer: lapsedCa }).certificate;
  t.equal(leafFailure(late, [lapsedCa.certificate], 'localhost', 'the home CA', now), 'the home CA is not valid now', 'a leaf outliving its CA is refused with the CA');
  t.equal(leafFailure(ca.certificate, [ca.certificate], 'localhost', 'the home CA', now), "the server's certificate does not cover localhost", 'the CA itself, presented as the server, covers no name');
  const leafAsCa = issueCertificate({ commonName: 'leaf', profile: 'server', ...strangerKeys!, validityDays: 1, notBefore: now, subjectAltNames: names, issuer: ca });
  const underLeaf = issueCertificate({ commonName: 'below', profile: 'server', ...leafKeys!, validityDays: 1, notBefore: now, subjectAltNames: names, issuer: leafAsCa }).certificate;
  t.equal(leafFailure(underLeaf, [leafAsCa.certificate, ca.certificate], 'localhost', 'the home CA', now), "the server's certificate is not signed by the home CA", 'a trusted certificate that may not sign certificates signs nothing');
  t.equal(leafFailure(undefined, [ca.certificate], 'localhost', 'the home CA', now), 'the server presented no certificate');
  t.same(pemCertificates(`junk\n${ca.certificate.toString()}text between\n${stranger.certificate.toString()}`).map((certificate) => certificate.fingerprint256), [ca.certificate.fingerprint256, stranger.certificate.fingerprint256], 'every certificate of a PEM file, in order');
  t.same(pemCertificates('no certificate here'), []);
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
