import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SecurenodeError } from '../errors.js';
import type { HomePaths } from '../home/layout.js';
import type { Keystore } from '../keystore/keystore.js';
import { sha256Fingerprint } from '../pki/fingerprint.js';
import { readPkcs12Certificates } from '../pki/read-pkcs12.js';
import { tlsPasswordSettings } from '../pki/tls-material.js';
import type { Settings } from '../settings/settings.js';

/** What a server needs to speak TLS: the .p12 files with their passwords, and the CAs. */
export interface TlsFiles {
  readonly httpP12: Buffer;
  readonly httpP12Password: string;
  readonly transportP12: Buffer;
  readonly transportP12Password: string;
  /** PEM of the HTTP CA (the CA entry of http.p12): what clients trust. */
  readonly httpCaPem: string;
  /** SHA-256 of the HTTP CA certificate, lowercase hex. */
  readonly httpCaFingerprint: string;
  /** PEM of the transport CA: the only CA a transport peer may chain to. */
  readonly transportCaPem: string;
  /** PEM of the node's HTTP certificate: the names it covers decide the enrollment addresses. */
  readonly httpCertificatePem: string;
  /** PEM of the new HTTP CA while a rotation is under way (`securenode certs rotate-ca http`): clients are to trust it too. */
  readonly httpCaNextPem?: string;
}

async function readConfigured(paths: HomePaths, relative: string, setting: string): Promise<Buffer> {
  const path = resolve(paths.configDir, relative);
  try {
    return await readFile(path);
  } catch (error) {
    throw new SecurenodeError('ERR_TLS_MATERIAL', `cannot read ${path} (${setting}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * The certificates of a .p12 file; when it does not open, the reason said
 * right: a missing keystore, or one without the file's password, is not a
 * damaged file (and a new keystore cannot bring the password back).
 */
function openP12(p12: Buffer, password: string, path: string, setting: string, paths: HomePaths, keystore: Keystore | undefined) {
  try {
    return readPkcs12Certificates(p12, password, path);
  } catch (error) {
    const restart = 'restore it from a backup; without one, move the home away and start a new one (the certificates cannot be opened without their passwords)';
    if (!keystore) throw new SecurenodeError('ERR_KEYSTORE_MISSING', `the keystore ${paths.keystoreFile} is missing, and it holds the password of ${path}; ${restart}`);
    if (keystore.getString(setting) === undefined) throw new SecurenodeError('ERR_KEYSTORE_SETTING_MISSING', `the keystore ${paths.keystoreFile} holds no ${setting}, the password of ${path}; ${restart}`);
    throw error;
  }
}

/**
 * Load the TLS files the settings name, with their passwords from the keystore;
 * undefined when HTTP TLS is not configured with a keystore file.
 */
export async function loadTlsFiles(paths: HomePaths, settings: Settings, keystore: Keystore | undefined): Promise<TlsFiles | undefined> {
  const httpPath = settings.string('security.http.ssl.keystore.path');
  const transportPath = settings.string('security.transport.ssl.keystore.path');
  if (settings.bool('security.http.ssl.enabled') !== true || !httpPath || !transportPath) return undefined;
  const httpP12 = await readConfigured(paths, httpPath, 'security.http.ssl.keystore.path');
  const transportP12 = await readConfigured(paths, transportPath, 'security.transport.ssl.keystore.path');
  const httpP12Password = keystore?.getString(tlsPasswordSettings.http) ?? '';
  const transportP12Password = keystore?.getString(tlsPasswordSettings.transportKeystore) ?? '';
  const httpEntries = openP12(httpP12, httpP12Password, httpPath, tlsPasswordSettings.http, paths, keystore);
  const httpCa = httpEntries.find((entry) => entry.alias === 'http_ca');
  const httpCertificate = httpEntries.find((entry) => entry.alias === 'http');
  const httpCaNext = httpEntries.find((entry) => entry.alias === 'http_ca_next');
  const transportCa = openP12(transportP12, transportP12Password, transportPath, tlsPasswordSettings.transportKeystore, paths, keystore).find((entry) => entry.alias === 'transport_ca');
  if (!httpCa || !transportCa || !httpCertificate) {
    throw new SecurenodeError('ERR_TLS_MATERIAL', `${httpCa ? transportPath : httpPath} holds no ${httpCa ? 'transport_ca' : 'http_ca'} entry; restore the file auto-configuration wrote`);
  }
  return {
    httpP12,
    httpP12Password,
    transportP12,
    transportP12Password,
    httpCaPem: httpCa.pem,
    httpCaFingerprint: sha256Fingerprint(httpCa.pem),
    transportCaPem: transportCa.pem,
    httpCertificatePem: httpCertificate.pem,
    ...(httpCaNext ? { httpCaNextPem: httpCaNext.pem } : {}),
  };
}
