import { readFile, stat } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { resolve } from 'node:path';
import type { Server } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { AuditLog } from '../logging/audit.js';
import { describeCertificate, describeTlsCertificates, isDueForRenewal, renewHttpP12, transportCertificatePem, type CertificateDescription } from '../pki/renewal.js';
import { readPkcs12Certificates } from '../pki/read-pkcs12.js';
import { parseDuration } from '../settings/coerce.js';
import type { Settings } from '../settings/settings.js';
import { intermediateTls } from './tls-profile.js';
import { sha256Fingerprint } from '../pki/fingerprint.js';
import { withCertsLock } from './data-dir.js';

const day = 86_400_000;
/** How often the node checks whether its leaf is due, and says again which certificates expire soon. */
const checkEvery = 12 * 3_600_000;

/** What the keeper needs: the files and settings of the home, the server whose certificate it swaps. */
export interface CertificateKeeperOptions {
  readonly settings: Settings;
  readonly configDir: string;
  readonly tls: TlsFiles;
  readonly logger: Logger;
  readonly audit: AuditLog;
}

/**
 * Looks after the node's certificates while it runs: takes a renewed http.p12
 * (written by `securenode certs renew http`, or copied in by hand) without a
 * restart and without dropping open connections, by swapping the HTTPS
 * server's secure context (new handshakes get the new certificate; open
 * connections keep theirs); renews its own HTTP leaf when less than a third of
 * its life is left (security.certs.auto_renew); and warns, at start and twice a
 * day, of any certificate within security.certs.warn_before of its end.
 */
export class CertificateKeeper {
  readonly #options: CertificateKeeperOptions;
  readonly #httpPath: string;
  readonly #transportPath: string;
  #transportServer: Server | undefined;
  readonly #warnBeforeMs: number;
  #httpPem: string;
  #transportPem: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #server: Server | undefined;
  #reloading: Promise<void> = Promise.resolve();

  constructor(options: CertificateKeeperOptions) {
    this.#options = options;
    this.#httpPath = resolve(options.configDir, options.settings.string('security.http.ssl.keystore.path')!);
    this.#transportPath = resolve(options.configDir, options.settings.string('security.transport.ssl.keystore.path')!);
    this.#warnBeforeMs = parseDuration(options.settings.string('security.certs.warn_before')!) ?? 30 * day;
    this.#httpPem = options.tls.httpCertificatePem;
    this.#transportPem = transportCertificatePem(options.tls);
  }

