import { readFile } from 'node:fs/promises';
import { ensureHome } from '../home/create-home.js';
import { homePaths, resolveHome, type HomePaths } from '../home/layout.js';
import { Keystore } from '../keystore/keystore.js';
import { acquireLock } from '../node/data-dir.js';
import { discoverSubjectAltNames } from '../pki/subject-alt-names.js';
import { generateTlsMaterial, joiningTlsMaterial, tlsPasswordSettings, type TlsMaterialOptions } from '../pki/tls-material.js';
import type { ReceivedNodeEnrollment } from '../enrollment/node-enrollment.js';
import { SecurenodeError, type ErrorCode } from '../errors.js';
import { firstFinding, isAnyHttpHostSet, type Finding } from '../preflight/checks.js';
import { gatherFileFacts, keystoreTlsPasswords, probeConfigDir } from '../preflight/gather-facts.js';
import { loadSettings } from '../settings/load.js';
import { resolveVaultReferences } from '../settings/vault/resolve.js';
import type { Settings } from '../settings/settings.js';
import { appendConfigBlock, renderConfigBlock } from './config-block.js';
import { recoverJournal, type Recovery } from './journal.js';
import { loadTlsFiles, type TlsFiles } from './tls-files.js';
import { applyConfiguration, type TransactionStep } from './transaction.js';

/** Steps reported while auto-configuration runs, for a spinner or a log. */
export type AutoConfigureProgress = 'checking' | 'enrolling' | 'generating-keys' | 'writing-configuration';

/** What autoConfigure needs; everything is optional. */
export interface AutoConfigureOptions {
  /** The home; default $SECURENODE_HOME, else ./securenode-home. */
  readonly home?: string;
  /** Environment for settings and SECURENODE_KEYSTORE_PASSWORD; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** -E key=value overrides. */
  readonly overrides?: readonly string[];
  /** The keystore password; default SECURENODE_KEYSTORE_PASSWORD, else none. */
  readonly keystorePassword?: string;
  readonly onProgress?: (step: AutoConfigureProgress) => void;
  /** Keep the home's lock and return its release function (a node holds it while it runs). */
  readonly keepLock?: boolean;
  /** The fetch that hcv references use; default the global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * Join a cluster (`securenode start --enrollment-token`): every check failure
   * is then fatal, and this is called once they pass, before anything is
   * written; it returns what the cluster sent (see fetchNodeEnrollment).
   */
  readonly enrollment?: () => Promise<ReceivedNodeEnrollment>;
  /** Makes each key pair of the TLS set; default Node's RSA generator. For tests, which reuse keys made once. */
  readonly generateKeyPair?: TlsMaterialOptions['generateKeyPair'];
  /** For tests: called after each transaction step; throwing there simulates a failure. */
  readonly afterStep?: (step: TransactionStep) => Promise<void>;
}

/** What every outcome of autoConfigure carries. */
export interface Outcome {
  readonly paths: HomePaths;
  /** The settings as they are now (after the block, when it was written), vault references resolved. */
  readonly settings: Settings;
  /** The same settings as written, references unresolved: for anything that is logged or written. */
  readonly rawSettings: Settings;
  /** The keystore as it is now; undefined when the home has none. */
  readonly keystore: Keystore | undefined;
  readonly keystorePassword: string;
  /** The TLS files the settings name; undefined when HTTP TLS is not configured. */
  readonly tls: TlsFiles | undefined;
  /** What a crash of an earlier run left, and what was done about it. */
  readonly recovery: Recovery;
  /** Present with keepLock: release the home's lock. */
  readonly releaseLock?: () => Promise<void>;
}

/** Configured now, or skipped with the finding that says why. */
export type AutoConfigureResult =
  | (Outcome & { readonly kind: 'configured'; readonly tls: TlsFiles; readonly joined?: { readonly clusterUuid: string; readonly address: string } })
  | (Outcome & { readonly kind: 'skipped'; readonly finding: Finding });

const findingCodes: Record<Finding['exitCode'], ErrorCode> = { 73: 'ERR_CANT_CREATE', 78: 'ERR_PREFLIGHT_CONFIG', 80: 'ERR_PREFLIGHT_NOT_NEW' };

/** With an enrollment token a check that fails is fatal, with its own exit code (Elasticsearch does the same). */
function enrollmentAbort(finding: Finding): SecurenodeError {
  return new SecurenodeError(findingCodes[finding.exitCode], `Aborting enrollment: this node cannot be auto-configured to join a cluster because ${finding.reason}; nothing was sent to the cluster`);
}

/** A joining node takes the cluster's name; one set to another name could never talk to it (Elasticsearch #85924). */
function checkClusterName(settings: Settings, joining: ReceivedNodeEnrollment): void {
  const own = settings.string('cluster.name');
  if (settings.isSet('cluster.name') && own !== joining.clusterName) {
    throw new SecurenodeError(
      'ERR_PREFLIGHT_CONFIG',
      `Aborting enrollment: cluster.name is [${own}] on this node, but the cluster at ${joining.address} is [${joining.clusterName}]; remove cluster.name here (enrollment writes the cluster's) or set it to [${joining.clusterName}]; nothing was written`,
    );
  }
}

async function openHomeKeystore(path: string, password: string): Promise<Keystore | undefined> {
  return (await Keystore.exists(path)) ? Keystore.load(path, password) : undefined;
}

/**
 * Secure a node's home on its first start, as Elasticsearch does (SPEC 4): when
 * the twelve checks find the node new, generate its CAs and certificates, store
 * their passwords in the keystore and append the settings block to
 * securenode.yml, as one crash-safe transaction. Prints nothing; returns what
 * happened and the TLS material, so that any Node.js server can use it.
 */
