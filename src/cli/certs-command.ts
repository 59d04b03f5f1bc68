import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadTlsFiles } from '../autoconfig/tls-files.js';
import { SecurenodeError } from '../errors.js';
import { homePaths, resolveHome } from '../home/layout.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { Keystore } from '../keystore/keystore.js';
import type { SubjectAltName } from '../pki/certificate.js';
import { describeTlsCertificates, renewHttpP12, renewTransportP12, rotateHttpCa, transportCertificatePem, type CertificateDescription } from '../pki/renewal.js';
import { parseDuration } from '../settings/coerce.js';
import { loadSettingsIfAny } from '../settings/load.js';
import type { CliIo } from './io.js';
import { withCertsLock } from '../node/data-dir.js';
import { openKeystore } from './keystore-password.js';

interface CertsOptions {
  home?: string;
  setting: string[];
  json?: boolean;
  san: string[];
  finish?: boolean;
}

const titles: Record<CertificateDescription['name'], string> = { http_ca: 'HTTP CA', http_ca_next: 'new HTTP CA (rotation under way)', http: 'HTTP certificate', transport_ca: 'transport CA', transport: 'transport certificate' };

/** The home's settings, keystore and TLS files, as the node reads them. */
async function openHome(io: CliIo, options: CertsOptions) {
  const home = resolveHome(options.home, io.env);
  const paths = homePaths(home);
  const settings = await loadSettingsIfAny({ configFile: paths.configFile, env: io.env, overrides: options.setting });
  const keystore = (await Keystore.exists(paths.keystoreFile)) ? (await openKeystore(io, paths.keystoreFile)).keystore : undefined;
  const tls = await loadTlsFiles(paths, settings, keystore);
  if (!tls) throw new SecurenodeError('ERR_TLS_MATERIAL', `${paths.configFile} configures no TLS keystore (security.http.ssl.keystore.path); start the node once to have its certificates made, or look after certificates you brought yourself`);
  return { paths, settings, tls };
}

function renderStatus(certificates: readonly CertificateDescription[], warnDays: number): string {
  const lines: string[] = [];
  for (const certificate of certificates) {
    const state = certificate.daysLeft < 0 ? 'EXPIRED' : certificate.daysLeft < warnDays ? `EXPIRES SOON (within ${warnDays} days)` : 'ok';
    lines.push(`${titles[certificate.name]}: ${state}`);
    lines.push(`  subject      ${certificate.subject}`);
    if (certificate.subjectAltNames.length > 0) lines.push(`  names        ${certificate.subjectAltNames.join(', ')}`);
    lines.push(`  key          ${certificate.keyType} ${certificate.keySize}`);
    lines.push(`  sha-256      ${certificate.fingerprint}`);
    lines.push(`  valid        ${certificate.notBefore} to ${certificate.notAfter} (${certificate.daysLeft} days left)`);
  }
  return `${lines.join('\n')}\n`;
}

