import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { request as httpsRequest } from 'node:https';
import { parse as parseYaml, stringify } from 'yaml';
import { decodeEnrollmentToken, encodeEnrollmentToken } from '../enrollment/token.js';
import { pinnedGet, refusalReason } from '../enrollment/pinned-client.js';
import { SecurenodeError } from '../errors.js';
import { homePaths, resolveHome } from '../home/layout.js';
import { makeDirectory, pathExists, writeFileAtomic, writeNewFile } from '../io/atomic-write.js';
import { sha256Fingerprint } from '../pki/fingerprint.js';
import { parseDuration } from '../settings/coerce.js';
import { loadSettings } from '../settings/load.js';
import { resolveVaultReferences } from '../settings/vault/resolve.js';
import type { CliIo } from './io.js';
import { answerError, operatorContext, operatorRequest } from './operator-client.js';

const collect = (value: string, all: string[]) => [...all, value];

/** Register `securenode create-enrollment-token` and `securenode enroll`. */
export function registerEnrollmentCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('create-enrollment-token')
    .description('print a new enrollment token (and nothing else), from the running node')
    .requiredOption('-s, --scope <scope>', 'client (an application) or node (another node joining the cluster)')
    .option('--url <url>', 'the running node (default: the address it recorded in its data dir)')
    .option('--ttl <duration>', 'how long the token is valid', '30m')
    .option('-f, --force', 'accepted for Elasticsearch compatibility; there is no cluster health to override yet')
    .option('--home <dir>', 'the node home (default: $SECURENODE_HOME, else ./securenode-home)')
    .option('-E, --setting <key=value>', 'a setting (repeatable)', collect, [])
    .action(async (options: { scope: string; url?: string; ttl: string; home?: string; setting: string[] }) => done(await createToken(options, io)));

  program
    .command('enroll')
    .description('enroll a client with a node: pin its CA, get a service token, write ca.crt and client.yml; --refresh updates ca.crt after a CA rotation')
    .option('--enrollment-token <token>', 'the token the node printed, or create-enrollment-token made')
    .option('--out <dir>', 'where to write ca.crt and client.yml', './securenode-client')
    .option('--refresh', "an enrolled client's ca.crt gets the CAs the node names now (during a CA rotation: the old and the new), over a connection its ca.crt verifies")
    .action(async (options: { enrollmentToken?: string; out: string; refresh?: boolean }) => {
      if (options.refresh) return done(await refreshCa(options.out, io));
      if (options.enrollmentToken === undefined) throw new SecurenodeError('ERR_USAGE', "enroll needs --enrollment-token <token> (or --refresh, for a client that enrolled already)");
      done(await enroll({ enrollmentToken: options.enrollmentToken, out: options.out }, io));
    });
}

async function createToken(options: { scope: string; url?: string; ttl: string; home?: string; setting: string[] }, io: CliIo): Promise<number> {
  if (options.scope !== 'client' && options.scope !== 'node') {
    throw new SecurenodeError('ERR_USAGE', `Invalid scope [${options.scope}]: the scope of this enrollment token can only be one of [node, client]`);
  }
  const ttl = parseDuration(options.ttl);
  if (!ttl) throw new SecurenodeError('ERR_USAGE', `--ttl ${options.ttl}: expected a duration such as 30m, 1h or 7d`);
  const home = resolveHome(options.home, io.env);
  const raw = await loadSettings({ configFile: homePaths(home).configFile, env: io.env, overrides: options.setting });
  const settings = await resolveVaultReferences(raw, { env: io.env });
  if (settings.bool('security.enrollment.enabled') !== true) {
    throw new SecurenodeError('ERR_ENROLLMENT_DISABLED', '[security.enrollment.enabled] must be set to `true` to create an enrollment token');
  }
  const paths = homePaths(home, { data: settings.string('path.data'), logs: settings.string('path.logs') });
  try {
    const operator = await operatorContext(io, paths, { configuredPort: settings.number('http.port')!, ...(options.url ? { url: options.url } : {}) });
    const local = await operatorRequest(operator, { method: 'GET', path: '/_nodes/_local' });
    if (local.status !== 200) throw new Error(answerError(local));
    const node = Object.values((local.body as { nodes: Record<string, { version: string; http: { enrollment_addresses: string[] } }> }).nodes)[0]!;
    if (node.http.enrollment_addresses.length === 0) throw new Error('the node has no address that its HTTP certificate covers');
    const created = await operatorRequest(operator, {
      method: 'POST',
      path: '/_security/api_key',
      body: { name: `enrollment_token_API_key_${randomBytes(9).toString('base64url')}`, expiration: options.ttl, role_descriptors: { enroll: { cluster: [`enroll_${options.scope}`] } } },
    });
    if (created.status !== 200) throw new Error(answerError(created));
    const key = created.body as { id: string; api_key: string };
    const fgr = sha256Fingerprint(await readFile(`${paths.certsDir}/http_ca.crt`, 'utf8'));
    io.stdout.write(`${encodeEnrollmentToken({ ver: node.version, adr: node.http.enrollment_addresses, fgr, key: `${key.id}:${key.api_key}` })}\n`);
    return 0;
  } catch (error) {
    throw new SecurenodeError('ERR_ENROLLMENT_FAILED', `Unable to create enrollment token for scope [${options.scope}]: ${(error as Error).message}`);
  }
}

