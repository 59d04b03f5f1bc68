import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { SecurenodeError } from '../errors.js';

/** A user or group as /etc/passwd and /etc/group give it. */
interface Entry {
  readonly name: string;
  readonly id: number;
  /** A user's primary group id. */
  readonly gid?: number;
}

function readEntries(file: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .map((fields) => ({ name: fields[0]!, id: Number(fields[2]), ...(file.endsWith('passwd') ? { gid: Number(fields[3]) } : {}) }));
}

/** The name of a uid, for messages; the number itself when the account is unknown. */
export function userName(uid: number): string {
  return readEntries('/etc/passwd').find((entry) => entry.id === uid)?.name ?? String(uid);
}

/** A user (name or number) as uid and primary gid. */
export function lookupUser(name: string): { uid: number; gid: number } {
  const entry = readEntries('/etc/passwd').find((candidate) => candidate.name === name || String(candidate.id) === name);
  if (!entry) throw new SecurenodeError('ERR_CONFIG_INVALID_VALUE', `node.user: no user named '${name}' on this machine; create it (useradd --system ${name}) or name another`);
  return { uid: entry.id, gid: entry.gid! };
}

/** A group (name or number) as gid. */
export function lookupGroup(name: string): number {
  const entry = readEntries('/etc/group').find((candidate) => candidate.name === name || String(candidate.id) === name);
  if (!entry) throw new SecurenodeError('ERR_CONFIG_INVALID_VALUE', `node.group: no group named '${name}' on this machine; create it (groupadd --system ${name}) or name another`);
  return entry.id;
}

/** Bind a TCP port (as root, before dropping privileges); the node's TLS servers take the handle later. */
export function bindPort(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host }, () => resolve(server));
  });
}

/**
 * Become node.user (and node.group, else the user's primary group) for good:
 * supplementary groups first, then the group, then the user, and check that
 * root cannot be regained.
 */
export function dropPrivileges(user: string, group: string | undefined): { uid: number; gid: number } {
  const { uid, gid: primary } = lookupUser(user);
  const gid = group === undefined ? primary : lookupGroup(group);
  process.setgroups!([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
  let regained = true;
  try {
    process.setuid!(0);
  } catch {
    regained = false;
  }
  if (regained || process.geteuid!() !== uid) throw new SecurenodeError('ERR_ROOT', `could not drop root privileges to ${user}`);
  return { uid, gid };
}