export async function autoConfigure(options: AutoConfigureOptions = {}): Promise<AutoConfigureResult> {
  const env = options.env ?? process.env;
  const home = resolveHome(options.home, env);
  await ensureHome(homePaths(home));
  // Settings as written (vault references kept) and resolved (in memory only, SPEC 8), each reference read once.
  const memo = new Map<string, string>();
  const load = async (): Promise<{ raw: Settings; settings: Settings; paths: HomePaths }> => {
    const raw = await loadSettings({ configFile: homePaths(home).configFile, env, overrides: options.overrides ?? [] });
    const settings = await resolveVaultReferences(raw, { env, memo, ...(options.fetch ? { fetch: options.fetch } : {}) });
    return { raw, settings, paths: homePaths(home, { data: settings.string('path.data'), logs: settings.string('path.logs') }) };
  };
  let { raw, settings, paths } = await load();
  const releaseLock = await acquireLock(paths.dataDir);
  let succeeded = false;
  try {
    options.onProgress?.('checking');
    const recovery = await recoverJournal(paths);
    if (recovery === 'completed') ({ raw, settings, paths } = await load());
    const keystorePassword = options.keystorePassword ?? env.SECURENODE_KEYSTORE_PASSWORD ?? '';
    const facts = await gatherFileFacts(paths, settings);
    let finding = firstFinding(facts);
    let keystore: Keystore | undefined;
    if (!finding) {
      keystore = await openHomeKeystore(paths.keystoreFile, keystorePassword);
      finding = firstFinding({ ...facts, configDirProbe: await probeConfigDir(paths.configDir), keystoreTlsPasswords: keystoreTlsPasswords(keystore) });
    }
    const lock = options.keepLock ? { releaseLock } : {};
    if (finding) {
      if (options.enrollment) throw enrollmentAbort(finding);
      keystore ??= facts.keystore.kind === 'regular' && facts.keystore.readable ? await openHomeKeystore(paths.keystoreFile, keystorePassword) : undefined;
      const tls = await loadTlsFiles(paths, settings, keystore);
      succeeded = true;
      return { kind: 'skipped', finding, paths, settings, rawSettings: raw, keystore, keystorePassword, tls, recovery, ...lock };
    }

    // The cluster is reached, and answers, before any file is touched (SPEC 6).
    if (options.enrollment) options.onProgress?.('enrolling');
    const joining = options.enrollment ? await options.enrollment() : undefined;
    if (joining) checkClusterName(settings, joining);

    options.onProgress?.('generating-keys');
    const publishHosts = [settings.string('network.publish_host'), settings.string('http.publish_host')].filter((host): host is string => host !== undefined);
    const tlsOptions = {
      nodeName: settings.string('node.name')!,
      subjectAltNames: discoverSubjectAltNames({ publishHosts }),
      keyType: settings.string('security.autoconfiguration.key_type') as 'ec' | 'rsa',
      leafKeySize: settings.number('security.autoconfiguration.leaf_key_size')!,
      ...(options.generateKeyPair ? { generateKeyPair: options.generateKeyPair } : {}),
    };
    const material = joining ? await joiningTlsMaterial({ ...tlsOptions, received: joining.tls }) : await generateTlsMaterial(tlsOptions);

    options.onProgress?.('writing-configuration');
    // With node.group, the group may read the secrets (0640); otherwise only the owner (0600).
    const secretMode = settings.isSet('node.group') ? 0o640 : 0o600;
    const store = keystore ?? new Keystore();
    store.setString(tlsPasswordSettings.http, material.passwords.http);
    store.setString(tlsPasswordSettings.transportKeystore, material.passwords.transport);
    store.setString(tlsPasswordSettings.transportTruststore, material.passwords.transport);
    const block = renderConfigBlock({
      // A node.name given as a reference is written as the reference: no resolved value reaches the file.
      nodeName: raw.string('node.name')!,
      generatedAt: new Date(),
      enrollmentDisabled: settings.bool('security.enrollment.enabled') === false && settings.isSet('security.enrollment.enabled'),
      cluster: joining
        ? { kind: 'join', seedHosts: joining.nodesAddresses, ...(settings.isSet('cluster.name') ? {} : { clusterName: joining.clusterName }) }
        : { kind: 'new' },
      hostConfigured: isAnyHttpHostSet(settings),
    });
    await applyConfiguration(
      paths,
      {
        certs: [
          { name: 'http_ca.crt', data: material.httpCaPem, mode: 0o640 },
          { name: 'http.p12', data: material.httpP12, mode: secretMode },
          { name: 'transport.p12', data: material.transportP12, mode: secretMode },
        ],
        keystore: store,
        keystorePassword,
        keystoreMode: secretMode,
        configText: appendConfigBlock(await readFile(paths.configFile, 'utf8'), block),
      },
      options.afterStep,
    );
    ({ raw, settings, paths } = await load());
    const tls: TlsFiles = {
      httpP12: material.httpP12,
      httpP12Password: material.passwords.http,
      transportP12: material.transportP12,
      transportP12Password: material.passwords.transport,
      httpCaPem: material.httpCaPem,
      httpCaFingerprint: material.httpCaFingerprint,
      transportCaPem: material.transportCaPem,
      httpCertificatePem: material.httpCertificatePem,
    };
    succeeded = true;
    const joined = joining ? { joined: { clusterUuid: joining.clusterUuid, address: joining.address } } : {};
    return { kind: 'configured', paths, settings, rawSettings: raw, keystore: store, keystorePassword, tls, recovery, ...joined, ...lock };
  } finally {
    if (!options.keepLock || !succeeded) await releaseLock();
  }
}
