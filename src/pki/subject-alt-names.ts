import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { SubjectAltName } from './certificate.js';

/** Where the HTTP certificate's names come from. */
export interface SubjectAltNameSources {
  /** network.publish_host and http.publish_host values: IPs become IP names, others DNS names. */
  readonly publishHosts?: readonly string[];
  /** Defaults to os.hostname(). */
  readonly hostName?: string;
  /** Defaults to os.networkInterfaces(). */
  readonly interfaces?: ReturnType<typeof networkInterfaces>;
}

/**
 * The names the HTTP certificate covers (SPEC 4): every local interface address,
 * loopback included, `localhost`, the host name, and every publish host.
 * Bind addresses are not added: a wildcard is no name a client dials.
 */
export function discoverSubjectAltNames(sources: SubjectAltNameSources = {}): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  const seen = new Set<string>();
  const add = (value: string): void => {
    const bare = value.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
    if (bare === '' || bare === '0.0.0.0' || bare === '::') return;
    const kind = isIP(bare) ? 'ip' : 'dns';
    const key = `${kind}:${bare.toLowerCase()}`;
    if (seen.has(key)) return;
    seen.add(key);
    names.push({ kind, value: bare });
  };
  for (const addresses of Object.values(sources.interfaces ?? networkInterfaces())) {
    for (const address of addresses ?? []) add(address.address);
  }
  add('localhost');
  add(sources.hostName ?? hostname());
  for (const host of sources.publishHosts ?? []) add(host);
  return names;
}