  /** The four certificates as they are now. */
  certificates(now = Date.now()): CertificateDescription[] {
    return describeTlsCertificates({ ...this.#options.tls, httpCertificatePem: this.#httpPem }, this.#transportPem, now);
  }

  /** The certificates that end within security.certs.warn_before (or already ended). */
  expiring(now = Date.now()): CertificateDescription[] {
    return this.certificates(now).filter((certificate) => new Date(certificate.notAfter).getTime() - now < this.#warnBeforeMs);
  }

  /** Start looking after the servers' certificates: the HTTPS server's, and the transport listener's. */
  async start(server: Server, transportServer: Server): Promise<void> {
    this.#server = server;
    this.#transportServer = transportServer;
    const interval = parseDuration(this.#options.settings.string('security.certs.reload_interval')!) ?? 5000;
    const watch = async (path: string, reload: () => Promise<void>): Promise<void> => {
      let seen = (await stat(path)).mtimeMs;
      watchFile(path, { interval, persistent: false }, (current) => {
        if (current.mtimeMs === seen || current.mtimeMs === 0) return;
        seen = current.mtimeMs;
        this.#reloading = this.#reloading.then(reload);
      });
    };
    await watch(this.#httpPath, () => this.#reload());
    await watch(this.#transportPath, () => this.#reloadTransport());
    await this.#mendCaFile();
    await this.#check();
    this.#timer = setInterval(() => void this.#check(), checkEvery).unref();
  }

  stop(): void {
    unwatchFile(this.#httpPath);
    unwatchFile(this.#transportPath);
    if (this.#timer) clearInterval(this.#timer);
  }

  /** A .p12 file as it is on disk now, and its certificates by alias. */
  async #open(path: string, password: string): Promise<{ p12: Buffer; pemOf: (alias: string) => string | undefined }> {
    const p12 = await readFile(path);
    const entries = readPkcs12Certificates(p12, password, path);
    return { p12, pemOf: (alias) => entries.find((entry) => entry.alias === alias)?.pem };
  }

  /** Swap in the file's certificate with `take` (undefined: nothing changed), log and audit it; a file that cannot be used leaves everything as it is. */
  async #take(certificate: 'http' | 'transport', path: string, take: () => Promise<{ leaf: string; fields?: Record<string, unknown> } | undefined>): Promise<void> {
    const { logger, audit } = this.#options;
    try {
      const taken = await take();
      if (!taken) return;
      const now = describeCertificate(certificate, taken.leaf);
      logger.info({ event: 'certificate_reloaded', certificate, serial: now.serial, not_after: now.notAfter, ...taken.fields }, `the ${certificate} certificate was reloaded from ${path}: serial ${now.serial}, valid until ${now.notAfter}; open connections keep the one they started with`);
      audit.record('certificate_reloaded', { source: 'node' }, { certificate, serial: now.serial, not_after: now.notAfter });
    } catch (error) {
      logger.error({ event: 'certificate_reload_failed', path, error: (error as Error).message }, `${path} changed but cannot be used (${(error as Error).message}); the node keeps the ${certificate} certificate it had`);
    }
  }

  /**
   * Take http.p12 as it is on disk now, and what it says of the CAs (a
   * rotation started or finished): the node's TLS files are shared by its
   * routes (enrollment answers with the CA), so they change in place.
   */
  #reload(): Promise<void> {
    const tls = this.#options.tls as { -readonly [K in keyof TlsFiles]: TlsFiles[K] };
    return this.#take('http', this.#httpPath, async () => {
      const { p12, pemOf } = await this.#open(this.#httpPath, tls.httpP12Password);
      const [leaf, ca, next] = [pemOf('http'), pemOf('http_ca'), pemOf('http_ca_next')];
      if (!leaf || !ca) throw new Error('no "http" or "http_ca" entry');
      if (leaf === this.#httpPem && ca === tls.httpCaPem && next === tls.httpCaNextPem) return undefined;
      this.#server!.setSecureContext({ pfx: p12, passphrase: tls.httpP12Password, ...intermediateTls });
      this.#httpPem = leaf;
      Object.assign(tls, { httpP12: p12, httpCertificatePem: leaf, httpCaPem: ca, httpCaFingerprint: sha256Fingerprint(ca) });
      if (next) tls.httpCaNextPem = next;
      else delete tls.httpCaNextPem;
      await this.#mendCaFile();
      return { leaf, fields: { ca: tls.httpCaFingerprint, next_ca: next ? sha256Fingerprint(next) : null } };
    });
  }

  /**
   * Take transport.p12 as it is on disk now (`certs renew transport`): the
   * listener's new handshakes and this node's new connections to others present
   * the new certificate; open connections keep theirs.
   */
  #reloadTransport(): Promise<void> {
    const tls = this.#options.tls as { -readonly [K in keyof TlsFiles]: TlsFiles[K] };
    return this.#take('transport', this.#transportPath, async () => {
      const { p12, pemOf } = await this.#open(this.#transportPath, tls.transportP12Password);
      const leaf = pemOf('transport');
      if (!leaf || pemOf('transport_ca') !== tls.transportCaPem) throw new Error(leaf ? "a transport CA other than the cluster's" : 'no "transport" entry');
      this.#transportServer!.setSecureContext({ pfx: p12, passphrase: tls.transportP12Password, ca: [tls.transportCaPem], ...intermediateTls });
      tls.transportP12 = p12;
      this.#transportPem = leaf;
      return { leaf };
    });
  }

  /** config/certs/http_ca.crt holds the CAs that http.p12 says clients must trust (a crash in the middle of a rotation step left it behind). */
  async #mendCaFile(): Promise<void> {
    const { tls, logger } = this.#options;
    const caFile = resolve(this.#options.configDir, 'certs', 'http_ca.crt');
    const wanted = tls.httpCaPem + (tls.httpCaNextPem ?? '');
    const found = await readFile(caFile, 'utf8').catch(() => undefined);
    // Only a file of these CAs is mended: one the operator put there for another purpose is left alone.
    if (found === undefined || found === wanted || !(found.includes(tls.httpCaPem) || (tls.httpCaNextPem !== undefined && found.includes(tls.httpCaNextPem)))) return;
    await writeFileAtomic(caFile, wanted, (await stat(caFile)).mode & 0o777);
    logger.info({ event: 'ca_file_mended', path: caFile }, `${caFile} did not hold the CAs of http.p12 (a CA rotation step was cut short); it was written again`);
  }

  /** Renew the HTTP leaf when due (and allowed), then warn of what expires soon. */
  async #check(): Promise<void> {
    const { logger, audit, settings, tls } = this.#options;
    if (settings.bool('security.certs.auto_renew') !== false && isDueForRenewal(this.#httpPem)) {
      try {
        // Under the tools' lock: a rotation started a moment ago is read, not overwritten.
        const renewal = await withCertsLock(resolve(this.#options.configDir, 'certs'), async () => {
          const made = await renewHttpP12(await readFile(this.#httpPath), tls.httpP12Password, this.#httpPath);
          await writeFileAtomic(this.#httpPath, made.p12, (await stat(this.#httpPath)).mode & 0o777);
          return made;
        });
        logger.info({ event: 'certificate_renewed', certificate: 'http', previous_serial: renewal.previous.serial, serial: renewal.renewed.serial, not_after: renewal.renewed.notAfter }, `the HTTP certificate had less than a third of its life left (until ${renewal.previous.notAfter}); it was renewed from the same CA, valid until ${renewal.renewed.notAfter}`);
        audit.record('certificate_renewed', { source: 'node' }, { certificate: 'http', previous_serial: renewal.previous.serial, serial: renewal.renewed.serial, not_after: renewal.renewed.notAfter, by: 'auto_renew' });
        this.#reloading = this.#reloading.then(() => this.#reload());
        await this.#reloading;
      } catch (error) {
        logger.error({ event: 'certificate_renewal_failed', error: (error as Error).message }, `the HTTP certificate is due for renewal, but renewing it failed: ${(error as Error).message}; run \`securenode certs renew http\``);
      }
    }
    for (const certificate of this.expiring()) {
      const when = certificate.daysLeft < 0 ? `ended on ${certificate.notAfter}` : `ends on ${certificate.notAfter} (${certificate.daysLeft} days left)`;
      const fix = certificate.name === 'http' ? 'run `securenode certs renew http`' : certificate.name === 'http_ca' ? 'rotate the HTTP CA (see README, "Certificates after the first start")' : certificate.name === 'transport' ? 'run `securenode certs renew transport`' : 'see README, "Certificates after the first start"';
      logger.warn({ event: 'certificate_expiring', certificate: certificate.name, not_after: certificate.notAfter, days_left: certificate.daysLeft }, `the ${certificate.name} certificate ${when}; ${fix}`);
    }
  }
}
