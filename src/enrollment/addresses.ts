import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';
export const isLoopback = (host: string): boolean => host === 'localhost' || host.startsWith('127.') || host === '::1';

/**
 * The token's `adr` (SPEC 6): the node's HTTP addresses (every interface address
 * the wildcard bind listens on, IPv4 only for 0.0.0.0, plus publish hosts), wildcards dropped, only non-loopback
 * ones if any exist, IPv4 before IPv6 (`[v6]:port`), and only those the HTTP
 * certificate covers (Elasticsearch #88530). Without a certificate (transport
 * addresses for a joining node), every address that qualifies.
 */
export function enrollmentAddresses(options: { bindHost: string; publishHosts: readonly string[]; port: number; certificate?: X509Certificate; interfaces?: ReturnType<typeof networkInterfaces> }): string[] {
  const hosts = new Set<string>();
  if (isWildcard(options.bindHost)) {
    for (const addresses of Object.values(options.interfaces ?? networkInterfaces())) {
      for (const address of addresses ?? []) {
        // 0.0.0.0 listens on IPv4 only ('::' on both): an IPv6 address would be one the node does not answer on.
        if (options.bindHost === '0.0.0.0' && address.family === 'IPv6') continue;
        if (!address.address.includes('%') && !address.address.toLowerCase().startsWith('fe80')) hosts.add(address.address);
      }
    }
  } else hosts.add(options.bindHost);
  for (const host of options.publishHosts) hosts.add(host);
  let candidates = [...hosts].filter((host) => !isWildcard(host));
  if (candidates.some((host) => !isLoopback(host))) candidates = candidates.filter((host) => !isLoopback(host));
  const { certificate } = options;
  const covered = certificate ? candidates.filter((host) => (isIP(host) ? certificate.checkIP(host) : certificate.checkHost(host)) !== undefined) : candidates;
  const rank = (host: string): number => (isIP(host) === 6 ? 2 : isIP(host) === 4 ? 0 : 1);
  return covered.sort((a, b) => rank(a) - rank(b)).map((host) => (isIP(host) === 6 ? `[${host}]:${options.port}` : `${host}:${options.port}`));
}