async function enroll(options: { enrollmentToken: string; out: string }, io: CliIo): Promise<number> {
  const token = decodeEnrollmentToken(options.enrollmentToken);
  const out = resolve(options.out);
  const files = { ca: `${out}/ca.crt`, config: `${out}/client.yml` };
  for (const file of Object.values(files)) {
    if (await pathExists(file)) throw new SecurenodeError('ERR_CANT_CREATE', `${file} already exists; enroll into a new --out directory (nothing was sent to the node)`);
  }
  const answer = await pinnedGet(token.adr, token.fgr, '/_security/enroll/client', { authorization: `ApiKey ${Buffer.from(token.key).toString('base64')}` });
  if (answer.status !== 200) {
    const reason = refusalReason(answer);
    const hint = answer.status === 401 ? ' (the token may have expired or been used up; create a new one on the node, with `securenode create-enrollment-token -s client` and the --home of that node)' : '';
    throw new SecurenodeError('ERR_ENROLLMENT_UNREACHABLE', `the node at ${answer.address} refused the enrollment: ${reason}${hint}`);
  }
  const body = answer.body as { token?: { name?: string; value?: string }; http_ca?: string; http_ca_next?: string };
  if (typeof body.token?.value !== 'string' || typeof body.http_ca !== 'string') throw new SecurenodeError('ERR_ENROLLMENT_TOKEN', `the node at ${answer.address} answered without a service token or CA`);
  const ca = new X509Certificate(Buffer.from(body.http_ca, 'base64'));
  if (sha256Fingerprint(ca) !== token.fgr) throw new SecurenodeError('ERR_ENROLLMENT_TOKEN', `the node at ${answer.address} sent a CA other than the one the token names`);
  await makeDirectory(out, 0o700);
  // During a CA rotation the node names the new CA too: the client trusts both, and keeps working once the rotation finishes.
  const next = typeof body.http_ca_next === 'string' ? new X509Certificate(Buffer.from(body.http_ca_next, 'base64')) : undefined;
  await writeNewFile(files.ca, ca.toString() + (next?.ca ? next.toString() : ''), 0o600);
  await writeNewFile(files.config, stringify({ hosts: token.adr.map((address) => `https://${address}`), ca: files.ca, service_token: body.token.value }), 0o600);
  io.stdout.write(
    `Enrolled with the node at https://${answer.address}/\nWrote ${files.ca} and ${files.config} (mode 0600); client.yml holds the service token.\n` +
      `Try it: curl --cacert ${files.ca} -H "Authorization: Bearer $(sed -n 's/^service_token: //p' ${files.config})" https://${answer.address}/_security/_authenticate\n`,
  );
  return 0;
}

/** GET /_security/http_ca from one host, trusting only the client's CA file, with its service token. */
function fetchCas(host: string, ca: string, token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolvePromise, reject) => {
    const url = new URL('/_security/http_ca', host);
    const request = httpsRequest(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 10_000, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        try {
          resolvePromise({ status: response.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolvePromise({ status: response.statusCode ?? 0, body: undefined });
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
    request.end();
  });
}

/**
 * `securenode enroll --refresh`: after `certs rotate-ca http` on the node, an
 * enrolled client fetches the CAs the node names now (old and new) over a
 * connection its current ca.crt verifies, with its service token, and replaces
 * its ca.crt with them (atomically). Done before the rotation finishes, the
 * client never meets a certificate it does not trust.
 */
async function refreshCa(outDir: string, io: CliIo): Promise<number> {
  const out = resolve(outDir);
  const configFile = `${out}/client.yml`;
  const config = parseYaml(await readFile(configFile, 'utf8').catch(() => {
    throw new SecurenodeError('ERR_USAGE', `${configFile} does not exist: --refresh updates a client that enrolled into --out ${out}; enroll first with --enrollment-token`);
  })) as { hosts?: unknown; ca?: unknown; service_token?: unknown };
  if (!Array.isArray(config.hosts) || typeof config.ca !== 'string' || typeof config.service_token !== 'string') throw new SecurenodeError('ERR_ENROLLMENT_TOKEN', `${configFile} lacks hosts, ca or service_token; enroll again with a new token`);
  const caFile = resolve(out, config.ca);
  const current = await readFile(caFile, 'utf8');
  const failures: string[] = [];
  for (const host of config.hosts.map(String)) {
    let answer: { status: number; body: unknown };
    try {
      answer = await fetchCas(host, current, config.service_token);
    } catch (error) {
      failures.push(`${host}: ${(error as Error).message}`);
      continue;
    }
    const pems = (answer.body as { http_ca?: unknown } | undefined)?.http_ca;
    if (answer.status !== 200 || !Array.isArray(pems) || pems.length === 0) {
      failures.push(`${host}: HTTP ${answer.status}`);
      continue;
    }
    const certificates = pems.map((pem) => new X509Certificate(String(pem)));
    if (certificates.some((certificate) => !certificate.ca)) throw new SecurenodeError('ERR_ENROLLMENT_TOKEN', `${host} named a certificate that is no CA; ${caFile} was left as it was`);
    await writeFileAtomic(caFile, certificates.map((certificate) => certificate.toString()).join(''), 0o600);
    io.stdout.write(`Refreshed ${caFile} from ${host}: it trusts ${certificates.map((certificate) => sha256Fingerprint(certificate)).join(' and ')}.\n`);
    return 0;
  }
  throw new SecurenodeError('ERR_ENROLLMENT_UNREACHABLE', `no node could be asked for its CAs (${failures.join('; ')}); ${caFile} was left as it was. A client whose CA the node no longer serves under must enroll again with a new token`);
}