/** --san values: DNS names or IP addresses. */
function parseSans(values: readonly string[]): SubjectAltName[] {
  return values.map((value) => {
    if (isIP(value)) return { kind: 'ip', value };
    if (/^(?=.{1,253}$)(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(value)) return { kind: 'dns', value };
    throw new SecurenodeError('ERR_USAGE', `--san ${value}: expected a DNS name or an IP address`);
  });
}

/** `certs renew transport`: a new transport certificate for this node, from the cluster's transport CA. */
async function renewTransport(io: CliIo, options: CertsOptions): Promise<number> {
  if (options.san.length > 0) throw new SecurenodeError('ERR_USAGE', '--san is for the HTTP certificate: transport peers check the chain, not names');
  const { settings, paths, tls } = await openHome(io, options);
  const file = resolve(paths.configDir, settings.string('security.transport.ssl.keystore.path')!);
  const renewal = await withCertsLock(paths.certsDir, async () => {
    const made = await renewTransportP12(await readFile(file), tls.transportP12Password, file, settings.string('node.name')!);
    await writeFileAtomic(file, made.p12, (await stat(file)).mode & 0o777);
    return made;
  });
  io.stdout.write(
    `Renewed this node's transport certificate from the cluster's transport CA (every node of the cluster accepts it):\n` +
      `  serial   ${renewal.previous.serial} -> ${renewal.renewed.serial}\n` +
      `  subject  ${renewal.renewed.subject}\n` +
      `  valid    until ${renewal.renewed.notAfter}\n` +
      `A running node takes it within ${settings.string('security.certs.reload_interval')} for new transport connections, without a restart.\n`,
  );
  return 0;
}

/** Register `securenode certs status|renew`: kubeadm's `certs check-expiration` and `certs renew`, for the node's own certificates. */
export function registerCertsCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  const certs = program.command('certs').description("the node's certificates after its first start: how long they last, and renewal");
  const common = (command: Command) =>
    command
      .option('--home <dir>', 'the node home (default: $SECURENODE_HOME, else ./securenode-home)')
      .option('-E, --setting <key=value>', 'a setting (repeatable)', (value: string, all: string[]) => [...all, value], []);
  common(certs.command('status'))
    .description('each certificate with its names, key, fingerprint and dates; exit 1 when one ends within security.certs.warn_before (default 30 days)')
    .option('--json', 'print JSON')
    .action(async (options: CertsOptions) => {
      const { settings, tls } = await openHome(io, options);
      const warnDays = Math.floor((parseDuration(settings.string('security.certs.warn_before')!) ?? 30 * 86_400_000) / 86_400_000);
      const certificates = describeTlsCertificates(tls, transportCertificatePem(tls));
      const soon = certificates.filter((certificate) => certificate.daysLeft < warnDays);
      if (options.json) {
        io.stdout.write(`${JSON.stringify({ warn_before_days: warnDays, certificates: certificates.map((certificate) => ({ ...certificate, expiring: certificate.daysLeft < warnDays })) }, null, 2)}\n`);
      } else {
        io.stdout.write(renderStatus(certificates, warnDays));
        if (soon.length > 0) io.stdout.write(`\n${soon.map((certificate) => titles[certificate.name]).join(', ')} ${soon.length === 1 ? 'ends' : 'end'} within ${warnDays} days: ${soon.some((certificate) => certificate.name === 'http') ? 'run `securenode certs renew http`' : 'see README, "Certificates after the first start"'}\n`);
      }
      done(soon.length > 0 ? 1 : 0);
    });
  common(certs.command('renew'))
    .argument('<which>', 'http, or transport (this node\'s certificate from the cluster\'s transport CA)')
    .description('a new HTTP certificate from the same HTTP CA (clients keep trusting the node); a running node takes it within security.certs.reload_interval, without a restart')
    .option('--san <name>', 'a DNS name or IP address to add to the certificate (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .action(async (which: string, options: CertsOptions) => {
      if (which !== 'http' && which !== 'transport') throw new SecurenodeError('ERR_USAGE', `certs renew takes http or transport, not '${which}'`);
      if (which === 'transport') return done(await renewTransport(io, options));
      const sans = parseSans(options.san);
      const { settings, paths, tls } = await openHome(io, options);
      const file = resolve(paths.configDir, settings.string('security.http.ssl.keystore.path')!);
      const renewal = await withCertsLock(paths.certsDir, async () => {
        const made = await renewHttpP12(await readFile(file), tls.httpP12Password, file, { addSubjectAltNames: sans });
        // One file, written to a temporary name, synced and renamed over the old: a crash leaves the old certificate or the new, whole.
        await writeFileAtomic(file, made.p12, (await stat(file)).mode & 0o777);
        return made;
      });
      io.stdout.write(
        `Renewed the HTTP certificate from the same HTTP CA (clients that trust ${paths.certsDir}/http_ca.crt keep trusting the node):\n` +
          `  serial   ${renewal.previous.serial} -> ${renewal.renewed.serial}\n` +
          `  valid    until ${renewal.renewed.notAfter} (was ${renewal.previous.notAfter})\n` +
          `  names    ${renewal.renewed.subjectAltNames.join(', ')}\n` +
          `A running node takes it within ${settings.string('security.certs.reload_interval')} without a restart; open connections keep the certificate they started with.\n`,
      );
      done(0);
    });
  common(certs.command('rotate-ca'))
    .argument('<which>', 'http')
    .description('rotate the HTTP CA in two steps: make a new CA that clients are to trust beside the old one; then, with --finish, serve a certificate from the new CA')
    .option('--finish', 'the second step: serve a certificate from the new CA, and drop the old one')
    .action(async (which: string, options: CertsOptions) => {
      if (which !== 'http') throw new SecurenodeError('ERR_USAGE', `certs rotate-ca takes http, not '${which}' (the transport CA is the cluster's and lasts 99 years)`);
      const { settings, paths, tls } = await openHome(io, options);
      const file = resolve(paths.configDir, settings.string('security.http.ssl.keystore.path')!);
      const caFile = `${paths.certsDir}/http_ca.crt`;
      const rotation = await withCertsLock(paths.certsDir, async () => {
        const made = await rotateHttpCa(await readFile(file), tls.httpP12Password, file, options.finish ? 'finish' : 'start');
        // http.p12 first, then the CA file; a crash between the two is mended by the node, which writes the CA file from http.p12 when they differ.
        await writeFileAtomic(file, made.p12, (await stat(file)).mode & 0o777);
        await writeFileAtomic(caFile, made.trustPem, (await stat(caFile)).mode & 0o777);
        return made;
      });
      const interval = settings.string('security.certs.reload_interval');
      if (!options.finish) {
        io.stdout.write(
          `Started a rotation of the HTTP CA. The node keeps serving its certificate from the old CA until you finish.\n` +
            `  old CA   ${rotation.oldCa.fingerprint} (until ${rotation.oldCa.notAfter})\n` +
            `  new CA   ${rotation.newCa.fingerprint} (until ${rotation.newCa.notAfter})\n` +
            `${caFile} now holds both. Before you finish, have every client trust both:\n` +
            `  - clients given the CA file: give them the new ${caFile};\n` +
            `  - enrolled clients: run \`securenode enroll --refresh --out <the client's directory>\` on each.\n` +
            `Then run \`securenode certs rotate-ca http --finish\`. A running node takes each step within ${interval}, without a restart.\n`,
        );
      } else {
        io.stdout.write(
          `Finished the rotation of the HTTP CA: the node serves a certificate from the new CA ${rotation.newCa.fingerprint} (within ${interval}), and ${caFile} holds only it.\n` +
            `Clients that did not refresh no longer trust the node: enroll them again (\`securenode create-enrollment-token -s client\`). New enrollment tokens name the new CA.\n`,
        );
      }
      done(0);
    });
}
