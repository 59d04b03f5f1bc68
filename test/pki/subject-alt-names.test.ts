import { hostname } from 'node:os';
import t from 'tap';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';

const address = (value: string, family: 'IPv4' | 'IPv6') => ({ address: value, family, netmask: '', mac: '', internal: false, cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;

t.test('every interface address, localhost, the host name and publish hosts, de-duplicated', async (t) => {
  const names = discoverSubjectAltNames({
    hostName: 'box',
    interfaces: {
      lo: [address('127.0.0.1', 'IPv4'), address('::1', 'IPv6')],
      eth0: [address('192.0.2.10', 'IPv4'), address('fe80::1%eth0', 'IPv6')],
      eth1: undefined,
    },
    publishHosts: ['192.0.2.10', 'node.example.test', '[2001:db8::5]', 'BOX', '0.0.0.0', ''],
  });
  t.same(names, [
    { kind: 'ip', value: '127.0.0.1' },
    { kind: 'ip', value: '::1' },
    { kind: 'ip', value: '192.0.2.10' },
    { kind: 'ip', value: 'fe80::1' },
    { kind: 'dns', value: 'localhost' },
    { kind: 'dns', value: 'box' },
    { kind: 'dns', value: 'node.example.test' },
    { kind: 'ip', value: '2001:db8::5' },
  ]);
});

t.test('defaults read this machine', async (t) => {
  const names = discoverSubjectAltNames();
  t.ok(names.some((name) => name.kind === 'ip' && name.value === '127.0.0.1'));
  t.ok(names.some((name) => name.kind === 'dns' && name.value === 'localhost'));
  t.ok(names.some((name) => name.kind === 'dns' && name.value === hostname().toLowerCase()) || names.some((name) => name.value === hostname()));
});
